//! Layers: the [`Layer`] trait every layer implements, shared builder plumbing, and one
//! file per layer (Keras config keys and defaults in each).
//!
//! A layer is built once for a per-sample input shape (weights created, geometry computed),
//! then [`Layer::allocate`] sizes its per-batch buffers; forward and backward never allocate.

use crate::error::Result;
use crate::rng::Rng;
use rkeras_kernels::{Act, Scratch};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;

mod activation;
mod aug_mix;
mod auto_contrast;
mod average_pooling2d;
mod batch_normalization;
mod center_crop;
mod concatenate;
mod conv2d;
mod conv2d_transpose;
mod cropping2d;
mod custom_scale_layer;
mod dense;
mod depthwise_conv2d;
mod dropout;
mod elu;
mod equalization;
mod flatten;
mod get_item;
mod global_average_pooling2d;
mod global_max_pooling2d;
mod group_normalization;
mod input_layer;
mod keras_op;
mod layer_normalization;
mod layer_scale;
mod leaky_relu;
mod max_pooling2d;
mod merge;
mod mix_up;
mod normalization;
mod permute;
mod prelu;
mod rand_augment;
mod random_brightness;
mod random_color_degeneration;
mod random_color_jitter;
mod random_contrast;
mod random_crop;
mod random_erasing;
mod random_flip;
mod random_gaussian_blur;
mod random_grayscale;
mod random_hue;
mod random_image;
mod random_invert;
mod random_perspective;
mod random_posterization;
mod random_rotation;
mod random_saturation;
mod random_sharpness;
mod random_shear;
mod random_translation;
mod random_zoom;
pub mod registry;
mod relu;
mod rescaling;
mod reshape;
mod resizing;
mod separable_conv2d;
mod softmax;
mod solarization;
mod spatial_dropout2d;
mod stack;
#[cfg(test)]
pub(crate) mod testing;
mod unit_normalization;
mod up_sampling2d;
mod weight_options;
mod zero_padding2d;

pub use get_item::{GetItem, KeyItem};
pub(crate) use keras_op::{op_from_call, tensor_refs};
pub use keras_op::{ArithOp, KerasOp};
pub use random_gaussian_blur::KernelSize;
pub use random_image::FactorArg;
pub use stack::Stack;
pub use zero_padding2d::IntoSides;

/// Registers the layer files' Keras classes: each line `file: Class, ...;` re-exports the
/// module's classes (also through [`classes`], which the prelude takes) and lists each class
/// for [`registry::from_config`] (read by its [`FromConfig`](registry::FromConfig) impl,
/// beside the layer). A new layer is its file, its `mod` line above (kept out of the macro so
/// that rustfmt sees the file) and one line here.
macro_rules! layer_files {
    ($($file:ident: $($class:ident),+;)*) => {
        $(pub use $file::{$($class),+};)*
        /// Every layer class, for glob imports (`use rkeras::layers::classes::*`).
        pub mod classes {
            pub use super::{$($($class),+),*};
        }
        /// The Keras classes of the layer files, in the order above.
        const REGISTERED_CLASSES: &[&str] = &[$($(stringify!($class)),+),*];
        /// Each class with its reader.
        const REGISTRY: &[(&str, registry::Reader)] =
            &[$($((stringify!($class), registry::read::<$class>)),+),*];
    };
}

layer_files! {
    input_layer: InputLayer;
    conv2d: Conv2D;
    conv2d_transpose: Conv2DTranspose;
    depthwise_conv2d: DepthwiseConv2D;
    separable_conv2d: SeparableConv2D;
    dense: Dense;
    max_pooling2d: MaxPooling2D;
    average_pooling2d: AveragePooling2D;
    flatten: Flatten;
    dropout: Dropout;
    activation: Activation;
    relu: ReLU;
    leaky_relu: LeakyReLU;
    elu: ELU;
    softmax: Softmax;
    prelu: PReLU;
    rescaling: Rescaling;
    resizing: Resizing;
    center_crop: CenterCrop;
    random_flip: RandomFlip;
    random_rotation: RandomRotation;
    random_zoom: RandomZoom;
    random_translation: RandomTranslation;
    random_contrast: RandomContrast;
    random_brightness: RandomBrightness;
    random_crop: RandomCrop;
    random_grayscale: RandomGrayscale;
    random_hue: RandomHue;
    random_saturation: RandomSaturation;
    random_color_jitter: RandomColorJitter;
    random_color_degeneration: RandomColorDegeneration;
    random_sharpness: RandomSharpness;
    random_invert: RandomInvert;
    random_posterization: RandomPosterization;
    solarization: Solarization;
    auto_contrast: AutoContrast;
    equalization: Equalization;
    mix_up: MixUp, CutMix;
    rand_augment: RandAugment;
    aug_mix: AugMix;
    random_shear: RandomShear;
    random_perspective: RandomPerspective;
    random_erasing: RandomErasing;
    random_gaussian_blur: RandomGaussianBlur;
    batch_normalization: BatchNormalization;
    layer_normalization: LayerNormalization;
    normalization: Normalization;
    unit_normalization: UnitNormalization;
    group_normalization: GroupNormalization;
    global_average_pooling2d: GlobalAveragePooling2D;
    global_max_pooling2d: GlobalMaxPooling2D;
    zero_padding2d: ZeroPadding2D;
    cropping2d: Cropping2D;
    up_sampling2d: UpSampling2D;
    reshape: Reshape;
    permute: Permute;
    spatial_dropout2d: SpatialDropout2D;
    merge: Add, Subtract, Multiply, Average, Maximum, Minimum;
    concatenate: Concatenate;
    layer_scale: LayerScale;
    custom_scale_layer: CustomScaleLayer;
}

