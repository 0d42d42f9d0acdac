//! The functional API: [`Input`] makes a symbolic tensor, calling a layer on symbolic
//! tensors ([`Call::call`], [`Call::call_on`]) records a node, and [`Model::functional`]
//! turns the graph between an input and an output into a model that runs on the same
//! executor as `Sequential`.

use super::graph::Chain;
use super::Model;
use crate::error::{Error, Result};
use crate::layers::{snake_case, unique_name, Layer};
use crate::rng::Rng;
use crate::shape::IntoShape;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

static NEXT_NODE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[derive(Debug)]
struct Node {
    /// Creation order: a node's inputs were created before it, so sorting by id is a
    /// topological order.
    id: usize,
    /// `None` for an input; taken out when a model is made from the graph.
    layer: RefCell<Option<Box<dyn Layer>>>,
    /// The layer's (or input's) name, kept for messages once the layer is taken.
    name: String,
    class: &'static str,
    inputs: Vec<KerasTensor>,
}

/// A symbolic tensor of the functional API: the output of an [`Input`] or of a layer call.
/// It knows its per-sample shape and the graph that produces it.
#[derive(Clone, Debug)]
pub struct KerasTensor {
    node: Rc<Node>,
    shape: Vec<usize>,
}

impl KerasTensor {
    /// Per-sample shape (no batch axis).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The name of the layer (or input) that produces it.
    pub fn producer(&self) -> &str {
        &self.node.name
    }
}

/// Keras's `keras.Input(shape)`: the symbolic input of a functional model.
///
/// ```
/// use rkeras::prelude::*;
/// let inputs = Input::new((28, 28, 1));
/// let x = Conv2D::new(8, 3).activation("relu").call(&inputs)?;
/// let x = GlobalAveragePooling2D::new().call(&x)?;
/// let outputs = Dense::new(10).activation("softmax").call(&x)?;
/// let model = Model::functional(&inputs, &outputs)?;
/// assert_eq!(model.output_shape(), Some(&[10][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
pub struct Input;

impl Input {
    /// A symbolic input of per-sample `shape`, named `input_layer`, `input_layer_1`, ...
    #[allow(clippy::new_ret_no_self)]
    pub fn new(shape: impl IntoShape) -> KerasTensor {
        Input::named(shape, &unique_name("input_layer"))
    }
    /// A symbolic input with a chosen name.
    pub fn named(shape: impl IntoShape, name: &str) -> KerasTensor {
        KerasTensor {
            node: Rc::new(Node {
                id: NEXT_NODE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                layer: RefCell::new(None),
                name: name.to_string(),
                class: "InputLayer",
                inputs: Vec::new(),
            }),
            shape: shape.into_shape(),
        }
    }
}

/// Calling a layer on symbolic tensors (`layer(x)` in Keras). Implemented for every layer.
pub trait Call: Sized {
    /// Applies a one-input layer to `x`; the layer's output shape is checked now, and a
    /// misfit names the layer and both shapes.
    ///
    /// # Errors
    /// The layer cannot take `x` (wrong shape or rank, bad argument).
    fn call(self, x: &KerasTensor) -> Result<KerasTensor> {
        self.call_on(&[x])
    }
    /// Applies a layer to several inputs (the merge layers: `Add`, `Concatenate`, ...).
    ///
    /// # Errors
    /// Shapes the layer cannot merge, or several inputs to a one-input layer.
    fn call_on(self, inputs: &[&KerasTensor]) -> Result<KerasTensor>;
}

impl<L: Into<Box<dyn Layer>>> Call for L {
    fn call_on(self, inputs: &[&KerasTensor]) -> Result<KerasTensor> {
        let mut layer: Box<dyn Layer> = self.into();
        if layer.base().name.is_none() {
            layer.base_mut().name = Some(unique_name(&snake_case(layer.class_name())));
        }
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape.clone()).collect();
        // Build once to learn the output shape; the model builds again with its seed.
        let mut rng = Rng::new(0);
        let shape = match (layer.is_merge(), shapes.as_slice()) {
            (true, _) => layer.build_merge(&shapes, &mut rng)?,
            (false, [one]) => layer.build(one, &mut rng)?,
            (false, _) => {
                return Err(Error::arg(
                    "inputs",
                    layer.name(),
                    format!(
                        "a {} layer takes one input, it was called on {}",
                        layer.class_name(),
                        inputs.len()
                    ),
                ))
            }
        };
        Ok(KerasTensor {
            node: Rc::new(Node {
                id: NEXT_NODE.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                name: layer.name().to_string(),
                class: layer.class_name(),
                layer: RefCell::new(Some(layer)),
                inputs: inputs.iter().map(|t| (*t).clone()).collect(),
            }),
            shape,
        })
    }
}

