//! Models used as layers of other models (Keras's nested models): a `Sequential`
//! augmentation block inside a functional model, a backbone called with
//! `training=False`, a functional model as the first entry of a `Sequential`.
//!
//! A nested model's layers run in the outer model's graph, one executor for the whole
//! model, so nothing is copied between models and training is as fast as for a flat
//! model. What makes the nesting visible is kept beside the graph ([`Nest`]): the summary
//! prints a nested model as one row, the config and the weight files keep Keras's tree
//! (`layers/functional/layers/conv2d/vars/0`), and `set_trainable` on the nested model's
//! name freezes all its layers.
//!
//! A nested model called again (through one [`Shared`](super::Shared)) calls its layers
//! again: they become shared layers of the outer graph (one set of weights, gradients
//! summed), and the [`Nest`] records one [`NestCall`] per call (Keras's node indices).

use super::Model;
use crate::error::{Error, Result};
use crate::layers::{Backward, Layer, LayerBase, Mode};
use crate::rng::Rng;
use serde_json::{Map, Value};
use std::rc::Rc;

/// One entry of a nested model's layer list: a layer of the outer model's flat list, or a
/// model nested deeper.
#[derive(Clone, Debug)]
pub(crate) enum Item {
    Layer(usize),
    Nest(Nest),
}

/// A model used as a layer of the model that holds it.
#[derive(Clone, Debug)]
pub(crate) struct Nest {
    /// The nested model's name (its row in the summary, its key in the config).
    pub name: String,
    /// `Sequential` or `Functional`.
    pub class: &'static str,
    /// Its Keras config (`module`, `class_name`, `config`, ...) as it was when nested; the
    /// layers' own configs are refreshed from the live layers when saved.
    pub config: Value,
    /// `training=...` in the call (recorded and saved; the outer mode wins, as in Keras 3).
    pub training: Option<bool>,
    /// Its layers, in its own layer order.
    pub items: Vec<Item>,
    /// For each call in the outer model (top-level nests; a shared nested model has
    /// several, Keras's node indices): the outer model's activations it reads and makes.
    pub calls: Vec<NestCall>,
}

/// One call of a nested model: the outer model's activations it reads and makes.
#[derive(Clone, Debug, Default)]
pub(crate) struct NestCall {
    pub ins: Vec<usize>,
    pub outs: Vec<usize>,
}

impl Nest {
    /// Every layer of the nested model (deeper nests included), in order.
    pub fn layers(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for it in &self.items {
            match it {
                Item::Layer(i) => out.push(*i),
                Item::Nest(n) => out.extend(n.layers()),
            }
        }
        out
    }

    /// The nested model's Keras config entry (without `inbound_nodes`), its layers'
    /// configs taken from the live layers of `model`.
    pub fn config_entry(&self, model: &Model) -> Value {
        let mut entry = self.config.clone();
        let trainable = self
            .layers()
            .iter()
            .any(|&i| model.layers()[i].base().trainable)
            || self.layers().is_empty();
        refresh(&mut entry, self, model, trainable);
        entry
    }
}

