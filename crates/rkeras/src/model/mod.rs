//! Models: [`Model`] (compile, fit, evaluate, predict, summary, weights) and the
//! [`Sequential`] constructor.

mod buffer_pool;
pub(crate) mod config;
mod functional;
pub(crate) mod graph;
pub(crate) mod heads;
mod nested;
mod profiling;
mod sample_groups;
mod sequential;
pub mod summary;

pub use functional::{Call, Input, IntoTensors, KerasTensor, Shared};
pub(crate) use functional::{Entry, GraphInfo};
pub use nested::NestedModel;
pub(crate) use nested::{Item, Nest};
pub use sequential::Sequential;

use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::losses::{Loss, LossSpec};
use crate::metrics::Metric;
use crate::optimizers::{Optimizer, OptimizerSpec};
use crate::tensor::Tensor;
use graph::Chain;

/// What `compile` set up.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub optimizer: Box<dyn Optimizer>,
    /// One head per output (one output, one head): its loss, loss weight and metrics.
    pub heads: Vec<heads::Head>,
    /// The order of the logs.
    pub log_order: Vec<heads::Key>,
    /// Sizes the optimizer's slots were built for (empty: not built for these weights).
    pub slot_sizes: Vec<usize>,
}

impl Compiled {
    /// Builds the optimizer (its slots and the base optimizer's averages, accumulators and
    /// weight-decay mask) for the chain's trainable weights, unless built for them already.
    pub fn build_optimizer(&mut self, chain: &Chain) {
        let trainable = || {
            chain
                .layers
                .iter()
                .filter(|l| l.base().trainable)
                .flat_map(|l| l.params().iter().filter(|p| p.trainable))
        };
        let sizes: Vec<usize> = trainable().map(|p| p.value.len()).collect();
        if self.slot_sizes != sizes || !self.optimizer.is_built() {
            let names: Vec<&str> = trainable().map(|p| p.name).collect();
            let shapes: Vec<Vec<usize>> = trainable().map(|p| p.shape.clone()).collect();
            self.optimizer.build_shapes(&shapes);
            self.optimizer.options_mut().build(&sizes, &names);
            self.slot_sizes = sizes;
        } else if !self.optimizer.options().buffers_fit(sizes.len()) {
            // Options set after the optimizer was built (`use_ema` on a loaded model).
            let names: Vec<&str> = trainable().map(|p| p.name).collect();
            self.optimizer.options_mut().build(&sizes, &names);
        }
    }
    /// Swaps the model's trainable weights with the optimizer's moving averages (`use_ema`);
    /// false without averages.
    pub fn swap_ema(&mut self, chain: &mut Chain) -> bool {
        self.optimizer
            .options_mut()
            .swap_averages(chain.trainable_params_mut())
    }
    /// The first output's loss.
    pub fn loss(&self) -> Loss {
        self.heads
            .first()
            .map_or_else(Loss::mean_squared_error, |h| h.loss)
    }
    /// Forgets every accumulated loss and metric.
    pub fn reset(&mut self) {
        self.heads.iter_mut().for_each(heads::Head::reset);
    }
    /// Places each head's columns in a packed output row, from the per-sample output shapes.
    pub fn bind(&mut self, shapes: &[Vec<usize>]) {
        let mut off = 0;
        for (h, shape) in self.heads.iter_mut().zip(shapes) {
            h.off = off;
            h.len = crate::shape::numel(shape);
            h.cols = shape.last().copied().unwrap_or(1);
            off += h.len;
        }
    }
    /// `loss` then the other logged values: the metrics in compile order (one output), or
    /// every output's loss and metrics sorted by name (several).
    pub fn log_names(&self) -> Vec<String> {
        let mut v = vec!["loss".to_string()];
        v.extend(
            self.log_order
                .iter()
                .filter(|k| !matches!(k, heads::Key::Loss))
                .map(|&k| heads::key_name(&self.heads, k).to_string()),
        );
        v
    }
}

/// One output's loss, loss weight (default 1) and metrics, for [`Model::compile_outputs`].
#[derive(Clone, Debug)]
pub struct OutputLoss {
    name: String,
    loss: LossSpec,
    weight: f32,
    metrics: Vec<String>,
    values: Vec<Metric>,
}