/// Whether a call is training (dropout and augmentation active) or inference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `training=True` in Keras.
    Train,
    /// `training=False`.
    Infer,
}

/// A weight of a layer, with its gradient.
#[derive(Clone, Debug)]
pub struct Param {
    /// Keras variable name (`kernel`, `bias`).
    pub name: &'static str,
    /// Shape (HWIO for conv kernels, `(in, out)` for dense kernels).
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub value: Vec<f32>,
    /// Gradient of the loss, same layout (accumulated by backward).
    pub grad: Vec<f32>,
    /// Updated by the optimizer.
    pub trainable: bool,
}

impl Param {
    pub(crate) fn new(name: &'static str, shape: Vec<usize>, value: Vec<f32>) -> Self {
        let n = value.len();
        Param {
            name,
            shape,
            value,
            grad: vec![0.0; n],
            trainable: true,
        }
    }

    /// Takes `v` (as many values, checked by the caller) as the values: moved, not copied,
    /// so a model read from a file holds each weight once (ResNet50: 100 MB less to write).
    pub(crate) fn take_values(&mut self, v: Vec<f32>) {
        debug_assert_eq!(v.len(), self.value.len());
        if v.len() == self.value.len() {
            self.value = v;
        } else {
            let n = v.len().min(self.value.len());
            self.value[..n].copy_from_slice(&v[..n]);
        }
    }

    /// A weight of `shape` drawn from `init`, for layer `layer`.
    ///
    /// # Errors
    /// [`Error::Memory`](crate::Error::Memory) when the weight (and its gradient) would not
    /// fit in memory: a shape from a hostile or mistaken config.
    pub(crate) fn init(
        layer: &str,
        name: &'static str,
        shape: Vec<usize>,
        init: &crate::init::Initializer,
        rng: &mut Rng,
    ) -> Result<Self> {
        let what =
            || format!("the {name} of layer \"{layer}\" (shape {shape:?}, with its gradient)");
        let n = crate::budget::elements(&shape);
        crate::budget::check(what, n.and_then(|n| n.checked_mul(2)), 4)?;
        let mut value = crate::budget::zeros(what, n.unwrap_or(0))?;
        if !crate::init::fill_skipped() {
            init.try_fill(&shape, &mut value, rng).map_err(|e| {
                crate::Error::arg(&format!("{name}_initializer"), layer, e.to_string())
            })?;
        }
        Ok(Param::new(name, shape, value))
    }
}

/// What the backward pass of one call needs to know.
#[derive(Clone, Copy, Debug)]
pub struct Backward {
    /// Samples in this batch.
    pub n: usize,
    /// The incoming gradient is already the gradient of the pre-activation (the loss fused
    /// the output activation, e.g. softmax + cross-entropy).
    pub skip_activation: bool,
    /// `dx` already holds a gradient (its input has other readers) and the layer adds its
    /// own to it; set only for layers whose
    /// [`accumulates_input_grad`](Layer::accumulates_input_grad) is true.
    pub accumulate: bool,
}

/// A copy of a layer as a new boxed layer: what a shared layer's later calls and the
/// per-group copies of sample groups run on. Every `Clone` layer has it; a layer that
/// cannot be copied implements it with an error that says why.
pub trait LayerCopy {
    /// A copy of this layer, configuration and state alike (it is rebuilt before use).
    ///
    /// # Errors
    /// A layer that cannot be copied (a nested model).
    fn copy_layer(&self) -> Result<Box<dyn Layer>>;
}