/// Writes the live layer configs of `nest` into its config `entry`.
fn refresh(entry: &mut Value, nest: &Nest, model: &Model, trainable: bool) {
    if let Some(c) = entry.get_mut("config").and_then(Value::as_object_mut) {
        c.insert("trainable".into(), Value::from(trainable));
    }
    let Some(list) = entry
        .get_mut("config")
        .and_then(|c| c.get_mut("layers"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for e in list.iter_mut() {
        let name = e
            .get("config")
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for it in &nest.items {
            match it {
                Item::Layer(i) if model.layers()[*i].name() == name => {
                    e["config"] = crate::layers::full_config(model.layers()[*i].as_ref());
                }
                Item::Nest(n) if n.name == name => {
                    let t = n
                        .layers()
                        .iter()
                        .any(|&i| model.layers()[i].base().trainable);
                    refresh(e, n, model, t);
                }
                _ => {}
            }
        }
    }
}

/// A model waiting to become a layer of another: what `model.into()` (or
/// [`Model::as_layer`]) gives, to put a model in [`Sequential::new`](super::Sequential::new)'s
/// list or call it on a symbolic tensor ([`Call::call`](super::Call::call)). Its layers
/// move into the outer model with their weights.
///
/// ```
/// use rkeras::prelude::*;
/// let augment = Sequential::new([
///     RandomFlip::new("horizontal").input_shape((16, 16, 3)).into(),
///     Rescaling::new(1.0 / 255.0).into(),
/// ])?;
/// let inputs = Input::new((16, 16, 3));
/// let x = augment.call(&inputs)?; // the whole block, one row in the summary
/// let x = Conv2D::new(4, 3).activation("relu").call(&x)?;
/// let x = GlobalAveragePooling2D::new().call(&x)?;
/// let outputs = Dense::new(2).activation("softmax").call(&x)?;
/// let model = Model::functional(&inputs, &outputs)?;
/// assert!(model.summary_string(None).contains("(Sequential)"));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Debug)]
pub struct NestedModel {
    base: LayerBase,
    pub(crate) model: Option<Model>,
    pub(crate) training: Option<bool>,
}

impl NestedModel {
    /// Keras's `model(x, training=False)`, recorded in the call and saved with it. As in
    /// Keras 3, the mode of the outer call wins: `fit` runs the nested model in training
    /// mode all the same (keras-team/keras#20285), so a fine-tuned backbone's
    /// BatchNormalization layers update their statistics unless they are frozen
    /// themselves (`set_trainable` on them: a frozen BatchNormalization runs in inference
    /// mode, in Keras 3 and here).
    pub fn training(mut self, training: bool) -> Self {
        self.training = Some(training);
        self
    }
}

impl Model {
    /// This model as a layer of another (see [`NestedModel`]).
    pub fn as_layer(self) -> NestedModel {
        NestedModel {
            base: LayerBase {
                name: Some(self.name.clone()),
                input_shape: self.input_shapes().into_iter().next(),
                trainable: true,
            },
            model: Some(self),
            training: None,
        }
    }
}

impl From<Model> for Box<dyn Layer> {
    fn from(m: Model) -> Self {
        Box::new(m.as_layer())
    }
}

impl From<NestedModel> for Box<dyn Layer> {
    fn from(m: NestedModel) -> Self {
        Box::new(m)
    }
}

impl NestedModel {
    fn refuse<T>(&self) -> Result<T> {
        Err(Error::State(format!(
            "model \"{}\" is nested: it runs as part of the model that holds it, not as a layer by itself",
            self.base.label()
        )))
    }
}

impl crate::layers::LayerCopy for NestedModel {
    /// Refused: a nested model's layers move into the model that holds it (calling it
    /// again through the same [`Shared`](super::Shared) shares its weights).
    fn copy_layer(&self) -> Result<Box<dyn Layer>> {
        Err(crate::Error::Data(format!(
            "the nested model \"{}\" cannot be copied: its layers move into the model that holds it (to call it several times with one set of weights, wrap it in Shared::new and call that)",
            self.base.label()
        )))
    }
}

impl Layer for NestedModel {
    fn class_name(&self) -> &'static str {
        match &self.model {
            Some(m) if !m.is_functional() || m.graph.as_ref().is_some_and(|g| g.sequential) => {
                "Sequential"
            }
            _ => "Functional",
        }
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, _input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        self.refuse()
    }
    fn forward(&mut self, _x: &[f32], _y: &mut [f32], _n: usize, _mode: Mode) {}
    fn backward(
        &mut self,
        _x: &[f32],
        _y: &[f32],
        _dy: &mut [f32],
        _dx: Option<&mut [f32]>,
        _ctx: Backward,
    ) {
    }
    fn config(&self) -> Map<String, Value> {
        Map::new()
    }
    fn as_nested(&mut self) -> Option<&mut dyn std::any::Any> {
        Some(self)
    }
}

/// Takes the model out of a layer that is a [`NestedModel`].
pub(crate) fn take_nested(layer: &mut dyn Layer) -> Option<(Model, Option<bool>)> {
    let any = layer.as_nested()?;
    let nm = any.downcast_mut::<NestedModel>()?;
    let m = nm.model.take()?;
    Some((m, nm.training))
}

/// While a model is being nested: the tag its layers' cells carry in the outer graph.
#[derive(Debug)]
pub(crate) struct NestTag {
    pub id: usize,
    pub name: String,
    pub class: &'static str,
    pub config: Value,
    pub training: Option<bool>,
    pub parent: Option<Rc<NestTag>>,
    /// Its entries in its own layer order: a cell id, or a deeper tag.
    pub members: std::cell::RefCell<Vec<Member>>,
    /// For each call: the node ids of the tensors it was called on and of its outputs.
    pub calls: std::cell::RefCell<Vec<(Vec<usize>, Vec<usize>)>>,
}

#[derive(Debug, Clone)]
pub(crate) enum Member {
    Cell(usize),
    Tag(Rc<NestTag>),
}

impl NestTag {
    /// The outermost tag above (or this one).
    pub fn root(self: &Rc<Self>) -> Rc<NestTag> {
        let mut t = self.clone();
        while let Some(p) = t.parent.clone() {
            t = p;
        }
        t
    }
    /// Every cell id below, in order.
    pub fn cells(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for m in self.members.borrow().iter() {
            match m {
                Member::Cell(c) => out.push(*c),
                Member::Tag(t) => out.extend(t.cells()),
            }
        }
        out
    }
    /// The [`Nest`] tree of this tag, given each cell's flat layer index.
    pub fn to_nest(&self, layer_of: &dyn Fn(usize) -> Option<usize>) -> Nest {
        let items = self
            .members
            .borrow()
            .iter()
            .filter_map(|m| match m {
                Member::Cell(c) => layer_of(*c).map(Item::Layer),
                Member::Tag(t) => Some(Item::Nest(t.to_nest(layer_of))),
            })
            .collect();
        Nest {
            name: self.name.clone(),
            class: self.class,
            config: self.config.clone(),
            training: self.training,
            items,
            calls: Vec::new(),
        }
    }
}

/// A fresh tag for `model` (its class, name and config), under `parent`.
pub(crate) fn tag_for(
    model: &Model,
    training: Option<bool>,
    parent: Option<Rc<NestTag>>,
    id: usize,
) -> Rc<NestTag> {
    let sequential = !model.is_functional() || model.graph.as_ref().is_some_and(|g| g.sequential);
    let mut config = super::config::model_config(model);
    if let Some(c) = config.as_object_mut() {
        c.remove("compile_config");
    }
    Rc::new(NestTag {
        id,
        name: model.name.clone(),
        class: if sequential {
            "Sequential"
        } else {
            "Functional"
        },
        config,
        training,
        parent,
        members: Default::default(),
        calls: Default::default(),
    })
}
