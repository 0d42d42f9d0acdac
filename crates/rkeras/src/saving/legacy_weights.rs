//! Keras 2's weight layout (legacy `.h5`): a group per layer, listed by the `layer_names`
//! attribute, each listing its datasets in `weight_names`. Full-model files keep it under
//! `model_weights`; weights-only files (`save_weights("x.h5")`, the weight files
//! keras.applications publishes, `_notop` ones included) at the root.

use super::h5::Reader;
use crate::error::{Error, Result};
use crate::model::Model;
use std::path::Path;

/// How layers of the file are matched to the model's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Match {
    /// The layers with weights, in order (Keras's default).
    Order,
    /// By layer name; layers of the model or the file without a partner are left alone.
    Name,
}

fn fmt_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Whether `group` holds the legacy layout (a `layer_names` attribute).
pub(crate) fn is_legacy(r: &Reader, group: &str) -> bool {
    matches!(r.attr_strs(group, "layer_names"), Ok(Some(_)))
}

/// A saved layer with weights.
struct Saved {
    /// Its name in the file.
    name: String,
    /// Its group's path.
    group: String,
    /// Its datasets, in order.
    weights: Vec<String>,
}

/// The saved layers with weights.
fn saved_layers(r: &Reader, group: &str) -> Result<Vec<Saved>> {
    // Layer names, possibly split in chunks layer_names0, layer_names1, ...
    let mut names = r.attr_strs(group, "layer_names")?.unwrap_or_default();
    let mut k = 0;
    while let Some(more) = r.attr_strs(group, &format!("layer_names{k}"))? {
        names.extend(more);
        k += 1;
    }
    let mut saved = Vec::new();
    for n in names {
        let g = if group.is_empty() || group == "/" {
            n.clone()
        } else {
            format!("{group}/{n}")
        };
        let w = r.attr_strs(&g, "weight_names")?.unwrap_or_default();
        if !w.is_empty() {
            saved.push(Saved {
                name: n,
                group: g,
                weights: w,
            });
        }
    }
    Ok(saved)
}

/// Loads the weights of `group` into `model`, matched as `how` says. A weight (by order) or
/// a layer (by name) whose shapes or count differ is skipped with `skip_mismatch` (the
/// returned messages say which, Keras's warnings), an error naming the layer and both shapes
/// otherwise.
pub(crate) fn load(
    model: &mut Model,
    r: &Reader,
    group: &str,
    how: Match,
    skip_mismatch: bool,
    path: &Path,
) -> Result<Vec<String>> {
    let saved = saved_layers(r, group)?;
    let with_weights: Vec<usize> = model
        .layers()
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.params().is_empty())
        .map(|(i, _)| i)
        .collect();
    // (model layer, file layer) pairs.
    let pairs: Vec<(usize, &Saved)> = match how {
        Match::Order => {
            if with_weights.len() != saved.len() {
                return Err(fmt_err(
                    path,
                    format!(
                        "Layer count mismatch when loading weights from file. Model expected {} layers, found {} saved layers.",
                        with_weights.len(),
                        saved.len()
                    ),
                ));
            }
            with_weights.into_iter().zip(&saved).collect()
        }
        Match::Name => saved
            .iter()
            .filter_map(|s| {
                with_weights
                    .iter()
                    .find(|&&i| model.layers()[i].name() == s.name)
                    .map(|&i| (i, s))
            })
            .collect(),
    };
    let mut skipped = Vec::new();
    for (li, saved) in pairs {
        let (file_name, group, wnames) = (&saved.name, &saved.group, &saved.weights);
        let layer_name = model.layers()[li].name().to_string();
        let shapes: Vec<Vec<usize>> = model.layers()[li]
            .params()
            .iter()
            .map(|p| p.shape.clone())
            .collect();
        if shapes.len() != wnames.len() {
            let msg = format!(
                "Weight count mismatch for layer {layer_name} ({file_name} in the file): the layer expects {} weight(s), the file has {}",
                shapes.len(),
                wnames.len()
            );
            if skip_mismatch && how == Match::Name {
                skipped.push(format!(
                    "Skipping loading weights of layer {layer_name}: {msg}"
                ));
                continue;
            }
            return Err(fmt_err(path, msg));
        }
        let mut layer_mismatch = None;
        let mut vals: Vec<Option<Vec<f32>>> = Vec::new();
        for (shape, wn) in shapes.iter().zip(wnames) {
            let got = r.shape(&format!("{group}/{wn}"))?;
            if &got != shape {
                let msg = format!(
                    "Shape mismatch in layer {layer_name} for weight {wn}: the layer expects shape {shape:?}, the file has {got:?}"
                );
                if !skip_mismatch {
                    return Err(fmt_err(path, msg));
                }
                layer_mismatch.get_or_insert(msg.clone());
                skipped.push(format!("Skipping loading weights: {msg}"));
                vals.push(None);
                continue;
            }
            vals.push(Some(r.read_f32(&format!("{group}/{wn}"))?.1));
        }
        // By name, a mismatch skips the whole layer (Keras's by_name); by order, the weight.
        if how == Match::Name && layer_mismatch.is_some() {
            continue;
        }
        for (p, v) in model.layer_params_mut(li).iter_mut().zip(vals) {
            if let Some(v) = v {
                p.take_values(v);
            }
        }
    }
    for s in &skipped {
        eprintln!("Warning: {}: {s}", path.display());
    }
    Ok(skipped)
}