impl<T: Layer + Clone + 'static> LayerCopy for T {
    fn copy_layer(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(self.clone()))
    }
}

/// A layer of a model.
///
/// Implement it for a custom layer (derive `Clone` too, which gives [`LayerCopy`]);
/// built-in layers are the types of this module.
pub trait Layer: LayerCopy + Send + std::fmt::Debug {
    /// Keras class name (`Conv2D`).
    fn class_name(&self) -> &'static str;
    /// Shared settings (name, declared input shape, trainable).
    fn base(&self) -> &LayerBase;
    /// Shared settings, mutable.
    fn base_mut(&mut self) -> &mut LayerBase;
    /// Validates the configuration against the per-sample input shape, creates the weights
    /// and returns the per-sample output shape.
    ///
    /// # Errors
    /// A bad argument or an input shape the layer cannot take; the error names the layer.
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>>;
    /// Sizes per-batch buffers for batches of up to `max_batch` samples.
    fn allocate(&mut self, _max_batch: usize) {}
    /// Takes `pool` as the layer's scratch, so that the layers of a model, which run one at
    /// a time, hold scratch for the largest of them only (a layer without scratch ignores
    /// it). Called before [`allocate`](Layer::allocate), which grows the pool as needed.
    fn share_scratch(&mut self, _pool: &Scratch) {}
    /// Computes `y` from `x` for a batch of `n` (slices hold exactly `n` samples).
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, mode: Mode);
    /// Given `dy` (overwritten freely), writes `dx` when asked and accumulates parameter
    /// gradients. Called after a `Mode::Train` forward of the same batch.
    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        ctx: Backward,
    );
    /// True when the layer computes each sample from that sample alone, draws no random
    /// numbers and keeps no state across samples, so that a copy of it
    /// ([`LayerCopy::copy_layer`], rebuilt for its input) may run a slice of the batch while other copies
    /// run the rest. Sequential models run runs of such layers by groups of samples, side by
    /// side (see [`crate::Model::set_sample_groups`]); a layer whose copy cannot be made
    /// runs layer at a time.
    fn per_sample(&self) -> bool {
        false
    }
    /// Weights (empty for weightless layers).
    fn params(&self) -> &[Param] {
        &[]
    }
    /// The pooling geometry, when this layer is a max pooling that the layer before it may
    /// compute as part of its own passes (see [`Layer::absorb_max_pool`]).
    fn max_pool_geom(&self) -> Option<rkeras_kernels::Pool2dGeom> {
        None
    }
    /// Asks the layer to compute the max pooling `pool` that reads its output as part of its
    /// own forward and backward passes (`None`: stop doing so), and returns whether it does.
    /// While it does, `forward` writes the *pooled* output and `backward` receives the pooled
    /// output and its gradient; the model skips the pooling layer. Convolutions with a ReLU
    /// or no activation do this so that their full-size output never goes to memory.
    fn absorb_max_pool(&mut self, _pool: Option<rkeras_kernels::Pool2dGeom>) -> bool {
        false
    }
    /// Weights, mutable.
    fn params_mut(&mut self) -> &mut [Param] {
        &mut []
    }
    /// The layer-specific keys of Keras's `get_config()`.
    fn config(&self) -> Map<String, Value>;
    /// The whole Keras config, for the few layers whose `get_config` departs from the usual
    /// `name`, `trainable`, `dtype` + own keys ([`full_config`] uses it as is).
    fn full_config_override(&self) -> Option<Map<String, Value>> {
        None
    }
    /// The output activation, when the layer has one (used to fuse softmax + cross-entropy).
    fn activation(&self) -> Option<Act> {
        None
    }
    /// Restarts the layer's random stream for `epoch` (dropout masks, augmentation draws), so
    /// a run resumed at an epoch draws what an uninterrupted run would.
    fn reseed(&mut self, _epoch: u64) {}
    /// A training step in which this replica computes no rows (a data-parallel batch with
    /// fewer samples than ranks): do what the forward pass of a step does besides computing,
    /// so the replica stays in step with the others: advance the layer's random stream,
    /// join the collectives of synchronized statistics.
    fn idle_forward(&mut self) {}
    /// The backward pass's part of [`idle_forward`](Self::idle_forward).
    fn idle_backward(&mut self) {}
    /// False for layers whose backward pass rkeras does not implement (resizing and
    /// cropping); they must come before every trainable layer.
    fn differentiable(&self) -> bool {
        true
    }
    /// Adds the gradients of the layer's weight penalties (kernel_regularizer) to its
    /// weights' gradients and returns the penalty, which `fit` adds to the loss.
    fn regularize(&mut self) -> f64 {
        0.0
    }
    /// Applies the layer's weight constraints (kernel_constraint, bias_constraint) after an
    /// optimizer update.
    fn constrain(&mut self) {}
    /// The penalty alone, as [`regularize`](Self::regularize) adds it to the loss.
    fn regularization_loss(&self) -> f64 {
        0.0
    }
    /// True for merge layers (`Add`, `Concatenate`, ...), which take several inputs through
    /// [`build_merge`](Self::build_merge), [`forward_merge`](Self::forward_merge) and
    /// [`backward_merge`](Self::backward_merge) instead of `build`, `forward`, `backward`.
    /// The Python module Keras saves the class under: `keras.layers` for Keras's layers;
    /// keras.applications' own layers (`LayerScale`, `CustomScaleLayer`) name theirs, and
    /// are saved with a `registered_name`.
    fn module(&self) -> &'static str {
        "keras.layers"
    }
    /// For a Keras 3 operation saved as a layer ([`KerasOp`]): its module and the positional
    /// arguments of a call around the call's input tensors, as Keras writes them.
    fn op_call(&self, _tensors: &[Value]) -> Option<(&'static str, Value)> {
        None
    }
    fn is_merge(&self) -> bool {
        false
    }
    /// Whether [`forward_folded`](Layer::forward_folded) can run this layer (a
    /// convolution with no activation of its own).
    fn folds_affine(&self) -> bool {
        false
    }
    /// Inference only: this layer's output mapped by the per-channel `y = a z + b` of the
    /// `BatchNormalization` that follows it (`fold = (a, b)`), then `act`, written to `y`:
    /// the two (or three) layers in one pass. `false` when the layer cannot
    /// ([`folds_affine`](Layer::folds_affine)); `y` is then untouched.
    fn forward_folded(
        &mut self,
        _x: &[f32],
        _y: &mut [f32],
        _n: usize,
        _fold: (&[f32], &[f32]),
        _act: rkeras_kernels::Act,
    ) -> bool {
        false
    }
    /// Inference only: as [`forward_folded`](Layer::forward_folded), with `residual` (the
    /// other input of the `Add` that alone reads the normalization's output, `n` samples of
    /// this layer's output shape) added before `act`: a residual block's last convolution,
    /// normalization, sum and activation in one pass. `false` when the layer cannot (only a
    /// 1x1, stride-1 `Conv2D` can); `y` is then untouched.
    fn forward_folded_residual(
        &mut self,
        _x: &[f32],
        _y: &mut [f32],
        _n: usize,
        _fold: (&[f32], &[f32]),
        _residual: &[f32],
        _act: rkeras_kernels::Act,
    ) -> bool {
        false
    }
    /// A `BatchNormalization`'s inference map `(a, b)`, `y = a x + b` per channel, from its
    /// moving statistics; `None` for other layers.
    fn inference_affine(&mut self) -> Option<(&[f32], &[f32])> {
        None
    }
    /// A merge whose every input gradient is its output gradient (`Add` of inputs of one
    /// shape): models then write that gradient straight into its inputs' gradients.
    fn passes_gradient(&self) -> bool {
        false
    }
    /// Builds a merge layer for the per-sample shapes of its inputs.
    ///
    /// # Errors
    /// Incompatible shapes (named); a single-input layer always errs here.
    fn build_merge(&mut self, shapes: &[Vec<usize>], _rng: &mut Rng) -> Result<Vec<usize>> {
        Err(crate::Error::State(format!(
            "layer \"{}\" ({}) takes one input, it was given {}",
            self.name(),
            self.class_name(),
            shapes.len()
        )))
    }
    /// Computes a merge layer's output from its inputs (each `n` samples).
    fn forward_merge(&mut self, _xs: &[&[f32]], _y: &mut [f32], _n: usize) {}
    /// Inference only: a merge's output with the element-wise `act` of the activation layer
    /// that alone reads it applied in the same pass. `false` when this merge cannot (it
    /// broadcasts, or is not a merge); `y` is then untouched.
    fn forward_merge_act(
        &mut self,
        _xs: &[&[f32]],
        _y: &mut [f32],
        _n: usize,
        _act: rkeras_kernels::Act,
    ) -> bool {
        false
    }
    /// The layer's backward pass for a batch of `n` can *add* its input gradient to the one
    /// `dx` holds ([`Backward::accumulate`]): a model then passes the shared gradient of an
    /// input several layers read, with no buffer and pass of its own to add it.
    fn accumulates_input_grad(&self, _n: usize) -> bool {
        false
    }
    /// A merge whose input gradients are pieces of its output gradient (`Concatenate`):
    /// writes each input's piece of `dy` straight into `dxs[i]`, added to what it holds
    /// where `accumulate[i]` (a gradient other readers write too), and returns `true`.
    /// Other layers return `false` with nothing written (models then use
    /// [`backward_merge`](Self::backward_merge) and add its results themselves).
    fn backward_merge_into(
        &mut self,
        _dy: &[f32],
        _dxs: &mut [&mut [f32]],
        _accumulate: &[bool],
        _n: usize,
    ) -> bool {
        false
    }
    /// Training or inference: the layer's output with the element-wise `act` (of the
    /// activation layer that alone reads it) applied in the same pass, written to `y`; the
    /// layer's state is as after [`forward`](Self::forward). `false` when the layer cannot
    /// (only `BatchNormalization` can), and nothing was written.
    fn forward_act(
        &mut self,
        _x: &[f32],
        _y: &mut [f32],
        _n: usize,
        _mode: Mode,
        _act: rkeras_kernels::Act,
    ) -> bool {
        false
    }
    /// The backward pass of [`forward_act`](Self::forward_act): `y` is the activation's
    /// output and `dy` its gradient (overwritten freely), otherwise as
    /// [`backward`](Self::backward); `act`'s derivative needs only its output. `false` when
    /// the layer cannot (only `BatchNormalization` can), and nothing was changed.
    fn backward_act(
        &mut self,
        _x: &[f32],
        _y: &[f32],
        _dy: &mut [f32],
        _dx: Option<&mut [f32]>,
        _ctx: Backward,
        _act: rkeras_kernels::Act,
    ) -> bool {
        false
    }
    /// Writes the gradient of each input of a merge layer into `dxs` (overwriting).
    fn backward_merge(
        &mut self,
        _xs: &[&[f32]],
        _y: &[f32],
        _dy: &[f32],
        _dxs: &mut [&mut [f32]],
        _n: usize,
    ) {
    }
    /// A model waiting to be nested in another ([`crate::model::NestedModel`]); `None` for
    /// every layer.
    fn as_nested(&mut self) -> Option<&mut dyn std::any::Any> {
        None
    }
    /// Layer name (set when added to a model).
    fn name(&self) -> &str {
        self.base().name.as_deref().unwrap_or("")
    }
}

