//! The functional API: [`Input`] makes a symbolic tensor, calling a layer on symbolic
//! tensors ([`Call::call`], [`Call::call_on`]) records a node, [`Shared`] lets one layer be
//! called several times with the same weights, and [`Model::functional`] turns the graph
//! between inputs and outputs into a model that runs on the same executor as `Sequential`.

use super::graph::{self, Chain, Wiring};
use super::nested::{tag_for, take_nested, Item, Member, Nest, NestCall, NestTag, NestedModel};
use super::Model;
use crate::error::{Error, Result};
use crate::layers::{snake_case, unique_name, Layer};
use crate::rng::Rng;
use crate::shape::IntoShape;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

static NEXT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn next_id() -> usize {
    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A layer of the graph (or an input), with the number of times it was called.
#[derive(Debug)]
struct LayerCell {
    id: usize,
    /// `None` for an input; taken out when a model is made from the graph.
    layer: RefCell<Option<Box<dyn Layer>>>,
    /// The layer's (or input's) name, kept for messages once the layer is taken.
    name: String,
    class: &'static str,
    calls: Cell<usize>,
    /// The nested model the layer came from (see [`super::nested`]).
    nest: Option<Rc<NestTag>>,
    /// A nested model's layer keeps the weights it had: restored once the outer model is
    /// built.
    keep: Option<Vec<Vec<f32>>>,
    /// A nested model, once called: how to call it again (a shared nested model).
    replay: RefCell<Option<Rc<Replay>>>,
}

#[derive(Debug)]
struct Node {
    /// Creation order: a node's inputs were created before it, so sorting by id is a
    /// topological order.
    id: usize,
    cell: Rc<LayerCell>,
    /// Which call of the layer this node is (Keras's node index).
    call: usize,
    /// For a layer of a nested model: which call of the (outermost) nested model made it.
    nest_call: usize,
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
        &self.node.cell.name
    }
}

/// Several symbolic tensors: the inputs or outputs of [`Model::functional`]. One tensor
/// (`&x`), a slice or array of them (`&[&a, &b]`, `[&a, &b]`) or a `Vec`.
pub trait IntoTensors {
    /// The tensors, in order.
    fn into_tensors(self) -> Vec<KerasTensor>;
}