impl OutputLoss {
    /// The loss of the output made by layer `output`.
    pub fn new(output: &str, loss: impl Into<LossSpec>) -> Self {
        OutputLoss {
            name: output.to_string(),
            loss: loss.into(),
            weight: 1.0,
            metrics: Vec::new(),
            values: Vec::new(),
        }
    }
    /// Its weight in the total loss (Keras's `loss_weights`; default 1).
    pub fn loss_weight(mut self, w: f32) -> Self {
        self.weight = w;
        self
    }
    /// Its metrics, by Keras name.
    pub fn metrics(mut self, m: &[&str]) -> Self {
        self.metrics = m.iter().map(|s| s.to_string()).collect();
        self
    }
    /// More metrics, as values (configured or your own), after the named ones.
    pub fn metric_values(mut self, m: Vec<Metric>) -> Self {
        self.values = m;
        self
    }
}

/// A model: layers plus, once compiled, an optimizer, a loss and metrics.
///
/// Build one with [`Sequential::new`].
#[derive(Debug)]
pub struct Model {
    pub(crate) name: String,
    pub(crate) chain: Chain,
    pub(crate) compiled: Option<Compiled>,
    pub(crate) seed: u64,
    /// Set by a callback to end `fit` after the current epoch (Keras's `stop_training`).
    pub stop_training: bool,
    /// Set by a callback's `on_train_begin` (BackupAndRestore) to start `fit` at this epoch.
    pub(crate) resume_epoch: Option<usize>,
    /// A functional model's inputs and Keras's layer order.
    pub(crate) graph: Option<GraphInfo>,
    /// The names of the classes of the outputs, when known (a model trained on a folder).
    pub(crate) class_names: Option<Vec<String>>,
}

