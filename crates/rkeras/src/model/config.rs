//! Keras's `get_config()` of a model: the Sequential and Functional configs (nested models
//! included) with build and compile configs, as `config.json` and `to_json` hold them.

use super::Model;
use crate::layers::full_config;
use serde_json::{json, Value};

fn batch_shape(dims: &[usize]) -> Value {
    let mut v = vec![Value::Null];
    v.extend(dims.iter().map(|d| json!(d)));
    Value::Array(v)
}

/// Keras's `model.get_config()` wrapper for a Sequential model, with build and compile
/// configs (what `config.json` holds).
pub(crate) fn model_config(model: &Model) -> Value {
    let sequential = model.graph.as_ref().is_some_and(|g| g.sequential);
    let mut cfg = if model.is_functional() && !sequential {
        functional_config(model)
    } else {
        sequential_config(model)
    };
    if let (Some(opt), Some(c)) = (model.optimizer(), model.compiled.as_ref()) {
        // A head's compiled `metrics` (`weighted: false`) or `weighted_metrics`.
        let list = |h: &crate::model::heads::Head, weighted: bool| -> Vec<Value> {
            h.metrics
                .iter()
                .filter(|m| m.is_weighted() == weighted)
                .map(|m| m.to_config())
                .collect()
        };
        let (loss, weights, metrics, weighted) = if c.heads.len() == 1 {
            let or_null = |v: Vec<Value>| if v.is_empty() { Value::Null } else { json!(v) };
            (
                c.loss().to_config(),
                Value::Null,
                or_null(list(&c.heads[0], false)),
                or_null(list(&c.heads[0], true)),
            )
        } else {
            let mut loss = serde_json::Map::new();
            let mut weights = serde_json::Map::new();
            let mut metrics = serde_json::Map::new();
            let mut weighted = serde_json::Map::new();
            for h in &c.heads {
                loss.insert(h.name.clone(), h.loss.to_config());
                weights.insert(h.name.clone(), crate::optimizers::py_float(h.weight));
                metrics.insert(h.name.clone(), json!(list(h, false)));
                let w = list(h, true);
                if !w.is_empty() {
                    weighted.insert(h.name.clone(), json!(w));
                }
            }
            let weighted = if weighted.is_empty() {
                Value::Null
            } else {
                Value::Object(weighted)
            };
            (
                Value::Object(loss),
                Value::Object(weights),
                Value::Object(metrics),
                weighted,
            )
        };
        cfg["compile_config"] = json!({
            "optimizer": opt.config(),
            "loss": loss,
            "loss_weights": weights,
            "metrics": metrics,
            "weighted_metrics": weighted,
            "run_eagerly": false,
            "steps_per_execution": 1,
            "jit_compile": true,
        });
    }
    cfg
}

/// A symbolic tensor reference of a functional config (`__keras_tensor__`).
fn keras_tensor(shape: &[usize], producer: &str, node: usize, tensor: usize) -> Value {
    json!({"class_name": "__keras_tensor__", "config": {
        "shape": batch_shape(shape), "dtype": "float32",
        "keras_history": [producer, node, tensor]}})
}

/// `[name, node, tensor]` triples: one bare for a single endpoint, a list for several (as
/// Keras).
fn endpoints(refs: Vec<(String, usize, usize)>) -> Value {
    let triples: Vec<Value> = refs.into_iter().map(|(n, k, t)| json!([n, k, t])).collect();
    match <[Value; 1]>::try_from(triples) {
        Ok([one]) => one,
        Err(many) => Value::Array(many),
    }
}

/// A layer's `registered_name`: `null` for Keras's own layers, the class for the layers of a
/// keras.applications module.
fn registered_name(l: &dyn crate::layers::Layer) -> Value {
    if l.module() == "keras.layers" {
        Value::Null
    } else {
        json!(l.class_name())
    }
}

