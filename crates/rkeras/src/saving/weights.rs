//! Keras 3's weight layout, used by `.weights.h5` files and inside `.keras` archives:
//! `layers/<key>/vars/<i>` per layer (`<key>` is the snake-case class name, numbered per
//! class: `conv2d`, `conv2d_1`), `optimizer/vars/<i>` (iteration, learning rate unless it is a schedule, then the
//! slots of each trainable variable), and `vars` with the model's name.

use super::h5::{Data, Group, Reader};
use crate::error::{Error, Result};
use crate::layers::{snake_case, Layer};
use crate::model::Model;
use std::collections::HashMap;
use std::path::Path;

/// Numbers storage keys per container: the snake-case class name, then `_1`, `_2`, ...
#[derive(Default)]
struct Keys(HashMap<String, usize>);

impl Keys {
    fn next(&mut self, class: &str) -> String {
        let base = snake_case(class);
        let k = self.0.entry(base.clone()).or_insert(0);
        let key = if *k == 0 { base } else { format!("{base}_{k}") };
        *k += 1;
        key
    }
}

/// The storage path of every layer (InputLayer excluded, as Keras's Sequential does):
/// `layers/conv2d`, and for a layer of a nested model `layers/functional/layers/conv2d`.
pub(crate) fn layer_paths(model: &Model) -> Vec<(usize, String)> {
    let layers = model.layers();
    let mut out = Vec::new();
    fn nest_paths(
        nest: &crate::model::Nest,
        prefix: &str,
        layers: &[Box<dyn Layer>],
        out: &mut Vec<(usize, String)>,
    ) {
        let mut keys = Keys::default();
        for it in &nest.items {
            match it {
                crate::model::Item::Layer(i) => {
                    if layers[*i].class_name() != "InputLayer" {
                        let key = keys.next(layers[*i].class_name());
                        out.push((*i, format!("{prefix}/layers/{key}")));
                    }
                }
                crate::model::Item::Nest(n) => {
                    let key = keys.next(n.class);
                    nest_paths(n, &format!("{prefix}/layers/{key}"), layers, out);
                }
            }
        }
    }
    let mut keys = Keys::default();
    match &model.graph {
        Some(g) if !g.nests.is_empty() => {
            for e in &g.order {
                match *e {
                    crate::model::Entry::Input(_) => {}
                    crate::model::Entry::Layer(i) => {
                        let key = keys.next(layers[i].class_name());
                        out.push((i, format!("layers/{key}")));
                    }
                    crate::model::Entry::Nest(k) => {
                        let n = &g.nests[k];
                        let key = keys.next(n.class);
                        nest_paths(n, &format!("layers/{key}"), layers, &mut out);
                    }
                }
            }
        }
        _ => {
            for (i, l) in layers.iter().enumerate() {
                if l.class_name() != "InputLayer" {
                    out.push((i, format!("layers/{}", keys.next(l.class_name()))));
                }
            }
        }
    }
    out
}

/// The weight tree of `model` (optimizer state included when it has one).
pub(crate) fn tree(model: &Model, path: &Path) -> Result<Group> {
    if !model.built() {
        return Err(Error::State(format!(
            "{}: the model has no weights yet: build it (give an input shape) or train it before saving",
            path.display()
        )));
    }
    let mut root = Group::new("");
    root.child("layers");
    for (i, path) in layer_paths(model) {
        let l = &model.layers()[i];
        let mut g = &mut root;
        for part in path.split('/') {
            g = g.child(part);
        }
        let g = g.child("vars");
        g.attr_str("name", l.name());
        for (k, p) in l.params().iter().enumerate() {
            g.dataset(&k.to_string(), &p.shape, Data::F32(p.value.clone()));
        }
    }
    if let Some(opt) = model.optimizer() {
        let g = root.child("optimizer").child("vars");
        g.attr_str("name", &snake_case(opt.class_name()));
        g.dataset(
            "0",
            &[],
            Data::I64(vec![crate::optimizers::saved_iterations(opt) as i64]),
        );
        // A scheduled rate is no variable in Keras: the slots follow the iteration.
        let first = if opt.options().schedule.is_some() {
            1
        } else {
            g.dataset("1", &[], Data::F32(vec![opt.learning_rate()]));
            2
        };
        for (idx, (shape, values)) in (first..).zip(model.optimizer_state()) {
            g.dataset(&idx.to_string(), &shape, Data::F32(values));
        }
    }
    if let Some(g) = &model.graph {
        // A functional model's layer list holds its InputLayers (no weights).
        let inputs = g.order.iter().filter_map(|e| match e {
            crate::model::Entry::Input(j) => Some(*j),
            crate::model::Entry::Layer(_) | crate::model::Entry::Nest(_) => None,
        });
        for (k, j) in inputs.enumerate() {
            let key = if k == 0 {
                "input_layer".to_string()
            } else {
                format!("input_layer_{k}")
            };
            root.child("layers")
                .child(&key)
                .child("vars")
                .attr_str("name", &g.input_names[j]);
        }
    }
    root.child("vars").attr_str("name", model.name());
    Ok(root)
}