impl IntoTensors for &KerasTensor {
    fn into_tensors(self) -> Vec<KerasTensor> {
        vec![self.clone()]
    }
}
impl IntoTensors for &[&KerasTensor] {
    fn into_tensors(self) -> Vec<KerasTensor> {
        self.iter().map(|t| (*t).clone()).collect()
    }
}
impl<const N: usize> IntoTensors for [&KerasTensor; N] {
    fn into_tensors(self) -> Vec<KerasTensor> {
        self.iter().map(|t| (*t).clone()).collect()
    }
}
impl<const N: usize> IntoTensors for &[&KerasTensor; N] {
    fn into_tensors(self) -> Vec<KerasTensor> {
        self.iter().map(|t| (*t).clone()).collect()
    }
}
impl IntoTensors for &[KerasTensor] {
    fn into_tensors(self) -> Vec<KerasTensor> {
        self.to_vec()
    }
}
impl IntoTensors for Vec<KerasTensor> {
    fn into_tensors(self) -> Vec<KerasTensor> {
        self
    }
}
impl IntoTensors for &Vec<KerasTensor> {
    fn into_tensors(self) -> Vec<KerasTensor> {
        self.clone()
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
                id: next_id(),
                cell: Rc::new(LayerCell {
                    id: next_id(),
                    layer: RefCell::new(None),
                    name: name.to_string(),
                    class: "InputLayer",
                    calls: Cell::new(1),
                    nest: None,
                    keep: None,
                    replay: RefCell::new(None),
                }),
                call: 0,
                nest_call: 0,
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

fn named(layer: impl Into<Box<dyn Layer>>) -> Box<dyn Layer> {
    let mut layer: Box<dyn Layer> = layer.into();
    if layer.base().name.is_none() {
        layer.base_mut().name = Some(unique_name(&snake_case(layer.class_name())));
    }
    layer
}

/// Builds `layer` (or a twin of it, for a shared layer's later call) on `inputs` to learn
/// the output shape.
fn probe(layer: &mut dyn Layer, inputs: &[&KerasTensor]) -> Result<Vec<usize>> {
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape.clone()).collect();
    // Build once to learn the output shape; the model builds again with its seed.
    // Its weights are not drawn (the model's build draws them): ResNet50 builds in half the
    // time.
    let mut rng = Rng::new(0);
    match (layer.is_merge(), shapes.as_slice()) {
        (true, _) => crate::init::without_fill(|| layer.build_merge(&shapes, &mut rng)),
        (false, [one]) => crate::init::without_fill(|| layer.build(one, &mut rng)),
        (false, _) => Err(Error::arg(
            "inputs",
            layer.name(),
            format!(
                "a {} layer takes one input, it was called on {}",
                layer.class_name(),
                inputs.len()
            ),
        )),
    }
}

fn new_node(
    cell: &Rc<LayerCell>,
    inputs: &[&KerasTensor],
    shape: Vec<usize>,
    nest_call: usize,
) -> KerasTensor {
    let call = cell.calls.get();
    cell.calls.set(call + 1);
    KerasTensor {
        node: Rc::new(Node {
            id: next_id(),
            cell: cell.clone(),
            call,
            nest_call,
            inputs: inputs.iter().map(|t| (*t).clone()).collect(),
        }),
        shape,
    }
}

impl<L: Into<Box<dyn Layer>>> Call for L {
    fn call_on(self, inputs: &[&KerasTensor]) -> Result<KerasTensor> {
        Shared::new(self).call_on(inputs)
    }
}

/// A layer that can be called several times, on different inputs, with one set of weights
/// (Keras's shared layers: `shared = Dense(4); a = shared(x); b = shared(y)`). Its gradients
/// from every call are summed.
///
/// ```
/// use rkeras::prelude::*;
/// let left = Input::new(8);
/// let right = Input::new(8);
/// let encoder = Shared::new(Dense::new(4).activation("relu"));
/// let a = encoder.call(&left)?;
/// let b = encoder.call(&right)?;
/// let d = Subtract::new().call_on(&[&a, &b])?;
/// let out = Dense::new(1).activation("sigmoid").call(&d)?;
/// let model = Model::functional([&left, &right], &out)?;
/// assert_eq!(model.count_params(), 8 * 4 + 4 + 4 + 1); // the encoder counts once
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// A model shares the same way (a nested model called twice, as a siamese encoder):
///
/// ```
/// use rkeras::prelude::*;
/// let encoder = Sequential::with_name(
///     "encoder",
///     [Dense::new(4).activation("relu").input_shape(8).into(), Dense::new(2).into()],
/// )?;
/// let encoder = Shared::new(encoder);
/// let (left, right) = (Input::new(8), Input::new(8));
/// let a = encoder.call(&left)?;
/// let b = encoder.call(&right)?;
/// let d = Subtract::new().call_on(&[&a, &b])?;
/// let model = Model::functional([&left, &right], &d)?;
/// assert_eq!(model.count_params(), 8 * 4 + 4 + 4 * 2 + 2);
/// assert!(model.summary_string(None).contains("encoder[1][0]"));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Shared {
    cell: Rc<LayerCell>,
}

impl Shared {
    /// Wraps `layer` for several calls.
    pub fn new(layer: impl Into<Box<dyn Layer>>) -> Self {
        Shared::tagged(named(layer), None)
    }

    /// A layer of a nested model: tagged with it, its weights kept.
    fn tagged(layer: Box<dyn Layer>, nest: Option<Rc<NestTag>>) -> Self {
        let keep = nest
            .as_ref()
            .map(|_| layer.params().iter().map(|p| p.value.clone()).collect());
        Shared {
            cell: Rc::new(LayerCell {
                id: next_id(),
                name: layer.name().to_string(),
                class: layer.class_name(),
                layer: RefCell::new(Some(layer)),
                calls: Cell::new(0),
                nest,
                keep,
                replay: RefCell::new(None),
            }),
        }
    }

    /// The layer's name.
    pub fn name(&self) -> &str {
        &self.cell.name
    }

    /// Calls the layer on `x` (see [`Call::call`]).
    ///
    /// # Errors
    /// The layer cannot take `x`; a later call whose input would need other weights than
    /// the first call's.
    pub fn call(&self, x: &KerasTensor) -> Result<KerasTensor> {
        self.call_on(&[x])
    }

    /// Calls the layer on several inputs (see [`Call::call_on`]).
    ///
    /// # Errors
    /// As [`Shared::call`].
    pub fn call_on(&self, inputs: &[&KerasTensor]) -> Result<KerasTensor> {
        self.call_in(inputs, 0)
    }