impl Model {
    /// A functional model from `inputs` to `outputs` (Keras `keras.Model(inputs,
    /// outputs)`): every layer between them, in the order they were called. The layers
    /// move into the model, so a graph makes one model.
    ///
    /// Any DAG works: branches that fan out and merge again (`Add`, `Concatenate`, ...),
    /// residual connections. One input and one output for now.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let inputs = Input::new((16, 16, 8));
    /// let y = Conv2D::new(8, 3).padding("same").activation("relu").call(&inputs)?;
    /// let y = Conv2D::new(8, 3).padding("same").call(&y)?;
    /// let y = Add::new().call_on(&[&inputs, &y])?; // the skip connection
    /// let y = Activation::new("relu").call(&y)?;
    /// let y = Flatten::new().call(&y)?;
    /// let outputs = Dense::new(3).activation("softmax").call(&y)?;
    /// let mut model = Model::functional(&inputs, &outputs)?;
    /// model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// An output that does not depend on the input, a graph that needs another input, a
    /// name used twice, or a graph whose layers already went into a model.
    pub fn functional(inputs: &KerasTensor, outputs: &KerasTensor) -> Result<Model> {
        Model::functional_named(inputs, outputs, &unique_name("functional"))
    }

    /// [`Model::functional`] with a model name.
    ///
    /// # Errors
    /// As [`Model::functional`].
    pub fn functional_named(
        inputs: &KerasTensor,
        outputs: &KerasTensor,
        name: &str,
    ) -> Result<Model> {
        if inputs.node.layer.borrow().is_some() || !inputs.node.inputs.is_empty() {
            return Err(Error::arg(
                "inputs",
                "",
                format!(
                    "the model's inputs must come from Input::new, \"{}\" is the output of a layer",
                    inputs.node.name
                ),
            ));
        }
        // Every node the output depends on, by id.
        let mut seen: HashMap<usize, Rc<Node>> = HashMap::new();
        let mut stack = vec![outputs.node.clone()];
        while let Some(node) = stack.pop() {
            if seen.contains_key(&node.id) {
                continue;
            }
            for t in &node.inputs {
                stack.push(t.node.clone());
            }
            seen.insert(node.id, node);
        }
        if !seen.contains_key(&inputs.node.id) {
            return Err(Error::arg(
                "outputs",
                "",
                format!(
                    "the output \"{}\" is not connected to the input \"{}\": it does not depend on it",
                    outputs.node.name, inputs.node.name
                ),
            ));
        }
        if outputs.node.id == inputs.node.id {
            return Err(Error::arg(
                "outputs",
                "",
                "the output is the input itself: the model has no layers",
            ));
        }
        let mut order: Vec<Rc<Node>> = seen.into_values().collect();
        order.sort_by_key(|n| n.id);
        let mut index: HashMap<usize, usize> = HashMap::new();
        index.insert(inputs.node.id, 0);
        let mut names: HashSet<String> = HashSet::new();
        names.insert(inputs.node.name.clone());
        let mut layers: Vec<Box<dyn Layer>> = Vec::new();
        let mut wiring: Vec<Vec<usize>> = Vec::new();
        for node in order.iter().filter(|n| n.id != inputs.node.id) {
            if node.class == "InputLayer" {
                return Err(Error::arg(
                    "inputs",
                    "",
                    format!(
                        "Graph disconnected: the output needs the input \"{}\", which is not the model's input \"{}\"",
                        node.name, inputs.node.name
                    ),
                ));
            }
            if !names.insert(node.name.clone()) {
                return Err(Error::arg(
                    "name",
                    "",
                    format!("The name \"{}\" is used 2 times in the model. All operation names should be unique.", node.name),
                ));
            }
            let ins: Vec<usize> = node.inputs.iter().map(|t| index[&t.node.id]).collect();
            let layer = node.layer.borrow_mut().take().ok_or_else(|| {
                Error::State(format!(
                    "layer \"{}\" already belongs to a model (a graph makes one model; shared layers are not supported yet)",
                    node.name
                ))
            })?;
            index.insert(node.id, layers.len() + 1);
            layers.push(layer);
            wiring.push(ins);
        }
        let mut chain = Chain::default();
        chain.layers = layers;
        chain.wiring = Some(wiring);
        let mut model = Model {
            name: name.to_string(),
            chain,
            input_name: None,
            compiled: None,
            seed: crate::rng::next_seed(),
            stop_training: false,
            resume_epoch: None,
        };
        model.input_name = Some(inputs.node.name.clone());
        model.build(&inputs.shape)?;
        Ok(model)
    }

    /// True for a model made by [`Model::functional`].
    pub fn is_functional(&self) -> bool {
        self.chain.wiring.is_some()
    }

    /// For each layer of a functional model, the names of the layers (or the input) it
    /// reads, as the summary's "Connected to" column lists them.
    pub fn inbound_names(&self) -> Option<Vec<Vec<String>>> {
        let wiring = self.chain.wiring.as_ref()?;
        let input = self
            .input_name
            .clone()
            .unwrap_or_else(|| "input_layer".into());
        Some(
            wiring
                .iter()
                .map(|ins| {
                    ins.iter()
                        .map(|&a| match a {
                            0 => input.clone(),
                            j => self.chain.layers[j - 1].name().to_string(),
                        })
                        .collect()
                })
                .collect(),
        )
    }
}
