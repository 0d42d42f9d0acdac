//! `Sequential`: a plain stack of layers, each taking the previous one's output.

use super::graph::Chain;
use super::{Call, Input, Model};
use crate::error::{Error, Result};
use crate::layers::{snake_case, unique_name, Layer};
use std::collections::HashSet;

/// Builds a [`Model`] from a list of layers (Keras `keras.Sequential([...])`).
///
/// The input shape comes from an [`InputLayer`](crate::layers::InputLayer) first, or from
/// `.input_shape(...)` on the first layer; the model is then built at once and every shape
/// error names the layer. Without one, it is built at the first `fit` or `predict`.
///
/// ```
/// use rkeras::prelude::*;
/// let model = Sequential::new([
///     Conv2D::new(32, (3, 3)).activation("relu").input_shape((64, 64, 3)).into(),
///     MaxPooling2D::new((2, 2)).into(),
///     Flatten::new().into(),
///     Dense::new(10).activation("softmax").into(),
/// ])?;
/// assert_eq!(model.output_shape(), Some(&[10][..]));
/// assert_eq!(model.layers()[0].name(), "conv2d");
/// # Ok::<(), rkeras::Error>(())
/// ```
pub struct Sequential;

impl Sequential {
    /// A sequential model from layers (converted with `.into()`).
    ///
    /// # Errors
    /// A layer that cannot take the previous output (naming it, with both shapes), a bad
    /// argument, or a layer name used twice.
    #[allow(clippy::new_ret_no_self)]
    pub fn new<I: IntoIterator<Item = Box<dyn Layer>>>(layers: I) -> Result<Model> {
        let mut layers: Vec<Box<dyn Layer>> = layers.into_iter().collect();
        if layers.iter_mut().any(|l| l.as_nested().is_some()) {
            return Sequential::holding_models(layers, &unique_name("sequential"));
        }
        let mut input_shape = None;
        if layers
            .first()
            .is_some_and(|l| l.class_name() == "InputLayer")
        {
            let il = layers.remove(0);
            input_shape = il.base().input_shape.clone();
        } else if let Some(first) = layers.first() {
            input_shape = first.base().input_shape.clone();
        }
        // The GEMM set-up overlaps the rest of building (or loading) the model.
        rkeras_kernels::gemm::warm_up_in_background();
        let mut model = Model {
            name: unique_name("sequential"),
            chain: Chain::default(),
            compiled: None,
            seed: crate::rng::next_seed(),
            stop_training: false,
            resume_epoch: None,
            class_names: None,
            graph: None,
        };
        for l in layers {
            model.push(l)?;
        }
        if let Some(shape) = input_shape {
            model.build(&shape)?;
        }
        Ok(model)
    }

    /// Like [`Sequential::new`] with an explicit model name.
    ///
    /// # Errors
    /// As [`Sequential::new`].
    pub fn with_name<I: IntoIterator<Item = Box<dyn Layer>>>(
        name: &str,
        layers: I,
    ) -> Result<Model> {
        let mut m = Sequential::new(layers)?;
        m.name = name.into();
        Ok(m)
    }

    /// A Sequential model with models among its layers: run on the graph executor (each
    /// entry reads the one before), shown and saved as Keras's Sequential.
    fn holding_models(mut layers: Vec<Box<dyn Layer>>, name: &str) -> Result<Model> {
        let mut shape = None;
        if layers
            .first()
            .is_some_and(|l| l.class_name() == "InputLayer")
        {
            shape = layers.remove(0).base().input_shape.clone();
        } else if let Some(first) = layers.first() {
            shape = first.base().input_shape.clone();
        }
        let shape = shape.ok_or_else(|| {
            Error::arg(
                "input_shape",
                name,
                "a Sequential model that holds another model needs its input shape: an InputLayer first, or input_shape on the first layer",
            )
        })?;
        let inputs = Input::named(shape, &unique_name("input_layer"));
        let mut x = inputs.clone();
        for l in layers {
            x = l.call(&x)?;
        }
        let mut m = Model::functional_named(&inputs, &x, name)?;
        if let Some(g) = m.graph.as_mut() {
            g.sequential = true;
        }
        Ok(m)
    }
}

impl Model {
    fn push(&mut self, mut layer: Box<dyn Layer>) -> Result<()> {
        if layer.base().name.is_none() {
            layer.base_mut().name = Some(unique_name(&snake_case(layer.class_name())));
        }
        let taken: HashSet<&str> = self.chain.layers.iter().map(|l| l.name()).collect();
        if taken.contains(layer.name()) {
            return Err(Error::arg(
                "name",
                "",
                format!("all layers added to a Sequential model should have unique names; \"{}\" is already used", layer.name()),
            ));
        }
        self.chain.layers.push(layer);
        Ok(())
    }

    /// Appends a layer (Keras `model.add`); a built model is rebuilt (weights redrawn).
    ///
    /// # Errors
    /// As [`Sequential::new`].
    pub fn add(&mut self, layer: impl Into<Box<dyn Layer>>) -> Result<()> {
        let mut layer: Box<dyn Layer> = layer.into();
        if layer.as_nested().is_some() || self.is_functional() {
            return Err(Error::State(format!(
                "model \"{}\": a model among the layers (or a functional model) takes no add(); give Sequential::new the whole list of layers and models",
                self.name
            )));
        }
        if self.chain.layers.is_empty() && !self.chain.built {
            if let Some(s) = layer.base().input_shape.clone() {
                if layer.class_name() == "InputLayer" {
                    return self.build(&s);
                }
                self.push(layer)?;
                return self.build(&s);
            }
        }
        self.push(layer)?;
        if let Some(s) = self.chain.input_shape.clone() {
            self.build(&s)?;
        }
        Ok(())
    }
}