pub(crate) fn to_h5(model: &Model, path: &Path) -> Result<Vec<u8>> {
    super::h5::to_bytes(&tree(model, path)?, path)
}

/// Loads the weight tree found under `prefix` of `r` into `model`.
pub(crate) fn load(model: &mut Model, r: &Reader, prefix: &str) -> Result<()> {
    if !model.built() {
        return Err(Error::State(
            "the model must be built (have an input shape) before loading weights".into(),
        ));
    }
    let p = |s: &str| format!("{prefix}{s}");
    if !r.has_group(&p("layers")) {
        return Err(Error::Data(
            "this HDF5 file has no `layers` group: it is not a Keras 3 weights file (a legacy full-model .h5 is loaded with load_model)".into(),
        ));
    }
    let keys = layer_paths(model);
    let mut new_weights: Vec<(usize, Vec<Vec<f32>>)> = Vec::new();
    for (i, key) in &keys {
        let layer = &model.layers()[*i];
        let want: Vec<Vec<usize>> = layer.params().iter().map(|q| q.shape.clone()).collect();
        let vars = p(&format!("{key}/vars"));
        let found = if r.has_group(&vars) {
            r.datasets(&vars)?.len()
        } else {
            0
        };
        if found != want.len() {
            return Err(Error::Data(format!(
                "Layer '{}' expected {} variables, but received {found} variables during loading (stored under {key})",
                layer.name(),
                want.len()
            )));
        }
        let mut vals = Vec::new();
        for (k, shape) in want.iter().enumerate() {
            let got = r.shape(&format!("{vars}/{k}"))?;
            if &got != shape {
                return Err(Error::Data(format!(
                    "Layer '{}' weight {k} has shape {shape:?} but the file has {got:?} ({key}/vars/{k})",
                    layer.name()
                )));
            }
            vals.push(r.read_f32(&format!("{vars}/{k}"))?.1);
        }
        new_weights.push((*i, vals));
    }
    for (i, vals) in new_weights {
        for (param, v) in model.layer_params_mut(i).iter_mut().zip(vals) {
            param.take_values(v);
        }
    }
    let opt_path = p("optimizer/vars");
    if model.optimizer().is_some() && r.has_group(&opt_path) {
        let names = r.datasets(&opt_path)?;
        let scheduled = model
            .optimizer()
            .is_some_and(|o| o.options().schedule.is_some());
        // The iteration, the learning rate (no variable when it is a schedule), the slots.
        let first = if scheduled { 1 } else { 2 };
        if names.len() >= first {
            let it = r.read_i64_scalar(&format!("{opt_path}/0"))?.max(0) as u64;
            let lr = if scheduled {
                None
            } else {
                r.read_f32(&format!("{opt_path}/1"))?.1.first().copied()
            };
            let mut slots = Vec::new();
            for k in first..names.len() {
                slots.push(r.read_f32(&format!("{opt_path}/{k}"))?);
            }
            model.set_optimizer_state(it, lr, slots)?;
        }
    }
    Ok(())
}