    /// [`Shared::call_on`] for call `nest_call` of the nested model this layer belongs to.
    fn call_in(&self, inputs: &[&KerasTensor], nest_call: usize) -> Result<KerasTensor> {
        if let Some(outs) = self.call_nested(inputs)? {
            return self.one_output(outs);
        }
        let mut slot = self.cell.layer.borrow_mut();
        let layer = slot.as_mut().ok_or_else(|| self.taken())?;
        let shape = if self.cell.calls.get() == 0 {
            probe(layer.as_mut(), inputs)?
        } else {
            let mut twin = crate::layers::twin_of(layer.as_ref())?;
            let shape = probe(twin.as_mut(), inputs)?;
            let mine: Vec<&[usize]> = twin.params().iter().map(|p| p.shape.as_slice()).collect();
            let theirs: Vec<&[usize]> = layer.params().iter().map(|p| p.shape.as_slice()).collect();
            if mine != theirs {
                return Err(Error::IncompatibleShape {
                    layer: self.cell.name.clone(),
                    expected: format!(
                        "an input that fits the weights of its first call {theirs:?}"
                    ),
                    received: format!(
                        "{} (which needs weights {mine:?})",
                        crate::shape::batch_shape_str(inputs.first().map_or(&[][..], |t| &t.shape))
                    ),
                });
            }
            shape
        };
        drop(slot);
        Ok(new_node(&self.cell, inputs, shape, nest_call))
    }

    /// Calls a nested model with several inputs or outputs on `inputs` and returns its
    /// outputs, in order; a shared nested model (a siamese encoder with two outputs) can be
    /// called again this way. A layer gives its one output.
    ///
    /// # Errors
    /// As [`Shared::call`].
    pub fn call_multi(&self, inputs: &[&KerasTensor]) -> Result<Vec<KerasTensor>> {
        match self.call_nested(inputs)? {
            Some(outs) => Ok(outs),
            None => Ok(vec![self.call_in(inputs, 0)?]),
        }
    }

    /// For a nested model: its call on `inputs` (its first, which moves its layers into
    /// the graph, or a later one, with the same weights); `None` for a layer.
    fn call_nested(&self, inputs: &[&KerasTensor]) -> Result<Option<Vec<KerasTensor>>> {
        let again = self.cell.replay.borrow().clone();
        if let Some(replay) = again {
            return replay.call(inputs).map(Some);
        }
        let mut slot = self.cell.layer.borrow_mut();
        let layer = slot.as_mut().ok_or_else(|| self.taken())?;
        if layer.as_nested().is_none() {
            return Ok(None);
        }
        let Some((inner, training)) = take_nested(layer.as_mut()) else {
            return Err(Error::State(format!(
                "model \"{}\" was already used as a layer by itself: to call a nested model several times, wrap it in Shared::new and call that",
                self.cell.name
            )));
        };
        drop(slot);
        let (outs, again) = replay(inner, training, inputs, None)?;
        *self.cell.replay.borrow_mut() = Some(Rc::new(again));
        Ok(Some(outs))
    }

    fn taken(&self) -> Error {
        Error::State(format!(
            "layer \"{}\" already belongs to a model; call it before making the model",
            self.cell.name
        ))
    }

    /// The one output of a nested model's call.
    fn one_output(&self, mut outs: Vec<KerasTensor>) -> Result<KerasTensor> {
        match outs.len() {
            1 => Ok(outs.remove(0)),
            k => Err(Error::arg(
                "outputs",
                &self.cell.name,
                format!(
                    "the nested model has {k} outputs: call it with Shared::call_multi (or NestedModel::call_multi)"
                ),
            )),
        }
    }
}

impl NestedModel {
    /// Calls a nested model with several inputs or outputs on `inputs` and returns its
    /// outputs, in order ([`Call::call`] covers the one-output case).
    ///
    /// # Errors
    /// Inputs that do not match the nested model's input shapes; a model not built yet.
    pub fn call_multi(mut self, inputs: &[&KerasTensor]) -> Result<Vec<KerasTensor>> {
        let Some(inner) = self.model.take() else {
            return Err(Error::State("this nested model was already used".into()));
        };
        replay(inner, self.training, inputs, None).map(|(outs, _)| outs)
    }
}

/// A nested model after its first call: its layers (cells tagged with it) and its own
/// graph, to call them again on other inputs with the same weights.
#[derive(Debug)]
struct Replay {
    name: String,
    tag: Rc<NestTag>,
    input_shapes: Vec<Vec<usize>>,
    cells: Vec<Shared>,
    /// Its graph (`None`: a plain Sequential chain of `cells`).
    wiring: Option<Wiring>,
}