impl Model {
    /// The model's name (`sequential`, `sequential_1`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The class names of the outputs, in output order, when known: set with
    /// [`set_class_names`](Self::set_class_names) (`rkeras train DIR` sets the folder's)
    /// and kept in `.keras` files.
    pub fn class_names(&self) -> Option<&[String]> {
        self.class_names.as_deref()
    }
    /// Records the class names of the outputs (as `image_dataset_from_directory` lists them),
    /// so that a saved model tells `rkeras predict` what its outputs mean. They are saved in
    /// the `.keras` file's `metadata.json`, under a key Python Keras ignores.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut m = Sequential::new([Dense::new(2).activation("softmax").input_shape(3).into()])?;
    /// m.set_class_names(["cat", "dog"]);
    /// assert_eq!(m.class_names(), Some(&["cat".to_string(), "dog".to_string()][..]));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn set_class_names<S: AsRef<str>>(&mut self, names: impl IntoIterator<Item = S>) {
        self.class_names = Some(names.into_iter().map(|s| s.as_ref().to_string()).collect());
    }
    /// The layers, in order.
    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.chain.layers
    }
    /// Freezes (`false`) or unfreezes layer `name`, as Keras's
    /// `model.get_layer(name).trainable = False`: a frozen layer's weights are not updated,
    /// and a frozen `BatchNormalization` uses its moving statistics, also in training.
    /// The optimizer's state is rebuilt for the new set of trainable weights at the next
    /// `fit` (Keras asks for a recompile).
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut m = Sequential::new([
    ///     Dense::new(4).name("base").input_shape(3).into(),
    ///     Dense::new(2).name("head").into(),
    /// ])?;
    /// m.set_trainable("base", false)?;
    /// assert!(!m.get_layer("base").unwrap().base().trainable);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// No layer of that name (the names are listed), or a layer rkeras cannot backpropagate
    /// through (a resizing layer) would come after a trainable one.
    pub fn set_trainable(&mut self, name: &str, trainable: bool) -> Result<()> {
        if let Some(layers) = self.nested_layers(name) {
            // A nested model: all its layers (Keras's `base_model.trainable = False`).
            for i in layers {
                self.chain.set_trainable(i, trainable)?;
            }
            return Ok(());
        }
        let i = self
            .chain
            .layers
            .iter()
            .position(|l| l.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.chain.layers.iter().map(|l| l.name()).collect();
                Error::arg(
                    "name",
                    "",
                    format!(
                        "no layer \"{name}\" in the model; its layers: {}",
                        names.join(", ")
                    ),
                )
            })?;
        self.chain.set_trainable(i, trainable)
    }

    /// Freezes or unfreezes every layer (Keras's `model.trainable = False`), or, with
    /// `from = Some(name)`, the layers from `name` to the last, the others getting the
    /// opposite: `set_trainable_from(Some("block_16_expand"), true)` fine-tunes the top of a
    /// backbone and keeps the rest frozen.
    ///
    /// # Errors
    /// As [`set_trainable`](Self::set_trainable).
    pub fn set_trainable_from(&mut self, from: Option<&str>, trainable: bool) -> Result<()> {
        let start = match from {
            None => 0,
            Some(name) => self
                .chain
                .layers
                .iter()
                .position(|l| l.name() == name)
                .ok_or_else(|| {
                    Error::arg("from", "", format!("no layer \"{name}\" in the model"))
                })?,
        };
        let names: Vec<String> = self
            .chain
            .layers
            .iter()
            .map(|l| l.name().to_string())
            .collect();
        for (i, n) in names.iter().enumerate() {
            self.set_trainable(n, if i >= start { trainable } else { !trainable })?;
        }
        Ok(())
    }

    /// The layers of the nested model `name` (at any depth), when there is one.
    fn nested_layers(&self, name: &str) -> Option<Vec<usize>> {
        fn find(nests: &[Nest], name: &str) -> Option<Vec<usize>> {
            for n in nests {
                if n.name == name {
                    return Some(n.layers());
                }
                let deeper: Vec<Nest> = n
                    .items
                    .iter()
                    .filter_map(|it| match it {
                        Item::Nest(m) => Some(m.clone()),
                        Item::Layer(_) => None,
                    })
                    .collect();
                if let Some(found) = find(&deeper, name) {
                    return Some(found);
                }
            }
            None
        }
        find(&self.graph.as_ref()?.nests, name)
    }

    /// The names of the models nested in this one (used as its layers), outermost first.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let base = Sequential::with_name("base", [Dense::new(4).input_shape(3).into()])?;
    /// let model = Sequential::new([base.into(), Dense::new(2).into()])?;
    /// assert_eq!(model.nested_models(), ["base"]);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn nested_models(&self) -> Vec<String> {
        fn walk(nests: &[Nest], out: &mut Vec<String>) {
            for n in nests {
                out.push(n.name.clone());
                for it in &n.items {
                    if let Item::Nest(m) = it {
                        walk(std::slice::from_ref(m), out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        if let Some(g) = &self.graph {
            walk(&g.nests, &mut out);
        }
        out
    }

    /// A layer by name (the layers of nested models too).
    pub fn get_layer(&self, name: &str) -> Option<&dyn Layer> {
        self.chain
            .layers
            .iter()
            .find(|l| l.name() == name)
            .map(|l| l.as_ref())
    }
    /// Per-sample input shape (no batch axis), once known.
    pub fn input_shape(&self) -> Option<&[usize]> {
        self.chain.input_shape.as_deref()
    }
    /// Per-sample output shape, once built.
    pub fn output_shape(&self) -> Option<&[usize]> {
        self.chain.output_shape()
    }
    /// Per-sample output shape of layer `i`, once built.
    pub fn layer_output_shape(&self, i: usize) -> Option<&[usize]> {
        self.chain.shapes.get(i).map(Vec::as_slice)
    }
    /// True once the weights exist.
    pub fn built(&self) -> bool {
        self.chain.built
    }
    /// The seed the weights were drawn from.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Re-seeds the model and, when built, redraws all weights from the new seed.
    ///
    /// # Errors
    /// As [`Model::build`].
    pub fn set_seed(&mut self, seed: u64) -> Result<()> {
        self.seed = seed;
        if let Some(shape) = self.chain.input_shape.clone() {
            if self.chain.built {
                self.build(&shape)?;
            }
        }
        Ok(())
    }

    /// Builds the model for a per-sample input shape (done automatically when the first
    /// layer declares `input_shape`, or at the first `fit`/`predict`).
    ///
    /// # Errors
    /// A layer that cannot take its input; the error names the layer.
    pub fn build(&mut self, input_shape: &[usize]) -> Result<()> {
        self.chain.build(input_shape, self.seed)?;
        if let Some(c) = &mut self.compiled {
            // New weights: the optimizer's slots are rebuilt at the next step.
            c.slot_sizes.clear();
        }
        Ok(())
    }

    /// Total number of weights (trainable and not).
    pub fn count_params(&self) -> usize {
        self.chain
            .layers
            .iter()
            .flat_map(|l| l.params())
            .map(|p| p.value.len())
            .sum()
    }

    /// Configures training: optimizer, loss and metrics, by Keras name or as values. A
    /// model with several outputs applies the loss and metrics to each of them (see
    /// [`Model::compile_outputs`] for one loss per output).
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut m = Sequential::new([Dense::new(3).activation("softmax").input_shape(4).into()])?;
    /// m.compile(Adam::default(), "categorical_crossentropy", &["accuracy"])?;
    /// assert!(m.compile("adamx", "mse", &[]).is_err());
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// Unknown optimizer, loss or metric names (listing the known ones).
    pub fn compile(
        &mut self,
        optimizer: impl Into<OptimizerSpec>,
        loss: impl Into<LossSpec>,
        metrics: &[&str],
    ) -> Result<()> {
        let names = self.output_names();
        if names.len() > 1 {
            let loss = loss.into().resolve()?;
            let outs: Vec<OutputLoss> = names
                .iter()
                .map(|n| OutputLoss::new(n, loss).metrics(metrics))
                .collect();
            return self.compile_outputs(optimizer, outs);
        }
        let optimizer = optimizer.into().resolve()?;
        crate::optimizers::check_lr(optimizer.learning_rate())?;
        optimizer.options().validate()?;
        let loss = loss.into().resolve()?;
        let metrics = metrics
            .iter()
            .map(|m| Metric::from_name(m))
            .collect::<Result<Vec<_>>>()?;
        let name = names.first().cloned().unwrap_or_else(|| "output".into());
        let heads = vec![heads::Head::single(&name, loss, metrics)];
        let log_order = heads::log_order(&heads);
        let mut c = Compiled {
            optimizer,
            heads,
            log_order,
            slot_sizes: Vec::new(),
        };
        if self.built() {
            c.bind(&self.output_shapes());
        }
        self.compiled = Some(c);
        Ok(())
    }

    /// As [`compile`](Self::compile), with metric values: configured ones
    /// (`Metric::precision("precision", Some(0.3), None, None)?`, `Metric::auc("pr_auc", 200,
    /// "PR")?`, `Metric::top_k("top3", 3, true)?`) or your own ([`Metric::custom`]).
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// use rkeras::metrics::Metric;
    /// let mut m = Sequential::new([Dense::new(1).activation("sigmoid").input_shape(3).into()])?;
    /// m.compile_with_metrics("adam", "binary_crossentropy", vec![
    ///     Metric::from_name("accuracy")?,
    ///     Metric::auc("pr_auc", 200, "PR")?,
    /// ])?;
    /// assert_eq!(m.metrics_names(), ["loss", "accuracy", "pr_auc"]);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`compile`](Self::compile); a model with several outputs (use
    /// [`compile_outputs`](Self::compile_outputs)).
    pub fn compile_with_metrics(
        &mut self,
        optimizer: impl Into<OptimizerSpec>,
        loss: impl Into<LossSpec>,
        metrics: Vec<Metric>,
    ) -> Result<()> {
        self.compile(optimizer, loss, &[])?;
        if self.output_names().len() > 1 {
            return Err(Error::arg(
                "metrics",
                "",
                "a model with several outputs takes its metrics per output: use compile_outputs",
            ));
        }
        if let Some(c) = self.compiled.as_mut() {
            let name = c.heads[0].name.clone();
            let loss = c.heads[0].loss;
            let (cols, len, off) = (c.heads[0].cols, c.heads[0].len, c.heads[0].off);
            let mut head = heads::Head::single(&name, loss, metrics);
            head.cols = cols;
            head.len = len;
            head.off = off;
            c.heads = vec![head];
            c.log_order = heads::log_order(&c.heads);
        }
        Ok(())
    }

    /// Configures training of a model with several outputs: one loss, loss weight and
    /// metrics per output, named by its layer (Keras's `compile(loss={...},
    /// loss_weights={...}, metrics={...})`). The loss `fit` minimises is the weighted sum;
    /// the logs hold it as `loss`, and each output's own loss and metrics as `<name>_loss`,
    /// `<name>_<metric>`.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let x = Input::new(6);
    /// let h = Dense::new(8).activation("relu").call(&x)?;
    /// let cls = Dense::new(3).activation("softmax").name("cls").call(&h)?;
    /// let reg = Dense::new(1).name("reg").call(&h)?;
    /// let mut model = Model::functional(&x, [&cls, &reg])?;
    /// model.compile_outputs("adam", [
    ///     OutputLoss::new("cls", "sparse_categorical_crossentropy").metrics(&["accuracy"]),
    ///     OutputLoss::new("reg", "mse").loss_weight(0.5).metrics(&["mae"]),
    /// ])?;
    /// assert_eq!(model.metrics_names(), ["loss", "cls_accuracy", "cls_loss", "reg_loss", "reg_mae"]);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// An output name the model does not have, an output left without a loss or given two,
    /// a negative or non-finite weight; unknown optimizer, loss or metric names.
    pub fn compile_outputs(
        &mut self,
        optimizer: impl Into<OptimizerSpec>,
        outputs: impl IntoIterator<Item = OutputLoss>,
    ) -> Result<()> {
        let names = self.output_names();
        let shapes = self.output_shapes();
        let optimizer = optimizer.into().resolve()?;
        crate::optimizers::check_lr(optimizer.learning_rate())?;
        optimizer.options().validate()?;
        let mut given: Vec<Option<OutputLoss>> = (0..names.len()).map(|_| None).collect();
        for o in outputs {
            let Some(i) = names.iter().position(|n| *n == o.name) else {
                return Err(Error::arg(
                    "loss",
                    "",
                    format!(
                        "the model has no output named \"{}\"; its outputs are {names:?}",
                        o.name
                    ),
                ));
            };
            if !(o.weight.is_finite() && o.weight >= 0.0) {
                return Err(Error::arg(
                    "loss_weights",
                    "",
                    format!(
                        "output \"{}\": expected a finite weight >= 0, received {}",
                        o.name, o.weight
                    ),
                ));
            }
            if given[i].replace(o).is_some() {
                return Err(Error::arg(
                    "loss",
                    "",
                    format!("output \"{}\" is given two losses", names[i]),
                ));
            }
        }
        let mut heads = Vec::new();
        let mut off = 0;
        for ((name, shape), o) in names.iter().zip(&shapes).zip(given) {
            let o = o.ok_or_else(|| {
                Error::arg(
                    "loss",
                    "",
                    format!("output \"{name}\" has no loss; give one for every output {names:?}"),
                )
            })?;
            let loss = o.loss.resolve()?;
            let mut metrics = o
                .metrics
                .iter()
                .map(|m| Metric::from_name(m))
                .collect::<Result<Vec<_>>>()?;
            metrics.extend(o.values);
            let mut head = heads::Head::new(name, loss, o.weight, metrics);
            head.off = off;
            head.len = crate::shape::numel(shape);
            head.cols = shape.last().copied().unwrap_or(1);
            off += head.len;
            heads.push(head);
        }
        let log_order = heads::log_order(&heads);
        self.compiled = Some(Compiled {
            optimizer,
            heads,
            log_order,
            slot_sizes: Vec::new(),
        });
        Ok(())
    }

    /// The optimizer, once compiled.
    pub fn optimizer(&self) -> Option<&dyn Optimizer> {
        self.compiled.as_ref().map(|c| c.optimizer.as_ref())
    }
    /// The optimizer, mutable (learning-rate schedules).
    pub fn optimizer_mut(&mut self) -> Option<&mut (dyn Optimizer + 'static)> {
        self.compiled.as_mut().map(|c| c.optimizer.as_mut())
    }
    /// Swaps the trainable weights with the optimizer's exponential moving averages (an
    /// optimizer with `use_ema(true)`, after at least one step); a second call swaps back.
    /// [`SwapEMAWeights`](crate::callbacks::SwapEMAWeights) calls it around evaluation.
    ///
    /// # Errors
    /// A model that is not compiled, or whose optimizer keeps no averages (named, with
    /// Keras's message).
    pub fn swap_ema_weights(&mut self) -> Result<()> {
        let Model {
            chain, compiled, ..
        } = self;
        let swapped = compiled.as_mut().is_some_and(|c| c.swap_ema(chain));
        if swapped {
            Ok(())
        } else {
            Err(Error::State(
                "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer (and \
                 after the first training step)"
                    .into(),
            ))
        }
    }

    /// True while [`swap_ema_weights`](Self::swap_ema_weights) has put the averages in the
    /// model.
    pub fn ema_weights_in_model(&self) -> bool {
        self.optimizer().is_some_and(|o| o.options().swapped)
    }

    /// The end of `fit` (Keras's `optimizer.finalize_variable_values`): with `use_ema`, the
    /// model keeps the moving averages.
    pub(crate) fn finalize_optimizer(&mut self) {
        let Model {
            chain, compiled, ..
        } = self;
        if let Some(c) = compiled
            .as_mut()
            .filter(|c| crate::optimizers::saved_iterations(c.optimizer.as_ref()) > 0)
        {
            c.optimizer
                .options_mut()
                .finalize(chain.trainable_params_mut());
        }
    }

    /// The loss, once compiled.
    pub fn loss(&self) -> Option<Loss> {
        self.compiled.as_ref().map(Compiled::loss)
    }
    /// The optimizer's slot variables in Keras's order, with the shape of the weight each
    /// belongs to (empty before the first training step).
    pub(crate) fn optimizer_state(&self) -> Vec<(Vec<usize>, Vec<f32>)> {
        let shapes = self.trainable_shapes();
        self.optimizer()
            .map(|o| {
                // The base optimizer's averages and accumulators come first, as in Keras.
                let mut all = o.options().state();
                all.extend(o.state());
                all.into_iter()
                    .filter_map(|(i, v)| shapes.get(i).map(|s| (s.clone(), v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Keras's path of a layer's variable: `model/layer/weight` in a Sequential model,
    /// `layer/weight` in a functional one (which opens no name scope of its own).
    pub(crate) fn variable_path(&self, layer: &str, weight: &str) -> String {
        if self.is_functional() {
            format!("{layer}/{weight}")
        } else {
            format!("{}/{layer}/{weight}", self.name())
        }
    }

    /// Every weight as (Keras's variable path, shape, values), layer by layer (what Keras's
    /// TensorBoard callback walks for its histograms).
    pub(crate) fn weight_paths_and_values(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        self.chain
            .layers
            .iter()
            .flat_map(|l| {
                l.params()
                    .iter()
                    .map(|p| {
                        (
                            self.variable_path(l.name(), p.name),
                            p.shape.clone(),
                            p.value.clone(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Keras's variable paths of the trainable weights, in the optimizer's slot order.
    pub(crate) fn trainable_paths(&self) -> Vec<String> {
        self.chain
            .layers
            .iter()
            .filter(|l| l.base().trainable)
            .flat_map(|l| {
                l.params()
                    .iter()
                    .filter(|p| p.trainable)
                    .map(|p| self.variable_path(l.name(), p.name))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Shapes of the trainable weights, in the optimizer's slot order.
    pub(crate) fn trainable_shapes(&self) -> Vec<Vec<usize>> {
        self.chain
            .layers
            .iter()
            .filter(|l| l.base().trainable)
            .flat_map(|l| {
                l.params()
                    .iter()
                    .filter(|p| p.trainable)
                    .map(|p| p.shape.clone())
            })
            .collect()
    }

    /// Restores the optimizer's iteration count, learning rate and slots.
    pub(crate) fn set_optimizer_state(
        &mut self,
        iterations: u64,
        learning_rate: Option<f32>,
        slots: Vec<(Vec<usize>, Vec<f32>)>,
    ) -> Result<()> {
        let Some(c) = self.compiled.as_mut() else {
            return Ok(());
        };
        if slots.is_empty() && iterations == 0 {
            return Ok(());
        }
        c.build_optimizer(&self.chain);
        let arrays: Vec<Vec<f32>> = slots.into_iter().map(|(_, v)| v).collect();
        let base = c.optimizer.options().state_len().min(arrays.len());
        c.optimizer
            .options_mut()
            .set_state(&arrays[..base])
            .and_then(|()| c.optimizer.set_state(&arrays[base..]))
            .map_err(|e| Error::Data(format!("optimizer state does not fit the model: {e}")))?;
        crate::optimizers::restore_iterations(c.optimizer.as_mut(), iterations);
        if let Some(lr) = learning_rate.filter(|l| l.is_finite() && *l > 0.0) {
            c.optimizer.set_learning_rate(lr);
        }
        Ok(())
    }

    /// The weights of layer `i`, mutable.
    pub(crate) fn layer_params_mut(&mut self, i: usize) -> &mut [crate::layers::Param] {
        self.chain.layers[i].params_mut()
    }

    /// Metric names in compile order, the loss first (several outputs: the loss, then
    /// every output's loss and metrics sorted by name, as Keras logs them).
    pub fn metrics_names(&self) -> Vec<String> {
        match &self.compiled {
            Some(c) => c.log_names(),
            None => vec!["loss".to_string()],
        }
    }

    /// Copies of all weights, layer by layer (kernel then bias), as Keras's `get_weights()`.
    pub fn get_weights(&self) -> Vec<Tensor> {
        self.chain
            .layers
            .iter()
            .flat_map(|l| l.params())
            .map(|p| {
                Tensor::new(p.shape.clone(), p.value.clone())
                    .unwrap_or_else(|_| Tensor::zeros(vec![0]))
            })
            .collect()
    }

    /// The weights holding NaN or infinity: `(layer name, weight name, how many values)`,
    /// in layer order. A model trained into NaN predicts the same nonsense for every input;
    /// loading one prints a warning built from this list.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut m = Sequential::new([Dense::new(2).input_shape(3).into()])?;
    /// assert!(m.non_finite_weights().is_empty());
    /// let mut w = m.get_weights();
    /// w[1] = Tensor::new(vec![2], vec![f32::NAN, 0.0])?;
    /// m.set_weights(&w)?;
    /// assert_eq!(m.non_finite_weights(), vec![("dense".to_string(), "bias", 1)]);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn non_finite_weights(&self) -> Vec<(String, &'static str, usize)> {
        self.chain
            .layers
            .iter()
            .flat_map(|l| l.params().iter().map(move |p| (l.name(), p)))
            .filter_map(|(layer, p)| {
                let bad = p.value.iter().filter(|v| !v.is_finite()).count();
                (bad > 0).then(|| (layer.to_string(), p.name, bad))
            })
            .collect()
    }

    /// Replaces all weights, in [`Model::get_weights`] order.
    ///
    /// # Errors
    /// Wrong count or a shape that does not match (naming the layer and both shapes).
    pub fn set_weights(&mut self, weights: &[Tensor]) -> Result<()> {
        let expected: usize = self.chain.layers.iter().map(|l| l.params().len()).sum();
        if weights.len() != expected {
            return Err(Error::Data(format!(
                "set_weights: expected {expected} arrays, received {}",
                weights.len()
            )));
        }
        let mut it = weights.iter();
        for l in &self.chain.layers {
            for p in l.params() {
                let w = it
                    .next()
                    .ok_or_else(|| Error::Data("set_weights: too few arrays".into()))?;
                if w.shape() != p.shape.as_slice() {
                    return Err(Error::Data(format!(
                        "set_weights: layer \"{}\" weight \"{}\" expected shape {:?}, received {:?}",
                        l.name(),
                        p.name,
                        p.shape,
                        w.shape()
                    )));
                }
            }
        }
        let mut it = weights.iter();
        for l in &mut self.chain.layers {
            for p in l.params_mut() {
                if let Some(w) = it.next() {
                    p.value.copy_from_slice(w.data());
                }
            }
        }
        Ok(())
    }

    /// Sets the most sample groups a batch splits into (default 2, or `RKERAS_SAMPLE_GROUPS`).
    /// In a Sequential model, each run of layers that treat samples one by one
    /// (convolutions, poolings, flatten, activations, reshapes) runs group by group, the groups side by
    /// side on the thread pool: one group per 16 samples, up to this many, with one parallel
    /// region per run instead of one per layer. `1` runs layer at a time. The split depends
    /// on the batch size alone, so results do not depend on the thread count; they differ
    /// from another setting's by float reassociation of the weight gradients.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut model = Sequential::new([
    ///     Conv2D::new(4, 3).activation("relu").input_shape((8, 8, 1)).into(),
    ///     MaxPooling2D::new((2, 2)).into(),
    ///     Flatten::new().into(),
    ///     Dense::new(2).activation("softmax").into(),
    /// ])?;
    /// model.compile("sgd", "categorical_crossentropy", &[])?;
    /// let x = Tensor::new(vec![32, 8, 8, 1], vec![0.5; 32 * 64])?;
    /// let grouped = model.predict(&x)?;
    /// model.set_sample_groups(1);
    /// let layer_at_a_time = model.predict(&x)?;
    /// for (a, b) in grouped.data().iter().zip(layer_at_a_time.data()) {
    ///     assert!((a - b).abs() < 1e-6);
    /// }
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn set_sample_groups(&mut self, max_groups: usize) {
        self.chain.set_group_cap(max_groups);
    }

    /// Turns per-layer timing on (and resets it) or off. See [`Model::layer_timings`].
    pub fn set_profiling(&mut self, on: bool) {
        self.chain.timings = on.then(|| vec![(0.0, 0.0); self.chain.layers.len()]);
        self.chain.kernel_only = None;
    }

    /// As [`Model::set_profiling`], and, for a Sequential model, also times the weight
    /// gradients apart: before each layer's backward call, an extra call computes its weight
    /// gradients only (on a copy of its output gradient, then discarded). Training stays
    /// the same, but each step costs that extra call: for measuring, not for training.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let mut model = Sequential::new([
    ///     Dense::new(4).activation("relu").input_shape(3).into(),
    ///     Dense::new(2).into(),
    /// ])?;
    /// model.compile(SGD::new(), "mse", &[])?;
    /// let x = Tensor::new(vec![8, 3], vec![0.5; 24])?;
    /// let y = Tensor::new(vec![8, 2], vec![1.0; 16])?;
    /// model.set_profiling_split(true);
    /// model.fit(&x, &y).epochs(1).verbose(0).run()?;
    /// assert_eq!(model.layer_weight_grad_timings().len(), 2);
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn set_profiling_split(&mut self, on: bool) {
        self.set_profiling(on);
        self.chain.kernel_only = on.then(|| (vec![0.0; self.chain.layers.len()], Vec::new()));
    }

    /// Seconds spent computing each layer's weight gradients alone, since
    /// [`Model::set_profiling_split`] turned it on (empty otherwise, and for functional
    /// models): the rest of [`Model::layer_timings`]'s backward seconds is the input
    /// gradient.
    pub fn layer_weight_grad_timings(&self) -> Vec<f64> {
        match (&self.chain.kernel_only, self.chain.wiring.is_none()) {
            (Some((secs, _)), true) => secs.clone(),
            _ => Vec::new(),
        }
    }

    /// Accumulated `(layer name, forward seconds, backward seconds)` since profiling was
    /// turned on (backward = grad-input and grad-kernel together).
    pub fn layer_timings(&self) -> Vec<(String, f64, f64)> {
        match &self.chain.timings {
            Some(t) => self
                .chain
                .layers
                .iter()
                .zip(t)
                .map(|(l, &(f, b))| (l.name().to_string(), f, b))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Prints the Keras summary table to stdout.
    pub fn summary(&self) {
        print!("{}", self.summary_string(None));
    }

    /// The Keras summary table as text; `line_length` defaults as Keras (terminal width).
    pub fn summary_string(&self, line_length: Option<usize>) -> String {
        summary::render(self, line_length)
    }
}
