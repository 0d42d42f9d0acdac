//! Saving and loading in Keras's own formats: `.keras` archives (config + weights, read and
//! written by Python Keras 3) and `.weights.h5` weight files.
//!
//! ```no_run
//! use rkeras::prelude::*;
//! let mut model = Sequential::new([Dense::new(2).activation("softmax").input_shape(3).into()])?;
//! model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;
//! model.save("model.keras")?;                     // keras.saving.load_model reads it
//! let again = rkeras::saving::load_model("model.keras")?;
//! model.save_weights("model.weights.h5")?;
//! # Ok::<(), rkeras::Error>(())
//! ```
//!
//! Every file is written to a temporary name, synced and renamed into place, so a crash never
//! leaves a half-written file and the previous one survives.

mod archive;
pub(crate) mod h5;
mod legacy_weights;
mod weights;

pub use archive::{from_config, load_model};

/// Builds a model from Keras JSON (`model.to_json()` in Python or [`Model::to_json`], or
/// the `config.json` of a `.keras` file), with fresh weights, compiled when the JSON holds a
/// compile config. Keras's `keras.models.model_from_json`.
///
/// # Errors
/// Text that is not JSON, an unknown layer class (named), or a bad layer config.
pub fn model_from_json(json: &str) -> Result<Model> {
    let cfg: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| Error::Data(format!("the model JSON does not parse: {e}")))?;
    from_config(&cfg)
}

use crate::error::{Error, Result};
use crate::model::Model;
use std::path::Path;