/// Settings every layer has.
#[derive(Clone, Debug)]
pub struct LayerBase {
    /// Name; `None` until the model gives it an automatic Keras name.
    pub name: Option<String>,
    /// `input_shape=` given to the first layer of a Sequential model.
    pub input_shape: Option<Vec<usize>>,
    /// Whether its weights are trained.
    pub trainable: bool,
}

impl Default for LayerBase {
    fn default() -> Self {
        LayerBase {
            name: None,
            input_shape: None,
            trainable: true,
        }
    }
}

impl LayerBase {
    pub(crate) fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("?")
    }
}

/// A full Keras layer config: `name`, `trainable`, `dtype`, then the layer's own keys.
pub fn full_config(layer: &dyn Layer) -> Value {
    let mut m = Map::new();
    if let Some(own) = layer.full_config_override() {
        return Value::Object(own);
    }
    m.insert("name".into(), Value::from(layer.name()));
    m.insert("trainable".into(), Value::from(layer.base().trainable));
    m.insert("dtype".into(), dtype_policy());
    for (k, v) in layer.config() {
        m.insert(k, v);
    }
    Value::Object(m)
}

pub(crate) fn dtype_policy() -> Value {
    serde_json::json!({"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null})
}

/// Keras's `to_snake_case` of a class name: `MaxPooling2D` -> `max_pooling2d`.
pub fn snake_case(class: &str) -> String {
    let c: Vec<char> = class.chars().collect();
    // (.)([A-Z][a-z]+) -> \1_\2
    let mut a = String::new();
    for i in 0..c.len() {
        if i > 0
            && c[i].is_ascii_uppercase()
            && c.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())
        {
            a.push('_');
        }
        a.push(c[i]);
    }
    // ([a-z])([A-Z]) -> \1_\2
    let c: Vec<char> = a.chars().collect();
    let mut b = String::new();
    for i in 0..c.len() {
        if i > 0 && c[i].is_ascii_uppercase() && c[i - 1].is_ascii_lowercase() {
            b.push('_');
        }
        b.push(c[i]);
    }
    b.to_lowercase()
}

thread_local! {
    static UIDS: RefCell<HashMap<String, usize>> = RefCell::new(HashMap::new());
}

/// The next automatic name for `prefix` on this thread: `conv2d`, `conv2d_1`, ... (Keras
/// counts per prefix per session; [`clear_session`] resets).
pub fn unique_name(prefix: &str) -> String {
    UIDS.with(|u| {
        let mut u = u.borrow_mut();
        let k = u.entry(prefix.to_string()).or_insert(0);
        let name = if *k == 0 {
            prefix.to_string()
        } else {
            format!("{prefix}_{k}")
        };
        *k += 1;
        name
    })
}

/// Resets automatic names, like `keras.backend.clear_session()`.
pub fn clear_session() {
    UIDS.with(|u| u.borrow_mut().clear());
}

/// The builder methods every layer has: `name`, `input_shape`, `trainable`.
macro_rules! common_builders {
    ($t:ty) => {
        impl $t {
            /// Sets the layer's name (default: an automatic Keras name).
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.base.name = Some(name.into());
                self
            }
            /// Declares the per-sample input shape (first layer of a Sequential model).
            pub fn input_shape(mut self, shape: impl $crate::shape::IntoShape) -> Self {
                self.base.input_shape = Some(shape.into_shape());
                self
            }
            /// Freezes (`false`) or unfreezes the layer's weights.
            pub fn trainable(mut self, trainable: bool) -> Self {
                self.base.trainable = trainable;
                self
            }
        }
        impl From<$t> for Box<dyn $crate::layers::Layer> {
            fn from(l: $t) -> Self {
                Box::new(l)
            }
        }
    };
}
pub(crate) use common_builders;

