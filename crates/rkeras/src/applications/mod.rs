//! keras.applications' architectures, built layer for layer as Keras builds them (the same
//! layer names, so Keras's weight files load by name), with their `preprocess_input`.
//!
//! So far: [`MobileNet`], [`MobileNetV2`], [`ResNet`] (ResNet50/101/152 and their V2),
//! [`DenseNet`] (121, 169, 201), [`Vgg`] (VGG16, VGG19), [`EfficientNet`] (B0 to B7) and
//! [`MobileNetV3`] (Small, Large), [`Xception`], [`InceptionV3`],
//! [`ConvNeXt`] (Tiny, Small, Base, Large, XLarge), [`InceptionResNetV2`],
//! [`EfficientNetV2`] (B0 to B3, S, M, L), [`NASNet`] (Mobile, Large), with
//! `preprocess_input` per family ([`preprocess_input`]).
//! Other Keras-made applications load from their `.keras` files or architecture JSON
//! (`rkeras::saving`); see the README.

mod convnext;
mod densenet;
mod efficientnet;
mod efficientnet_v2;
mod inception_resnet_v2;
mod inception_v3;
mod mobilenet;
mod mobilenet_v2;
mod mobilenet_v3;
mod nasnet;
mod options;
mod resnet;
mod vgg;
mod xception;

pub use convnext::{preprocess_input_convnext, ConvNeXt};
pub use densenet::DenseNet;
pub use efficientnet::{preprocess_input_efficientnet, EfficientNet};
pub use efficientnet_v2::{preprocess_input_efficientnet_v2, EfficientNetV2};
pub use inception_resnet_v2::InceptionResNetV2;
pub use inception_v3::InceptionV3;
pub use mobilenet::MobileNet;
pub use mobilenet_v2::{preprocess_input_mobilenet_v2, MobileNetV2};
pub use mobilenet_v3::{preprocess_input_mobilenet_v3, MobileNetV3};
pub use nasnet::NASNet;
pub use options::{
    preprocess_input, preprocess_input_caffe, preprocess_input_caffe_layers, preprocess_input_tf,
    preprocess_input_torch,
};
pub use resnet::ResNet;
pub use vgg::Vgg;
pub use xception::Xception;

/// Keras's `_make_divisible`: `v` rounded to a multiple of `divisor` (at least `divisor`),
/// never more than 10 % below `v`.
pub(crate) fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let mut new_v = (((v + d / 2.0) as usize) / divisor * divisor).max(divisor);
    if (new_v as f64) < 0.9 * v {
        new_v += divisor;
    }
    new_v
}

/// Keras's `imagenet_utils.correct_pad`: the zero padding before a stride-2 `valid`
/// convolution with a `kernel`x`kernel` window on an `h`x`w` image.
pub(crate) fn correct_pad(h: usize, w: usize, kernel: usize) -> ((usize, usize), (usize, usize)) {
    let c = kernel / 2;
    let (ah, aw) = (1 - h % 2, 1 - w % 2);
    ((c - ah, c), (c - aw, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_rounding_and_padding() {
        // _make_divisible(32 * 0.35, 8) = 16; (16 * 0.35) -> 8; (320 * 1.4) -> 448.
        assert_eq!(make_divisible(32.0 * 0.35, 8), 16);
        assert_eq!(make_divisible((16.0f64 * 0.35).trunc(), 8), 8);
        assert_eq!(make_divisible(448.0, 8), 448);
        assert_eq!(make_divisible(11.0, 8), 16);
        assert_eq!(correct_pad(32, 32, 3), ((0, 1), (0, 1)));
        assert_eq!(correct_pad(33, 31, 3), ((1, 1), (1, 1)));
    }
}