/// Builds a model from a Keras JSON file (what `model.to_json()` writes, or the
/// `config.json` of a `.keras` archive), as [`model_from_json`] does; at most 64 MiB are
/// read, and a larger file is refused.
///
/// ```no_run
/// let model = rkeras::saving::model_from_json_file("model.json")?;
/// # Ok::<(), rkeras::Error>(())
/// ```
///
/// # Errors
/// A file that cannot be read or is too large, or what [`model_from_json`] refuses (the
/// message names the file).
pub fn model_from_json_file(path: impl AsRef<Path>) -> Result<Model> {
    use std::io::Read;
    let path = path.as_ref();
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let cap = archive::MAX_CONFIG;
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(cap + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > cap {
        return Err(Error::Format {
            path: path.to_path_buf(),
            message: format!("more than {cap} bytes: too large for a model config"),
        });
    }
    model_from_json(&text).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn has_suffix(path: &Path, suffix: &str) -> bool {
    path.to_string_lossy()
        .to_ascii_lowercase()
        .ends_with(suffix)
}

impl Model {
    /// Saves the whole model as Python Keras 3 loads it with `keras.saving.load_model`: a
    /// `.keras` archive (architecture, weights, compile settings and optimizer state), or a
    /// legacy `.h5` file (the same without the optimizer state), as the seed's `model.h5`.
    ///
    /// # Errors
    /// A path not ending in `.keras` or `.h5` (the message says what to use), an unbuilt
    /// model, or a write failure.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if has_suffix(path, ".keras") {
            return archive::save(self, path);
        }
        if has_suffix(path, ".weights.h5") {
            return Err(Error::arg(
                "filepath",
                "",
                format!(
                    "`.weights.h5` names a weights file: use save_weights. Received: filepath={}",
                    path.display()
                ),
            ));
        }
        if has_suffix(path, ".h5") || has_suffix(path, ".hdf5") {
            return archive::save_legacy_h5(self, path);
        }
        let msg = "Invalid filepath extension for saving. Please add either a `.keras` extension for the native Keras format (recommended) or a `.h5` extension";
        Err(Error::arg(
            "filepath",
            "",
            format!("{msg}. Received: filepath={}", path.display()),
        ))
    }

    /// The model's architecture as Keras's `model.to_json()` writes it (the `config.json`
    /// of a `.keras` file): Python Keras rebuilds it with `keras.models.model_from_json`,
    /// rkeras with [`model_from_json`].
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let m = Sequential::new([Dense::new(3).input_shape(4).into()])?;
    /// let back = rkeras::saving::model_from_json(&m.to_json())?;
    /// assert_eq!(back.output_shape(), Some(&[3][..]));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    pub fn to_json(&self) -> String {
        crate::model::config::model_config(self).to_string()
    }

    /// A model from this model's input to the outputs of the layers `outputs` (Keras's
    /// feature extraction: `keras.Model(base.input, [base.get_layer(n).output for n in
    /// names])`), with this model's weights copied (a copy: training one does not change
    /// the other). Layers no output needs are left out; a nested model counts as one layer.
    ///
    /// ```
    /// use rkeras::prelude::*;
    /// let x = Input::new(3);
    /// let h = Dense::new(4).activation("relu").name("hidden").call(&x)?;
    /// let y = Dense::new(2).name("out").call(&h)?;
    /// let model = Model::functional(&x, &y)?;
    /// let features = model.feature_extractor(&["hidden"])?;
    /// assert_eq!(features.output_shape(), Some(&[4][..]));
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// A name that is no layer of the model (the names are listed), several outputs of a
    /// Sequential model, or a model that is not built.
    pub fn feature_extractor(&self, outputs: &[&str]) -> Result<Model> {
        use serde_json::{json, Value};
        if !self.built() {
            return Err(Error::State(
                "the model must be built before features are taken from it".into(),
            ));
        }
        let mut cfg = crate::model::config::model_config(self);
        if let Some(o) = cfg.as_object_mut() {
            o.remove("compile_config");
        }
        let entries: Vec<String> = cfg["config"]["layers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| {
                        e.get("name")
                            .or_else(|| e.get("config").and_then(|c| c.get("name")))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if let Some(bad) = outputs.iter().find(|n| !entries.iter().any(|e| e == *n)) {
            return Err(Error::arg(
                "outputs",
                self.name(),
                format!(
                    "no layer \"{bad}\" in the model; its layers: {}",
                    entries.join(", ")
                ),
            ));
        }
        if outputs.is_empty() {
            return Err(Error::arg(
                "outputs",
                self.name(),
                "give at least one layer name",
            ));
        }
        if cfg["class_name"] == "Sequential" {
            let [one] = outputs else {
                return Err(Error::arg(
                    "outputs",
                    self.name(),
                    "a Sequential model gives the output of one layer; make it functional for several",
                ));
            };
            if let Some(list) = cfg["config"]["layers"].as_array_mut() {
                let at = list
                    .iter()
                    .position(|e| e["config"]["name"] == json!(one))
                    .unwrap_or(list.len() - 1);
                list.truncate(at + 1);
            }
        } else {
            let refs: Vec<Value> = outputs.iter().map(|n| json!([n, 0, 0])).collect();
            cfg["config"]["output_layers"] = json!(refs);
        }
        cfg["config"]["name"] = json!(format!("{}_features", self.name()));
        let mut m = from_config(&cfg)?;
        // This model's weights, layer by layer by name.
        for i in 0..m.layers().len() {
            let name = m.layers()[i].name().to_string();
            if let Some(src) = self.get_layer(&name) {
                let values: Vec<Vec<f32>> = src.params().iter().map(|p| p.value.clone()).collect();
                let dst = m.layer_params_mut(i);
                if dst.len() == values.len()
                    && dst
                        .iter()
                        .zip(&values)
                        .all(|(p, v)| p.value.len() == v.len())
                {
                    for (p, v) in dst.iter_mut().zip(values) {
                        p.value = v;
                    }
                }
            }
        }
        Ok(m)
    }

    /// Saves the weights (and optimizer state, when compiled and trained) in Keras 3's
    /// `.weights.h5` layout, which Python Keras's `model.load_weights` reads.
    ///
    /// # Errors
    /// A path not ending in `.weights.h5`, an unbuilt model, or a write failure.
    pub fn save_weights(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if !has_suffix(path, ".weights.h5") {
            return Err(Error::arg(
                "filepath",
                "",
                format!(
                    "The filename must end in `.weights.h5`. Received: filepath={}",
                    path.display()
                ),
            ));
        }
        let bytes = weights::to_h5(self, path)?;
        crate::fsio::write_atomic(path, &bytes)
    }

    /// Loads weights from a Keras 3 `.weights.h5` file (written by rkeras or Python Keras)
    /// into this model, which must have the same architecture; restores the optimizer state
    /// when the file has one and the model is compiled. A legacy Keras 2 `.h5` weights file
    /// (`save_weights("x.h5")`, or a weight file keras.applications publishes) loads too, its
    /// layers with weights matched to the model's in order, as Keras does.
    ///
    /// # Errors
    /// A missing or unreadable file, or weights that do not fit (naming the layer and shapes).
    pub fn load_weights(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let r = read_h5(path)?;
        if !r.has_group("layers") && legacy_weights::is_legacy(&r, "/") {
            legacy_weights::load(self, &r, "/", legacy_weights::Match::Order, false, path)?;
        } else {
            weights::load(self, &r, "")?;
        }
        warn_non_finite(self, path);
        Ok(())
    }

    /// Keras's `load_weights(path, by_name=True, skip_mismatch=...)` for a legacy `.h5`
    /// weights file: each layer of the file goes to the model's layer of the same name, and
    /// layers without a partner are left alone, so the published weights of a backbone load
    /// into a model with another head (`include_top=False`). With `skip_mismatch`, a layer
    /// whose weights differ in count or shape is skipped instead of failing; the messages
    /// returned (and printed as warnings) list the skipped layers.
    ///
    /// ```no_run
    /// # let mut model = rkeras::Sequential::new([rkeras::layers::Dense::new(2).input_shape(3).into()])?;
    /// let skipped = model.load_weights_by_name("mobilenet_v2_no_top.h5", true)?;
    /// # Ok::<(), rkeras::Error>(())
    /// ```
    ///
    /// # Errors
    /// A file that is not a legacy `.h5` weights file (Keras too loads by name from those
    /// only), or, without `skip_mismatch`, weights that do not fit (naming the layer and
    /// both shapes).
    pub fn load_weights_by_name(
        &mut self,
        path: impl AsRef<Path>,
        skip_mismatch: bool,
    ) -> Result<Vec<String>> {
        let path = path.as_ref();
        let r = read_h5(path)?;
        let group = if legacy_weights::is_legacy(&r, "/") {
            "/"
        } else if legacy_weights::is_legacy(&r, "model_weights") {
            "model_weights"
        } else {
            return Err(Error::Format {
                path: path.to_path_buf(),
                message: "`by_name` only supports loading legacy '.h5' or '.hdf5' files (Keras 2's layout); this file has none".into(),
            });
        };
        let skipped = legacy_weights::load(
            self,
            &r,
            group,
            legacy_weights::Match::Name,
            skip_mismatch,
            path,
        )?;
        warn_non_finite(self, path);
        Ok(skipped)
    }
}

/// The HDF5 file at `path`.
fn read_h5(path: &Path) -> Result<h5::Reader> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    h5::Reader::from_bytes(bytes, path)
}

/// Prints a warning for each weight of `model` (loaded from `path`) that holds NaN or
/// infinity, naming the layer: such a model predicts nonsense without another word.
pub(crate) fn warn_non_finite(model: &Model, path: &Path) {
    for (layer, weight, count) in model.non_finite_weights() {
        eprintln!(
            "Warning: {}: the {weight} of layer \"{layer}\" holds {count} NaN or infinite values; its predictions will be meaningless",
            path.display()
        );
    }
}