/// The `Layer` methods of a weightless layer that applies one activation element-wise (or a
/// softmax over the last axis): `per_sample`, `class_name`, `base`, `base_mut`, `build`,
/// `forward`, `backward` and `activation`. The type has fields `base: LayerBase`, `act: Act`
/// and `last: usize`, and an inherent `fn resolve(&self, input_shape: &[usize]) -> Result<Act>`
/// that `build` calls (its error names the layer).
macro_rules! activation_layer_methods {
    ($class:literal) => {
        fn per_sample(&self) -> bool {
            true
        }
        fn class_name(&self) -> &'static str {
            $class
        }
        fn base(&self) -> &$crate::layers::LayerBase {
            &self.base
        }
        fn base_mut(&mut self) -> &mut $crate::layers::LayerBase {
            &mut self.base
        }
        fn build(
            &mut self,
            input_shape: &[usize],
            _rng: &mut $crate::rng::Rng,
        ) -> $crate::error::Result<Vec<usize>> {
            self.act = self.resolve(input_shape)?;
            self.last = input_shape.last().copied().unwrap_or(1).max(1);
            Ok(input_shape.to_vec())
        }
        fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: $crate::layers::Mode) {
            ::rkeras_kernels::activation::forward_into(self.act, x, y, self.last);
        }
        fn backward(
            &mut self,
            x: &[f32],
            y: &[f32],
            dy: &mut [f32],
            dx: Option<&mut [f32]>,
            ctx: $crate::layers::Backward,
        ) {
            // No weights: nothing to do when no input gradient is wanted; otherwise one pass
            // from the output gradient to the input's.
            let Some(dx) = dx else { return };
            if ctx.skip_activation {
                ::rkeras_kernels::elementwise::copy(dy, dx);
            } else {
                ::rkeras_kernels::activation::backward_into(
                    self.act,
                    Some(x),
                    y,
                    dy,
                    dx,
                    self.last,
                );
            }
        }
        fn activation(&self) -> Option<::rkeras_kernels::Act> {
            Some(self.act)
        }
    };
}
pub(crate) use activation_layer_methods;