impl Replay {
    /// The nested model called once more on `inputs`.
    fn call(&self, inputs: &[&KerasTensor]) -> Result<Vec<KerasTensor>> {
        check_inputs(&self.name, &self.input_shapes, inputs)?;
        let k = self.tag.calls.borrow().len();
        let outs = run_nested(&self.cells, self.wiring.as_ref(), inputs, k)?;
        self.tag.calls.borrow_mut().push((
            inputs.iter().map(|t| t.node.id).collect(),
            outs.iter().map(|t| t.node.id).collect(),
        ));
        Ok(outs)
    }
}

/// Checks that `inputs` fit a nested model's input shapes.
fn check_inputs(name: &str, shapes: &[Vec<usize>], inputs: &[&KerasTensor]) -> Result<()> {
    let given: Vec<&[usize]> = inputs.iter().map(|t| t.shape()).collect();
    if given.len() != shapes.len() || given.iter().zip(shapes).any(|(g, s)| *g != s.as_slice()) {
        return Err(Error::IncompatibleShape {
            layer: name.to_string(),
            expected: shapes
                .iter()
                .map(|s| crate::shape::batch_shape_str(s))
                .collect::<Vec<_>>()
                .join(", "),
            received: given
                .iter()
                .map(|s| crate::shape::batch_shape_str(s))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(())
}

/// Calls a nested model's layers (`cells`, wired by its own `wiring`, or a chain) on
/// `inputs`, as call `k` of it; returns its outputs.
fn run_nested(
    cells: &[Shared],
    wiring: Option<&Wiring>,
    inputs: &[&KerasTensor],
    k: usize,
) -> Result<Vec<KerasTensor>> {
    match wiring {
        Some(w) => {
            let mut acts: HashMap<usize, KerasTensor> = HashMap::new();
            for (j, t) in inputs.iter().enumerate() {
                acts.insert(w.input_act(j), (*t).clone());
            }
            let first = w.first_call();
            for (ci, call) in w.calls.iter().enumerate() {
                let ins: Vec<&KerasTensor> = call.ins.iter().map(|a| &acts[a]).collect();
                let out = cells[call.layer].call_in(&ins, k)?;
                acts.insert(first + ci, out);
            }
            Ok(w.outputs.iter().map(|a| acts[a].clone()).collect())
        }
        None => {
            let mut x = inputs
                .first()
                .map(|t| (*t).clone())
                .ok_or_else(|| Error::State("a nested model called on no input".into()))?;
            for c in cells {
                x = c.call_in(&[&x], k)?;
            }
            Ok(vec![x])
        }
    }
}

/// Nests `inner` in the graph being built: its layers become cells tagged with it, called
/// on `inputs` as its own graph calls them; returns its outputs, and what calls it again.
fn replay(
    mut inner: Model,
    training: Option<bool>,
    inputs: &[&KerasTensor],
    parent: Option<Rc<NestTag>>,
) -> Result<(Vec<KerasTensor>, Replay)> {
    if !inner.built() {
        return Err(Error::State(format!(
            "model \"{}\" must be built (declare its input shape) before it is used as a layer of another model",
            inner.name
        )));
    }
    let shapes = inner.input_shapes();
    check_inputs(&inner.name, &shapes, inputs)?;
    let tag = tag_for(&inner, training, parent, next_id());
    let layers = std::mem::take(&mut inner.chain.layers);
    let graph = inner.graph.take();
    // The tag of every layer: this model's, or that of a model nested in it.
    let mut tag_of: Vec<Rc<NestTag>> = vec![tag.clone(); layers.len()];
    /// A nested model's tag with those of the models nested in it, in item order.
    struct Tree {
        tag: Rc<NestTag>,
        children: Vec<Tree>,
    }
    fn tags(nest: &Nest, parent: &Rc<NestTag>, tag_of: &mut [Rc<NestTag>]) -> Tree {
        let t = Rc::new(NestTag {
            id: next_id(),
            name: nest.name.clone(),
            class: nest.class,
            config: nest.config.clone(),
            training: nest.training,
            parent: Some(parent.clone()),
            members: Default::default(),
            calls: Default::default(),
        });
        let mut children = Vec::new();
        for it in &nest.items {
            match it {
                Item::Layer(i) => tag_of[*i] = t.clone(),
                Item::Nest(n) => children.push(tags(n, &t, tag_of)),
            }
        }
        Tree { tag: t, children }
    }
    let nests: Vec<Nest> = graph.as_ref().map(|g| g.nests.clone()).unwrap_or_default();
    let trees: Vec<Tree> = nests.iter().map(|n| tags(n, &tag, &mut tag_of)).collect();
    let cells: Vec<Shared> = layers
        .into_iter()
        .zip(&tag_of)
        .map(|(l, t)| Shared::tagged(l, Some(t.clone())))
        .collect();
    // Members in each nested model's own layer order.
    fn fill(tree: &Tree, nest: &Nest, cells: &[Shared]) {
        let mut kids = tree.children.iter();
        for it in &nest.items {
            match it {
                Item::Layer(i) => tree
                    .tag
                    .members
                    .borrow_mut()
                    .push(Member::Cell(cells[*i].cell.id)),
                Item::Nest(n) => {
                    if let Some(child) = kids.next() {
                        fill(child, n, cells);
                        tree.tag
                            .members
                            .borrow_mut()
                            .push(Member::Tag(child.tag.clone()));
                    }
                }
            }
        }
    }
    match &graph {
        Some(g) => {
            for e in &g.order {
                match *e {
                    Entry::Input(_) => {}
                    Entry::Layer(i) => tag
                        .members
                        .borrow_mut()
                        .push(Member::Cell(cells[i].cell.id)),
                    Entry::Nest(k) => {
                        fill(&trees[k], &nests[k], &cells);
                        tag.members
                            .borrow_mut()
                            .push(Member::Tag(trees[k].tag.clone()));
                    }
                }
            }
        }
        None => {
            for c in &cells {
                tag.members.borrow_mut().push(Member::Cell(c.cell.id));
            }
        }
    }
    let wiring = match &graph {
        Some(_) => inner.chain.wiring.take(),
        None => None,
    };
    let outs = run_nested(&cells, wiring.as_ref(), inputs, 0)?;
    tag.calls.borrow_mut().push((
        inputs.iter().map(|t| t.node.id).collect(),
        outs.iter().map(|t| t.node.id).collect(),
    ));
    let again = Replay {
        name: inner.name.clone(),
        tag,
        input_shapes: shapes,
        cells,
        wiring,
    };
    Ok((outs, again))
}

/// A place in Keras's layer order: an input or a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// Model input `j`.
    Input(usize),
    /// `Model::layers()[i]`.
    Layer(usize),
    /// A nested model: `GraphInfo::nests[k]`.
    Nest(usize),
}

/// What a functional model knows of its graph beyond the executor's wiring.
#[derive(Clone, Debug, Default)]
pub(crate) struct GraphInfo {
    /// The inputs' names, in the model's input order.
    pub input_names: Vec<String>,
    /// Keras's layer order (by depth from the outputs), inputs included.
    pub order: Vec<Entry>,
    /// For each call of the wiring, Keras's node index (which call of its layer it is).
    pub node_index: Vec<usize>,
    /// The models nested in this one ([`Entry::Nest`] indexes them).
    pub nests: Vec<Nest>,
    /// A `Sequential` model run on the graph executor (it holds a nested model).
    pub sequential: bool,
}

/// Keras's operation order (`keras.src.ops.function.map_graph`): a depth-first walk from
/// the outputs numbers the layers as first met, each call's depth is its longest path to
/// an output (a shared layer takes its deepest call's), and layers sort by depth, deepest
/// first, then by number.
fn keras_order(outputs: &[KerasTensor], inputs: &[KerasTensor]) -> Vec<usize> {
    /// The operation a node belongs to: its layer, or the outermost nested model holding it.
    fn op_of(node: &Node) -> usize {
        node.cell
            .nest
            .as_ref()
            .map_or(node.cell.id, |t| t.root().id)
    }
    let mut finished: HashSet<usize> = HashSet::new();
    let mut post: Vec<Rc<Node>> = Vec::new();
    let mut op_index: HashMap<usize, usize> = HashMap::new();
    fn walk(
        node: &Rc<Node>,
        finished: &mut HashSet<usize>,
        post: &mut Vec<Rc<Node>>,
        op_index: &mut HashMap<usize, usize>,
    ) {
        if finished.contains(&node.id) {
            return;
        }
        let n = op_index.len();
        op_index.entry(op_of(node)).or_insert(n);
        for t in &node.inputs {
            walk(&t.node, finished, post, op_index);
        }
        finished.insert(node.id);
        post.push(node.clone());
    }
    for o in outputs {
        walk(&o.node, &mut finished, &mut post, &mut op_index);
    }
    let mut node_depth: HashMap<usize, usize> = HashMap::new();
    let mut op_depth: HashMap<usize, usize> = HashMap::new();
    for node in post.iter().rev() {
        let d = *node_depth.entry(node.id).or_insert(0);
        let d = d.max(op_depth.get(&op_of(node)).copied().unwrap_or(0));
        op_depth.insert(op_of(node), d);
        node_depth.insert(node.id, d);
        for t in &node.inputs {
            // Inside one call of a nested model the depth stays: the call is one node.
            let same = op_of(&t.node) == op_of(node) && t.node.nest_call == node.nest_call;
            let step = usize::from(!same);
            let e = node_depth.entry(t.node.id).or_insert(0);
            *e = (*e).max(d + step);
        }
    }
    // Inputs no output needs still belong to the model (depth 0, first among equals).
    let mut key: HashMap<usize, (usize, i64)> = op_depth
        .iter()
        .map(|(&c, &d)| (c, (d, op_index[&c] as i64)))
        .collect();
    for t in inputs {
        key.entry(t.node.cell.id).or_insert((0, -1));
    }
    let mut ops: Vec<usize> = key.keys().copied().collect();
    ops.sort_by(|a, b| {
        let (da, ia) = key[a];
        let (db, ib) = key[b];
        db.cmp(&da).then(ia.cmp(&ib))
    });
    ops
}

impl Model {
    /// A functional model from `inputs` to `outputs` (Keras `keras.Model(inputs,
    /// outputs)`): every layer between them. One tensor or several, each way:
    /// `Model::functional(&x, &y)`, `Model::functional([&a, &b], [&y, &z])`. The layers move
    /// into the model, so a graph makes one model.
    ///
    /// Any DAG works: branches that fan out and merge again (`Add`, `Concatenate`, ...),
    /// residual connections, shared layers ([`Shared`]), several inputs (fed side by side,
    /// see [`Model::fit`]) and several outputs, each with its own loss
    /// ([`Model::compile_outputs`]).
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
    /// An output that does not depend on the inputs, a graph that needs another input, a
    /// name used twice, or a graph whose layers already went into a model.
    pub fn functional(inputs: impl IntoTensors, outputs: impl IntoTensors) -> Result<Model> {
        Model::functional_named(inputs, outputs, &unique_name("functional"))
    }

    /// [`Model::functional`] with a model name.
    ///
    /// # Errors
    /// As [`Model::functional`].
    pub fn functional_named(
        inputs: impl IntoTensors,
        outputs: impl IntoTensors,
        name: &str,
    ) -> Result<Model> {
        let inputs = inputs.into_tensors();
        let outputs = outputs.into_tensors();
        if inputs.is_empty() || outputs.is_empty() {
            return Err(Error::arg(
                "inputs",
                "",
                "a model needs at least one input and one output",
            ));
        }
        let mut input_ids: HashMap<usize, usize> = HashMap::new();
        for (j, t) in inputs.iter().enumerate() {
            if t.node.cell.class != "InputLayer" {
                return Err(Error::arg(
                    "inputs",
                    "",
                    format!(
                        "the model's inputs must come from Input::new, \"{}\" is the output of a layer",
                        t.node.cell.name
                    ),
                ));
            }
            if input_ids.insert(t.node.id, j).is_some() {
                return Err(Error::arg(
                    "inputs",
                    "",
                    format!("the input \"{}\" is given twice", t.node.cell.name),
                ));
            }
        }
        // Every node the outputs depend on, by id.
        let mut seen: HashMap<usize, Rc<Node>> = HashMap::new();
        for out in &outputs {
            if input_ids.contains_key(&out.node.id) {
                return Err(Error::arg(
                    "outputs",
                    "",
                    format!(
                        "the output \"{}\" is a model input itself: an output must come from a layer",
                        out.node.cell.name
                    ),
                ));
            }
            let mut stack = vec![out.node.clone()];
            let mut mine: HashSet<usize> = HashSet::new();
            let mut reaches_input = false;
            while let Some(node) = stack.pop() {
                reaches_input |= input_ids.contains_key(&node.id);
                if !mine.insert(node.id) {
                    continue;
                }
                stack.extend(node.inputs.iter().map(|t| t.node.clone()));
                seen.insert(node.id, node);
            }
            if !reaches_input {
                let names: Vec<&str> = inputs.iter().map(|t| t.node.cell.name.as_str()).collect();
                return Err(Error::arg(
                    "outputs",
                    "",
                    format!(
                        "the output \"{}\" is not connected to the inputs {names:?}: it does not depend on them",
                        out.node.cell.name
                    ),
                ));
            }
        }
        let mut calls: Vec<Rc<Node>> = seen
            .into_values()
            .filter(|n| !input_ids.contains_key(&n.id))
            .collect();
        calls.sort_by_key(|n| n.id);
        if let Some(n) = calls.iter().find(|n| n.cell.class == "InputLayer") {
            let names: Vec<&str> = inputs.iter().map(|t| t.node.cell.name.as_str()).collect();
            return Err(Error::arg(
                "inputs",
                "",
                format!(
                    "Graph disconnected: the outputs need the input \"{}\", which is not among the model's inputs {names:?}",
                    n.cell.name
                ),
            ));
        }
        // Layers in Keras's order; names unique.
        let order = keras_order(&outputs, &inputs);
        let mut cells: HashMap<usize, Rc<LayerCell>> = HashMap::new();
        let mut roots: HashMap<usize, Rc<NestTag>> = HashMap::new();
        for n in &calls {
            cells.insert(n.cell.id, n.cell.clone());
            if let Some(t) = &n.cell.nest {
                let r = t.root();
                roots.insert(r.id, r);
            }
        }
        let mut root_list: Vec<Rc<NestTag>> = Vec::new();
        let input_cell: HashMap<usize, usize> = inputs
            .iter()
            .enumerate()
            .map(|(j, t)| (t.node.cell.id, j))
            .collect();
        let mut names: HashSet<String> = HashSet::new();
        let mut layer_of: HashMap<usize, usize> = HashMap::new();
        let mut entries: Vec<Entry> = Vec::new();
        let mut cell_list: Vec<Rc<LayerCell>> = Vec::new();
        for id in order {
            let (name, entry) = if let Some(&j) = input_cell.get(&id) {
                (inputs[j].node.cell.name.clone(), Entry::Input(j))
            } else if let Some(t) = roots.get(&id) {
                // A nested model: its layers, in its own order, side by side.
                for cid in t.cells() {
                    if let Some(c) = cells.get(&cid) {
                        layer_of.insert(cid, cell_list.len());
                        cell_list.push(c.clone());
                    }
                }
                root_list.push(t.clone());
                (t.name.clone(), Entry::Nest(root_list.len() - 1))
            } else if let Some(c) = cells.get(&id) {
                layer_of.insert(id, cell_list.len());
                cell_list.push(c.clone());
                (c.name.clone(), Entry::Layer(cell_list.len() - 1))
            } else {
                continue;
            };
            if !names.insert(name.clone()) {
                return Err(Error::arg(
                    "name",
                    "",
                    format!("The name \"{name}\" is used 2 times in the model. All operation names should be unique."),
                ));
            }
            entries.push(entry);
        }
        // Check every layer is free before taking any.
        if let Some(c) = cell_list.iter().find(|c| c.layer.borrow().is_none()) {
            return Err(Error::State(format!(
                "layer \"{}\" already belongs to a model (a graph makes one model)",
                c.name
            )));
        }
        let layers: Vec<Box<dyn Layer>> = cell_list
            .iter()
            .filter_map(|c| c.layer.borrow_mut().take())
            .collect();
        let mut wiring = Wiring {
            inputs: inputs.iter().map(|t| t.shape.clone()).collect(),
            calls: Vec::new(),
            outputs: Vec::new(),
        };
        let first = wiring.first_call();
        let mut act_of: HashMap<usize, usize> = inputs
            .iter()
            .enumerate()
            .map(|(j, t)| (t.node.id, wiring.input_act(j)))
            .collect();
        let mut calls_of_layer: HashMap<usize, usize> = HashMap::new();
        let mut node_index = Vec::new();
        for (i, n) in calls.iter().enumerate() {
            let layer = *layer_of.get(&n.cell.id).ok_or_else(|| {
                Error::State(format!(
                    "layer \"{}\" of a nested model is missing from its layer list",
                    n.cell.name
                ))
            })?;
            let k = calls_of_layer.entry(layer).or_insert(0);
            let ins = n.inputs.iter().map(|t| act_of[&t.node.id]).collect();
            wiring.calls.push(graph::Call {
                layer,
                call: *k,
                ins,
            });
            *k += 1;
            node_index.push(n.call);
            act_of.insert(n.id, first + i);
        }
        wiring.outputs = outputs.iter().map(|t| act_of[&t.node.id]).collect();
        let nests: Vec<Nest> = root_list
            .iter()
            .map(|t| {
                let mut n = t.to_nest(&|cid| layer_of.get(&cid).copied());
                let acts = |ids: &[usize]| -> Vec<usize> {
                    ids.iter()
                        .filter_map(|id| act_of.get(id).copied())
                        .collect()
                };
                // The calls the model runs (the outputs it uses of each).
                n.calls = t
                    .calls
                    .borrow()
                    .iter()
                    .map(|(ins, outs)| NestCall {
                        ins: acts(ins),
                        outs: acts(outs),
                    })
                    .filter(|c| !c.outs.is_empty())
                    .collect();
                n
            })
            .collect();
        // The GEMM set-up overlaps the rest of building (or loading) the model.
        rkeras_kernels::gemm::warm_up_in_background();
        let mut chain = Chain::default();
        chain.layers = layers;
        chain.wiring = Some(wiring);
        let mut model = Model {
            name: name.to_string(),
            chain,
            graph: Some(GraphInfo {
                input_names: inputs.iter().map(|t| t.node.cell.name.clone()).collect(),
                order: entries,
                node_index,
                nests,
                sequential: false,
            }),
            compiled: None,
            seed: crate::rng::next_seed(),
            stop_training: false,
            resume_epoch: None,
            class_names: None,
        };
        let shape = model.chain.input_shape_of_wiring();
        model.build(&shape)?;
        // Nested models keep the weights they had.
        for (i, c) in cell_list.iter().enumerate() {
            if let Some(keep) = &c.keep {
                let params = model.chain.layers[i].params_mut();
                if params.len() == keep.len()
                    && params
                        .iter()
                        .zip(keep)
                        .all(|(p, k)| p.value.len() == k.len())
                {
                    for (p, k) in params.iter_mut().zip(keep) {
                        p.value.copy_from_slice(k);
                    }
                }
            }
        }
        Ok(model)
    }

    /// True for a model made by [`Model::functional`].
    pub fn is_functional(&self) -> bool {
        self.chain.wiring.is_some()
    }

    /// The inputs' names (a Sequential model: none).
    pub fn input_names(&self) -> Vec<String> {
        self.graph
            .as_ref()
            .map(|g| g.input_names.clone())
            .unwrap_or_default()
    }

    /// Per-sample shapes of the inputs, in order (a Sequential model: its one input).
    pub fn input_shapes(&self) -> Vec<Vec<usize>> {
        match &self.chain.wiring {
            Some(w) => w.inputs.clone(),
            None => self
                .input_shape()
                .map(|s| vec![s.to_vec()])
                .unwrap_or_default(),
        }
    }

    /// The names of the layers that make the outputs, in order (Keras names each output's
    /// loss and metrics after them: `cls_loss`, `cls_accuracy`).
    pub fn output_names(&self) -> Vec<String> {
        match &self.chain.wiring {
            Some(w) => w.outputs.iter().map(|&o| self.act_producer(o).0).collect(),
            None => self
                .chain
                .layers
                .last()
                .map(|l| vec![l.name().to_string()])
                .unwrap_or_default(),
        }
    }

    /// Per-sample shapes of the outputs, in order.
    pub fn output_shapes(&self) -> Vec<Vec<usize>> {
        self.chain.output_shapes()
    }

    /// The layer (or input) name, Keras node index and tensor index (which output of a
    /// nested model with several) that produce activation `a` of a functional model.
    pub(crate) fn act_producer(&self, a: usize) -> (String, usize, usize) {
        let (Some(w), Some(g)) = (&self.chain.wiring, &self.graph) else {
            return (String::new(), 0, 0);
        };
        let first = w.first_call();
        if a < first {
            let j = if w.inputs.len() == 1 { 0 } else { a - 1 };
            return (g.input_names.get(j).cloned().unwrap_or_default(), 0, 0);
        }
        for n in &g.nests {
            for (k, c) in n.calls.iter().enumerate() {
                if let Some(t) = c.outs.iter().position(|&o| o == a) {
                    return (n.name.clone(), k, t);
                }
            }
        }
        let i = a - first;
        let layer = w.calls[i].layer;
        (
            self.chain.layers[layer].name().to_string(),
            g.node_index.get(i).copied().unwrap_or(0),
            0,
        )
    }

    /// For each layer of a functional model, the `name[node][tensor]` references it reads,
    /// over all its calls, as the summary's "Connected to" column lists them.
    pub fn inbound_names(&self) -> Option<Vec<Vec<String>>> {
        let wiring = self.chain.wiring.as_ref()?;
        let mut out = vec![Vec::new(); self.chain.layers.len()];
        for c in &wiring.calls {
            for &a in &c.ins {
                let (name, node, t) = self.act_producer(a);
                out[c.layer].push(format!("{name}[{node}][{t}]"));
            }
        }
        Some(out)
    }
}
