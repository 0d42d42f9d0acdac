//! VGG16 and VGG19, as `keras.applications` builds them.

use super::options::{app_option_builders, AppOptions};
use crate::error::Result;
use crate::layers::{Conv2D, Dense, Flatten, MaxPooling2D};
use crate::model::{Call, KerasTensor, Model};

/// Keras's `keras.applications.VGG16` and `VGG19`: five blocks of 3x3 convolutions and max
/// pooling (`block1_conv1`, ..., `block5_pool`), then with the top `flatten`, `fc1`, `fc2`
/// (4096 units each) and `predictions`. Inputs are preprocessed by
/// [`preprocess_input_caffe`](super::preprocess_input_caffe).
///
/// ```
/// use rkeras::applications::Vgg;
/// let m = Vgg::vgg16().input_shape((32, 32, 3)).include_top(false).pooling("max").build()?;
/// assert_eq!(m.name(), "vgg16");
/// assert_eq!(m.output_shape(), Some(&[512][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Vgg {
    opts: AppOptions,
    convs: [usize; 5],
    name: &'static str,
}

app_option_builders!(Vgg);

impl Vgg {
    /// `keras.applications.VGG16`.
    pub fn vgg16() -> Self {
        Vgg {
            opts: AppOptions::default(),
            convs: [2, 2, 3, 3, 3],
            name: "vgg16",
        }
    }
    /// `keras.applications.VGG19`.
    pub fn vgg19() -> Self {
        Vgg {
            opts: AppOptions::default(),
            convs: [2, 2, 4, 4, 4],
            name: "vgg19",
        }
    }

    /// Builds the model (and loads `weights`).
    ///
    /// # Errors
    /// A side under 32, channels other than 3, a pooling other than avg/max, zero classes,
    /// or a weight file that does not fit (naming the layer).
    pub fn build(&self) -> Result<Model> {
        let input = self.opts.input();
        let x = self.call(&input)?;
        self.opts.finish(&input, &x, self.name)
    }

    /// The network's layers called on `input`, for a model of your own around it;
    /// `weights` is not applied here.
    ///
    /// # Errors
    /// As [`build`](Self::build), for the input's shape.
    pub fn call(&self, input: &KerasTensor) -> Result<KerasTensor> {
        self.opts.check(self.name, input, 32)?;
        let mut x = input.clone();
        for (b, (&convs, filters)) in self.convs.iter().zip([64, 128, 256, 512, 512]).enumerate() {
            for k in 1..=convs {
                x = Conv2D::new(filters, 3)
                    .activation("relu")
                    .padding("same")
                    .name(format!("block{}_conv{k}", b + 1))
                    .call(&x)?;
            }
            x = MaxPooling2D::new(2)
                .strides(2)
                .name(format!("block{}_pool", b + 1))
                .call(&x)?;
        }
        if !self.opts.include_top {
            return self.opts.pooling_only(&x, None, None);
        }
        x = Flatten::new().name("flatten").call(&x)?;
        x = Dense::new(4096).activation("relu").name("fc1").call(&x)?;
        x = Dense::new(4096).activation("relu").name("fc2").call(&x)?;
        self.opts.classifier(&x)
    }
}