/// The `Layer` methods of a layer rkeras does not backpropagate through (resizing and
/// cropping): a zero input gradient, and `differentiable() == false` so that a model placing
/// it after a trainable layer is refused when built.
macro_rules! not_differentiable {
    () => {
        fn backward(
            &mut self,
            _x: &[f32],
            _y: &[f32],
            _dy: &mut [f32],
            dx: Option<&mut [f32]>,
            _ctx: $crate::layers::Backward,
        ) {
            if let Some(dx) = dx {
                dx.fill(0.0);
            }
        }
        fn differentiable(&self) -> bool {
            false
        }
    };
}
pub(crate) use not_differentiable;

/// The `Layer` methods of a layer with weights `params: Vec<Param>` and a fused activation
/// `act: Act`: `params`, `params_mut`, `activation`; given the name of its `WeightOptions`
/// field (`kernel_layer_methods!(weights)`), also `regularize`, `regularization_loss` and
/// `constrain` through it.
macro_rules! kernel_layer_methods {
    ($($weights:ident)?) => {
        fn params(&self) -> &[$crate::layers::Param] {
            &self.params
        }
        fn params_mut(&mut self) -> &mut [$crate::layers::Param] {
            &mut self.params
        }
        fn activation(&self) -> Option<::rkeras_kernels::Act> {
            Some(self.act)
        }
        $($crate::layers::weight_option_methods!($weights);)?
    };
}
pub(crate) use kernel_layer_methods;