/// Keras's Functional config: the layers in Keras's order (inputs included), each with the
/// `inbound_nodes` of its calls.
fn functional_config(model: &Model) -> Value {
    let (Some(w), Some(g)) = (model.chain.wiring.as_ref(), model.graph.as_ref()) else {
        return Value::Null;
    };
    let tensor = |a: usize| {
        let (name, node, t) = model.act_producer(a);
        keras_tensor(model.chain.act_shape(a), &name, node, t)
    };
    let mut calls_of: Vec<Vec<usize>> = vec![Vec::new(); model.layers().len()];
    for (i, c) in w.calls.iter().enumerate() {
        calls_of[c.layer].push(i);
    }
    let mut layers = Vec::new();
    for entry in &g.order {
        match *entry {
            crate::model::Entry::Input(j) => {
                let name = &g.input_names[j];
                layers.push(json!({
                    "module": "keras.layers", "class_name": "InputLayer",
                    "config": {"batch_shape": batch_shape(&w.inputs[j]), "dtype": "float32",
                               "sparse": false, "ragged": false, "name": name, "optional": false},
                    "registered_name": null, "name": name, "inbound_nodes": []}));
            }
            crate::model::Entry::Nest(k) => {
                let nest = &g.nests[k];
                let mut entry = nest.config_entry(model);
                let kwargs = match nest.training {
                    Some(t) => json!({"training": t}),
                    None => json!({}),
                };
                // One node per call (a shared nested model has several).
                let nodes: Vec<Value> = nest
                    .calls
                    .iter()
                    .map(|c| {
                        let tensors: Vec<Value> = c.ins.iter().map(|&a| tensor(a)).collect();
                        // Several inputs go as one list (Keras's `inner([a, b])`).
                        let args = match tensors.len() {
                            1 => json!(tensors),
                            _ => json!([tensors]),
                        };
                        json!({"args": args, "kwargs": kwargs})
                    })
                    .collect();
                entry["name"] = json!(nest.name);
                entry["inbound_nodes"] = json!(nodes);
                layers.push(entry);
            }
            crate::model::Entry::Layer(i) => {
                let l = &model.layers()[i];
                let mut nodes = Vec::new();
                let mut build_shape = Value::Null;
                for &c in &calls_of[i] {
                    let ins = &w.calls[c].ins;
                    let tensors: Vec<Value> = ins.iter().map(|&a| tensor(a)).collect();
                    let (args, shape) = if l.is_merge() {
                        let shapes: Vec<Value> = ins
                            .iter()
                            .map(|&a| batch_shape(model.chain.act_shape(a)))
                            .collect();
                        (json!([tensors]), json!(shapes))
                    } else {
                        let first = ins.first().copied().unwrap_or(0);
                        (json!(tensors), batch_shape(model.chain.act_shape(first)))
                    };
                    if build_shape.is_null() {
                        build_shape = shape;
                    }
                    let args = l.op_call(&tensors).map_or(args, |(_, a)| a);
                    nodes.push(json!({"args": args, "kwargs": {}}));
                }
                if let Some((module, _)) = l.op_call(&[]) {
                    layers.push(json!({
                        "module": module,
                        "class_name": l.class_name(),
                        "config": full_config(l.as_ref()),
                        "registered_name": l.class_name(),
                        "name": l.name(),
                        "inbound_nodes": nodes,
                    }));
                    continue;
                }
                layers.push(json!({
                    "module": l.module(),
                    "class_name": l.class_name(),
                    "config": full_config(l.as_ref()),
                    "registered_name": registered_name(l.as_ref()),
                    "build_config": {"input_shape": build_shape},
                    "name": l.name(),
                    "inbound_nodes": nodes,
                }));
            }
        }
    }
    let inputs: Vec<(String, usize, usize)> =
        g.input_names.iter().map(|n| (n.clone(), 0, 0)).collect();
    // Keras counts a nested functional model's own node (its inputs to its outputs) among
    // its nodes in `output_layers` (not in `inbound_nodes`): its first call is node 1.
    let outputs: Vec<(String, usize, usize)> = w
        .outputs
        .iter()
        .map(|&o| {
            let (name, node, t) = model.act_producer(o);
            let functional = g
                .nests
                .iter()
                .any(|n| n.name == name && n.class == "Functional");
            (name, node + usize::from(functional), t)
        })
        .collect();
    json!({
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": model.name(),
            "trainable": true,
            "layers": layers,
            "input_layers": endpoints(inputs),
            "output_layers": endpoints(outputs),
        },
        "registered_name": "Functional",
        "build_config": {"input_shape": null},
    })
}

/// Keras's `model.get_config()` wrapper for a Sequential model, with its build config.
fn sequential_config(model: &Model) -> Value {
    let input = model
        .input_shape()
        .map(<[usize]>::to_vec)
        .unwrap_or_default();
    let mut layers = Vec::new();
    let first_is_input = model
        .layers()
        .first()
        .is_some_and(|l| l.class_name() == "InputLayer");
    if !first_is_input {
        layers.push(json!({
            "module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": batch_shape(&input), "dtype": "float32", "sparse": false,
                       "ragged": false, "name": "input_layer", "optional": false},
            "registered_name": null}));
    }
    // The top-level entries with the per-sample shape each reads.
    let mut top: Vec<(Option<usize>, Option<usize>, Vec<usize>)> = Vec::new();
    match (&model.graph, &model.chain.wiring) {
        (Some(g), Some(w)) => {
            for e in &g.order {
                match *e {
                    crate::model::Entry::Input(_) => {}
                    crate::model::Entry::Layer(i) => {
                        let a = w
                            .calls
                            .iter()
                            .find(|c| c.layer == i)
                            .and_then(|c| c.ins.first());
                        let shape = a.map(|&a| model.chain.act_shape(a).to_vec());
                        top.push((Some(i), None, shape.unwrap_or_default()));
                    }
                    crate::model::Entry::Nest(k) => {
                        let a = g.nests[k].calls.first().and_then(|c| c.ins.first());
                        let shape = a.map(|&a| model.chain.act_shape(a).to_vec());
                        top.push((None, Some(k), shape.unwrap_or_default()));
                    }
                }
            }
        }
        _ => {
            for i in 0..model.layers().len() {
                let shape_in = if i == 0 {
                    input.clone()
                } else {
                    model
                        .layer_output_shape(i - 1)
                        .map(<[usize]>::to_vec)
                        .unwrap_or_default()
                };
                top.push((Some(i), None, shape_in));
            }
        }
    }
    for (layer, nest, shape_in) in top {
        if let (Some(k), Some(g)) = (nest, &model.graph) {
            layers.push(g.nests[k].config_entry(model));
            continue;
        }
        let Some(i) = layer else { continue };
        let l = &model.layers()[i];
        let mut entry = json!({
            "module": l.module(),
            "class_name": l.class_name(),
            "config": full_config(l.as_ref()),
            "registered_name": registered_name(l.as_ref()),
        });
        if l.class_name() == "InputLayer" {
            if let Some(c) = entry["config"].as_object_mut() {
                // Keras keeps an InputLayer's config without trainable/dtype policy.
                c.remove("trainable");
                c.insert("dtype".into(), json!("float32"));
            }
        } else {
            entry["build_config"] = json!({"input_shape": batch_shape(&shape_in)});
        }
        layers.push(entry);
    }
    json!({
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": model.name(),
            "trainable": true,
            "dtype": crate::layers::dtype_policy(),
            "layers": layers,
            "build_input_shape": batch_shape(&input),
        },
        "registered_name": null,
        "build_config": {"input_shape": batch_shape(&input)},
    })
}