/// The `Layer` methods `regularize`, `regularization_loss` and `constrain` of a layer with
/// `params: Vec<Param>`, through its `WeightOptions` field of the given name.
macro_rules! weight_option_methods {
    ($weights:ident) => {
        fn regularize(&mut self) -> f64 {
            self.$weights.regularize(&mut self.params)
        }
        fn regularization_loss(&self) -> f64 {
            self.$weights.penalty(&self.params)
        }
        fn constrain(&mut self) {
            self.$weights.constrain(&mut self.params);
        }
    };
}
pub(crate) use weight_option_methods;

/// Builder methods, invoked inside a layer's own `impl`, that set the field of their name;
/// each is written `/// doc` then `name(arg): kind`, the kind being what it takes: `pair`
/// (`impl IntoPair`), `str` (`&str`), `lowercase` (`&str`, kept lowercased), `init` (a name or
/// an [`Initializer`](crate::init::Initializer)), `bool` or `usize`.
macro_rules! field_setters {
    ($($(#[$doc:meta])* $name:ident($arg:ident): $kind:ident),* $(,)?) => {
        $($crate::layers::field_setters!(@one $(#[$doc])* $name $arg $kind);)*
    };
    (@one $(#[$doc:meta])* $name:ident $arg:ident pair) => {
        $(#[$doc])*
        pub fn $name(mut self, $arg: impl $crate::shape::IntoPair) -> Self {
            self.$name = $crate::shape::IntoPair::into_pair($arg);
            self
        }
    };
    (@one $(#[$doc:meta])* $name:ident $arg:ident str) => {
        $(#[$doc])*
        pub fn $name(mut self, $arg: &str) -> Self {
            self.$name = $arg.into();
            self
        }
    };
    (@one $(#[$doc:meta])* $name:ident $arg:ident init) => {
        $(#[$doc])*
        pub fn $name(mut self, $arg: impl Into<$crate::init::InitArg>) -> Self {
            self.$name = $arg.into();
            self
        }
    };
    (@one $(#[$doc:meta])* $name:ident $arg:ident lowercase) => {
        $(#[$doc])*
        pub fn $name(mut self, $arg: &str) -> Self {
            self.$name = $arg.to_ascii_lowercase();
            self
        }
    };
    (@one $(#[$doc:meta])* $name:ident $arg:ident $t:ident) => {
        $(#[$doc])*
        pub fn $name(mut self, $arg: $t) -> Self {
            self.$name = $arg;
            self
        }
    };
}
pub(crate) use field_setters;

/// The map of a `json!({...})` object literal (layer configs).
pub(crate) fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Resolves the activation and the kernel/bias initializers shared by Conv2D and Dense,
/// naming the layer and argument in errors.
pub(crate) fn resolve_kernel_options(
    layer: &str,
    activation: &str,
    kernel_initializer: &crate::init::InitArg,
    bias_initializer: &crate::init::InitArg,
) -> Result<(Act, crate::init::Initializer, crate::init::Initializer)> {
    let act = crate::activations::parse(activation)
        .map_err(|e| crate::Error::arg("activation", layer, e.to_string()))?;
    let k = kernel_initializer
        .resolve()
        .map_err(|e| crate::Error::arg("kernel_initializer", layer, e.to_string()))?;
    let b = bias_initializer
        .resolve()
        .map_err(|e| crate::Error::arg("bias_initializer", layer, e.to_string()))?;
    Ok((act, k, b))
}

/// Keras's name of an activation argument in a config (`"linear"` for an unknown name, which
/// `build` rejects).
/// A following normalization's inference map `y = a z + b` folded into a convolution with
/// optional `bias`: the per-channel factor `a` and shift `bias * a + b` its epilogue applies
/// ([`Layer::forward_folded`]). Refilled each call; the buffers keep their capacity.
#[derive(Clone, Debug, Default)]
pub(crate) struct FoldMap {
    scale: Vec<f32>,
    shift: Vec<f32>,
}

impl FoldMap {
    /// Sets the map for a layer with `bias` (one value per output channel) followed by the
    /// normalization `(a, b)`.
    pub(crate) fn set(&mut self, bias: Option<&[f32]>, (a, b): (&[f32], &[f32])) {
        self.scale.clear();
        self.scale.extend_from_slice(a);
        self.shift.clear();
        self.shift
            .extend((0..a.len()).map(|o| bias.map_or(0.0, |v| v[o]) * a[o] + b[o]));
    }

    /// The map as the convolution kernels' epilogue takes it.
    pub(crate) fn bias(&self) -> rkeras_kernels::conv2d::Bias<'_> {
        rkeras_kernels::conv2d::Bias::Affine {
            scale: &self.scale,
            shift: &self.shift,
        }
    }
}

pub(crate) fn activation_name(activation: &str) -> &'static str {
    crate::activations::parse(activation)
        .map(crate::activations::name)
        .unwrap_or("linear")
}

/// The config of an initializer argument (`default`'s for an unknown name, which `build`
/// rejects).
pub(crate) fn initializer_config(
    arg: &crate::init::InitArg,
    default: crate::init::Initializer,
) -> Value {
    arg.config_or(default)
}

/// Validates a Keras padding string.
pub(crate) fn parse_padding(p: &str, layer: &str) -> Result<rkeras_kernels::Padding> {
    match p.to_ascii_lowercase().as_str() {
        "valid" => Ok(rkeras_kernels::Padding::Valid),
        "same" => Ok(rkeras_kernels::Padding::Same),
        _ => Err(crate::Error::arg(
            "padding",
            layer,
            format!("expected \"valid\" or \"same\", received \"{p}\""),
        )),
    }
}

/// Keras's refusal of `strides > 1` together with `dilation_rate > 1` (convolutions).
pub(crate) fn check_strided_dilation(
    strides: (usize, usize),
    dilation_rate: (usize, usize),
    layer: &str,
) -> Result<()> {
    if strides.0.max(strides.1) > 1 && dilation_rate.0.max(dilation_rate.1) > 1 {
        return Err(crate::Error::arg(
            "dilation_rate",
            layer,
            format!(
                "`strides > 1` not supported in conjunction with `dilation_rate > 1`, \
                 received strides={strides:?} and dilation_rate={dilation_rate:?}"
            ),
        ));
    }
    Ok(())
}

/// Checks a 2-D size argument is positive.
pub(crate) fn check_pair(arg: &str, (a, b): (usize, usize), layer: &str) -> Result<()> {
    if a == 0 || b == 0 {
        return Err(crate::Error::arg(
            arg,
            layer,
            format!("expected positive integers, received ({a}, {b})"),
        ));
    }
    Ok(())
}

/// `(height, width, channels)` of an image input, or Keras's rank error naming the layer.
pub(crate) fn image_shape(layer: &str, shape: &[usize]) -> Result<(usize, usize, usize)> {
    match *shape {
        [h, w, c] => Ok((h, w, c)),
        _ => Err(rank_error(
            layer,
            &format!("ndim=4, found ndim={}", shape.len() + 1),
            shape,
        )),
    }
}

/// Checks a dropout rate is in `[0, 1)`.
pub(crate) fn check_rate(layer: &str, rate: f32) -> Result<()> {
    if !(0.0..1.0).contains(&rate) || rate.is_nan() {
        return Err(crate::Error::arg(
            "rate",
            layer,
            format!("expected a float in the range [0, 1), received {rate}"),
        ));
    }
    Ok(())
}

/// Error for a wrong input rank.
pub(crate) fn rank_error(layer: &str, want: &str, shape: &[usize]) -> crate::Error {
    crate::Error::IncompatibleShape {
        layer: layer.into(),
        expected: want.into(),
        received: crate::shape::batch_shape_str(shape),
    }
}

/// A copy of `layer` to build anew (a shared layer's later calls, sample groups).
pub(crate) fn twin_of(layer: &dyn Layer) -> crate::Result<Box<dyn Layer>> {
    layer.copy_layer()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn snake_case_matches_keras() {
        assert_eq!(snake_case("Conv2D"), "conv2d");
        assert_eq!(snake_case("MaxPooling2D"), "max_pooling2d");
        assert_eq!(snake_case("BatchNormalization"), "batch_normalization");
        assert_eq!(snake_case("InputLayer"), "input_layer");
        assert_eq!(snake_case("Dense"), "dense");
        assert_eq!(
            snake_case("GlobalAveragePooling2D"),
            "global_average_pooling2d"
        );
    }
    #[test]
    fn unique_names_count_per_prefix() {
        clear_session();
        assert_eq!(unique_name("conv2d"), "conv2d");
        assert_eq!(unique_name("conv2d"), "conv2d_1");
        assert_eq!(unique_name("dense"), "dense");
    }
}
