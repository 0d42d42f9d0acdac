//! `.keras` archives (a ZIP of `metadata.json`, `config.json` and `model.weights.h5`, all
//! stored uncompressed as Keras writes them) and loading legacy `.h5` full models.

use super::h5::{self, Reader};
use super::weights;
use crate::error::{Error, Result};
use crate::layers::{registry, Layer};
use crate::model::{Model, Sequential};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::Path;

/// Largest member rkeras reads from an archive (Keras refuses more than 4 GiB too).
const MAX_MEMBER: u64 = 4 << 30;

/// Largest model config rkeras reads (`config.json`, a `--model` JSON): the largest
/// keras.applications config is about 2 MB.
pub(crate) const MAX_CONFIG: u64 = 64 << 20;

fn fmt_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn now_string() -> String {
    // UTC, in Keras's `%Y-%m-%d@%H:%M:%S` shape.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}@{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Writes `model` as a `.keras` archive at `path`, atomically.
pub(crate) fn save(model: &Model, path: &Path) -> Result<()> {
    let weights = weights::to_h5(model, path)?;
    let mut metadata = json!({"keras_version": "3.15.1", "date_saved": now_string()});
    if let Some(names) = model.class_names() {
        // Keras reads only the keys it knows; ours live under "rkeras".
        metadata["rkeras"] = json!({ "class_names": names });
    }
    // Keras writes compact JSON with ", " and ": " separators; any JSON parser reads ours.
    let config = crate::model::config::model_config(model).to_string();
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zw = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let z = |e: zip::result::ZipError| fmt_err(path, format!("writing the archive: {e}"));
        let io = |e: std::io::Error| fmt_err(path, format!("writing the archive: {e}"));
        for (name, bytes) in [
            ("metadata.json", metadata.to_string().into_bytes()),
            ("config.json", config.into_bytes()),
            ("model.weights.h5", weights),
        ] {
            zw.start_file(name, opts).map_err(z)?;
            zw.write_all(&bytes).map_err(io)?;
        }
        zw.finish().map_err(z)?;
    }
    crate::fsio::write_atomic(path, buf.get_ref())
}

/// Reads member `name`, refusing more than `cap` bytes (a ZIP bomb, a hostile size).
fn read_member(
    zip: &mut zip::ZipArchive<std::fs::File>,
    name: &str,
    path: &Path,
    cap: u64,
) -> Result<Vec<u8>> {
    let mut f = zip.by_name(name).map_err(|e| {
        fmt_err(
            path,
            format!("the archive has no `{name}` ({e}): not a Keras 3 `.keras` file"),
        )
    })?;
    let size = f.size();
    let too_large = |size: String| {
        fmt_err(
            path,
            format!("`{name}` holds {size} bytes uncompressed, more than the {cap} rkeras reads: refusing it"),
        )
    };
    if size > cap {
        return Err(too_large(size.to_string()));
    }
    // The declared size may lie: read at most one byte past the cap to find out.
    let mut out = Vec::new();
    out.try_reserve_exact(size as usize)
        .map_err(|e| fmt_err(path, format!("reading `{name}`: {e}")))?;
    // Through a small buffer that stays in cache: `read_to_end` would zero the whole
    // capacity first (95 MB for ResNet50's weights), a pass over memory for nothing.
    let mut chunk = vec![0u8; 256 << 10];
    let mut left = cap + 1;
    while left > 0 {
        let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let got = match f.read(&mut chunk[..want]) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fmt_err(path, format!("reading `{name}`: {e}"))),
        };
        out.extend_from_slice(&chunk[..got]);
        left -= got as u64;
    }
    if out.len() as u64 > cap {
        return Err(too_large(format!("more than {cap}")));
    }
    Ok(out)
}

/// Loads a model saved by rkeras or by Python Keras: a `.keras` archive, or a legacy `.h5`
/// full model (Keras 3 or tf.keras 2 layout). The architecture, the weights, the compile
/// settings and (for `.keras`) the optimizer state come back, so training can resume.
///
/// # Errors
/// A missing file, a file of another kind (the message says which suffixes work), a layer
/// class rkeras does not have (named), or weights that do not fit the architecture.
pub fn load_model(path: impl AsRef<Path>) -> Result<Model> {
    let path = path.as_ref();
    let model = load_any(path)?;
    super::warn_non_finite(&model, path);
    Ok(model)
}

/// [`load_model`] without the check of the weights.
fn load_any(path: &Path) -> Result<Model> {
    let lower = path.to_string_lossy().to_ascii_lowercase();
    if lower.ends_with(".weights.h5") {
        return Err(Error::arg(
            "filepath",
            "",
            format!("{} holds weights only: build the model in Rust, then call model.load_weights on it", path.display()),
        ));
    }
    if lower.ends_with(".h5") || lower.ends_with(".hdf5") {
        return load_legacy_h5(path);
    }
    if !lower.ends_with(".keras") {
        return Err(Error::arg(
            "filepath",
            "",
            format!("File format not supported: filepath={}. rkeras reads `.keras` archives and legacy `.h5` files", path.display()),
        ));
    }
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| fmt_err(path, format!("not a ZIP archive ({e}): a `.keras` file is a ZIP of config.json and model.weights.h5")))?;
    let config = read_member(&mut zip, "config.json", path, MAX_CONFIG)?;
    let config: Value = serde_json::from_slice(&config)
        .map_err(|e| fmt_err(path, format!("config.json is not valid JSON: {e}")))?;
    // Every weight is read from the archive below (a missing one is an error), so the
    // initializers are not run.
    let mut model = crate::init::without_fill(|| from_config(&config))
        .map_err(|e| fmt_err(path, e.to_string()))?;
    let cap = MAX_MEMBER.min(crate::budget::memory_limit() / 2);
    let weights = read_member(&mut zip, "model.weights.h5", path, cap)?;
    if zip.index_for_name("metadata.json").is_some() {
        let meta = read_member(&mut zip, "metadata.json", path, 1 << 20)?;
        let names = serde_json::from_slice::<Value>(&meta)
            .ok()
            .and_then(|m| m.pointer("/rkeras/class_names").cloned())
            .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok());
        if let Some(names) = names {
            model.set_class_names(names);
        }
    }
    let r = Reader::from_bytes(weights, path)?;
    weights::load(&mut model, &r, "").map_err(|e| fmt_err(path, e.to_string()))?;
    Ok(model)
}

/// Builds (and compiles, when the config says how) a model from a Keras model config:
/// `{"class_name": "Sequential", "config": {...}, "compile_config": {...}}`, as in
/// `config.json` or `model.to_json()`.
///
/// # Errors
/// A class other than Sequential or Functional, an unknown layer class, or an unusable
/// config.
pub fn from_config(config: &Value) -> Result<Model> {
    let class = config
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if class == "Functional" || class == "Model" {
        let mut model = functional_from_config(config)?;
        if let Some(cc) = config.get("compile_config").filter(|c| c.is_object()) {
            compile_from(&mut model, cc)?;
        }
        return Ok(model);
    }
    if class != "Sequential" {
        return Err(Error::Data(format!(
            "model class \"{class}\": rkeras builds Sequential and Functional models from configs"
        )));
    }
    let inner = config.get("config").cloned().unwrap_or(Value::Null);
    let entries = inner
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Data("the model config has no \"layers\" list".into()))?;
    let mut layers: Vec<Box<dyn Layer>> = Vec::new();
    for e in entries {
        layers.push(match nested_from_config(e, None)? {
            Some(m) => m.into(),
            None => registry::from_config(e)?,
        });
    }
    let has_input = layers
        .first()
        .is_some_and(|l| l.class_name() == "InputLayer");
    if !has_input {
        let shape = inner
            .get("build_input_shape")
            .or_else(|| {
                config
                    .get("build_config")
                    .and_then(|b| b.get("input_shape"))
            })
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Data("the model config gives no input shape".into()))?;
        let dims: Option<Vec<usize>> = shape
            .iter()
            .skip(1)
            .map(|d| d.as_u64().map(|v| v as usize))
            .collect();
        let dims = dims
            .ok_or_else(|| Error::Data("the model's input shape has unknown dimensions".into()))?;
        layers.insert(0, crate::layers::InputLayer::new(dims).into());
    }
    let name = inner
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("sequential");
    let mut model = Sequential::with_name(name, layers)?;
    if let Some(cc) = config.get("compile_config").filter(|c| c.is_object()) {
        compile_from(&mut model, cc)?;
    }
    Ok(model)
}

/// A model used as a layer (a `Sequential` or `Functional` entry of a model's layer
/// list), built from its config; `None` for any other entry.
fn nested_from_config(
    entry: &Value,
    training: Option<bool>,
) -> Result<Option<crate::model::NestedModel>> {
    let class = entry
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !matches!(class, "Sequential" | "Functional" | "Model") {
        return Ok(None);
    }
    let mut inner = entry.clone();
    if let Some(o) = inner.as_object_mut() {
        o.remove("compile_config");
    }
    let model = from_config(&inner).map_err(|e| {
        let name = entry
            .get("config")
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        Error::Data(format!("nested model \"{name}\": {e}"))
    })?;
    let mut nm = model.as_layer();
    if let Some(t) = training {
        nm = nm.training(t);
    }
    Ok(Some(nm))
}

/// The `[name, node_index, tensor_index]` triples of `input_layers` / `output_layers`
/// (one triple, or a list of them).
fn endpoint_refs(v: Option<&Value>, what: &str) -> Result<Vec<TensorRef>> {
    let bad = || {
        Error::Data(format!(
            "the Functional config's \"{what}\" is not a list of [name, node, 0]"
        ))
    };
    let list = v.and_then(Value::as_array).ok_or_else(bad)?;
    let triples: Vec<&Value> = if list.first().is_some_and(Value::is_string) {
        vec![v.ok_or_else(bad)?]
    } else {
        list.iter().collect()
    };
    triples
        .iter()
        .map(|t| history_ref(t).ok_or_else(bad))
        .collect()
}

/// `(layer name, node index, tensor index)`: Keras's reference to a symbolic tensor.
type TensorRef = (String, usize, usize);

/// The references one call of a layer reads.
type Calls = Vec<TensorRef>;

/// The `(layer name, node index, tensor index)` of a `[name, node, tensor]` reference.
fn history_ref(t: &Value) -> Option<TensorRef> {
    let name = t.get(0).and_then(Value::as_str)?.to_string();
    let node = t.get(1).and_then(Value::as_u64).unwrap_or(0) as usize;
    let tensor = t.get(2).and_then(Value::as_u64).unwrap_or(0) as usize;
    Some((name, node, tensor))
}

/// A Functional model from its Keras config: every layer's calls replayed on the tensors
/// its `inbound_nodes` name. A call that reads a tensor not made yet waits for it, as
/// Keras's own loader does, so any order of the list works.
fn functional_from_config(config: &Value) -> Result<Model> {
    use crate::model::{KerasTensor, Shared};
    let inner = config.get("config").cloned().unwrap_or(Value::Null);
    let entries = inner
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Data("the model config has no \"layers\" list".into()))?;
    let inputs = endpoint_refs(inner.get("input_layers"), "input_layers")?;
    let outputs = endpoint_refs(inner.get("output_layers"), "output_layers")?;
    let mut tensors: HashMap<TensorRef, KerasTensor> = HashMap::new();
    // The nested functional models: Keras counts their own node in `output_layers`.
    let mut functional: HashSet<String> = HashSet::new();
    // Each layer with its calls' input references, and how many calls are done.
    let mut pending: Vec<(String, Shared, Vec<Calls>, usize)> = Vec::new();
    for e in entries {
        let class = e.get("class_name").and_then(Value::as_str).unwrap_or("");
        let name = e
            .get("name")
            .or_else(|| e.get("config").and_then(|c| c.get("name")))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                Error::Data(format!(
                    "a {class} entry of the Functional config has no name"
                ))
            })?
            .to_string();
        if class == "InputLayer" {
            let probe = registry::from_config(e)?;
            let shape = probe.base().input_shape.clone().unwrap_or_default();
            tensors.insert(
                (name.clone(), 0, 0),
                crate::model::Input::named(shape, &name),
            );
            continue;
        }
        if class == "Functional" {
            functional.insert(name.clone());
        }
        let nodes = e
            .get("inbound_nodes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let is_op = e
            .get("module")
            .and_then(Value::as_str)
            .is_some_and(|m| m.starts_with("keras.src.ops"));
        let mut calls = Vec::new();
        // An operation's positional arguments (of its first call): tensors, and the
        // number, constant tensor or key they go with.
        let mut op_args: Option<Vec<Value>> = None;
        for node in &nodes {
            let args = node
                .get("args")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let refs: Vec<Value> = if is_op {
                let refs = crate::layers::tensor_refs(&args);
                op_args.get_or_insert(args);
                refs
            } else {
                match args.first() {
                    Some(Value::Array(list)) => list.clone(),
                    Some(one) => vec![one.clone()],
                    None => Vec::new(),
                }
            };
            let mut ins = Vec::new();
            for r in &refs {
                let h = r
                    .get("config")
                    .and_then(|c| c.get("keras_history"))
                    .and_then(history_ref)
                    .ok_or_else(|| {
                        Error::Data(format!(
                            "layer \"{name}\": an input is not a keras tensor reference"
                        ))
                    })?;
                ins.push(h);
            }
            calls.push(ins);
        }
        let training = nodes
            .first()
            .and_then(|n| n.get("kwargs"))
            .and_then(|k| k.get("training"))
            .and_then(Value::as_bool);
        let layer: Box<dyn crate::layers::Layer> = if let Some(m) = nested_from_config(e, training)?
        {
            m.into()
        } else if is_op {
            let config = e.get("config").cloned().unwrap_or(Value::Null);
            let args = op_args.unwrap_or_default();
            let mut op = crate::layers::op_from_call(class, &config, &args)
                .map_err(|err| Error::Data(format!("layer \"{name}\": {err}")))?;
            op.base_mut().name = Some(name.clone());
            op
        } else {
            registry::from_config(e)?
        };
        let layer = Shared::new(layer);
        pending.push((name, layer, calls, 0));
    }
    loop {
        let mut progress = false;
        for (name, layer, calls, done) in pending.iter_mut() {
            while let Some(ins) = calls.get(*done) {
                let Some(refs) = ins
                    .iter()
                    .map(|r| tensors.get(r))
                    .collect::<Option<Vec<&KerasTensor>>>()
                else {
                    break;
                };
                // A nested model may have several outputs: tensor indices 0, 1, ...
                let outs = layer.call_multi(&refs)?;
                for (t, out) in outs.into_iter().enumerate() {
                    tensors.insert((name.clone(), *done, t), out);
                }
                *done += 1;
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    if let Some((name, _, calls, done)) = pending.iter().find(|p| p.3 < p.2.len()) {
        let missing: Vec<String> = calls[*done]
            .iter()
            .filter(|r| !tensors.contains_key(*r))
            .map(|(n, k, t)| format!("{n}[{k}][{t}]"))
            .collect();
        return Err(Error::Data(format!(
            "layer \"{name}\" reads {}, which no layer of the config makes (or a cycle)",
            missing.join(", ")
        )));
    }
    let find = |refs: &[TensorRef], what: &str| -> Result<Vec<KerasTensor>> {
        refs.iter()
            .map(|(name, node, t)| {
                // Keras's loader: a nested functional model's node index less its own node
                // (Python's index -1 being its last call).
                let node = match (functional.contains(name), *node) {
                    (false, k) => Some(k),
                    (true, 0) => (0..)
                        .take_while(|k| tensors.contains_key(&(name.clone(), *k, 0)))
                        .last(),
                    (true, k) => Some(k - 1),
                };
                node.and_then(|k| tensors.get(&(name.clone(), k, *t)))
                    .cloned()
                    .ok_or_else(|| {
                        Error::Data(format!(
                            "the {what} layer \"{name}\" (call {}, output {t}) is not in the config",
                            node.map_or("?".to_string(), |k| k.to_string())
                        ))
                    })
            })
            .collect()
    };
    let ins = find(&inputs, "input")?;
    let outs = find(&outputs, "output")?;
    let name = inner
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("functional");
    Model::functional_named(ins, outs, name)
}

/// Compiles from a Keras `compile_config` (or a legacy `training_config`).
fn compile_from(model: &mut Model, cc: &Value) -> Result<()> {
    let optimizer = match cc.get("optimizer").or_else(|| cc.get("optimizer_config")) {
        Some(o) => crate::optimizers::from_config(o)?,
        None => crate::optimizers::from_name("adam", None)?,
    };
    let Some(loss_cfg) = cc.get("loss").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let names = model.output_names();
    // One loss per output: a dict by output name or a list in output order.
    let per_output = |v: Option<&Value>, i: usize| -> Option<Value> {
        match v? {
            Value::Object(o) if !o.contains_key("class_name") => o.get(&names[i]).cloned(),
            Value::Array(a) if names.len() > 1 => a.get(i).cloned(),
            other => Some(other.clone()),
        }
    };
    let metric_list = |v: Option<Value>| -> Result<Vec<crate::metrics::Metric>> {
        v.as_ref()
            .and_then(Value::as_array)
            .map(|a| {
                // tf.keras 2 writes one list per output: [[{...}]].
                a.iter()
                    .flat_map(|m| match m {
                        Value::Array(inner) => inner.clone(),
                        other => vec![other.clone()],
                    })
                    .map(|m| crate::metrics::Metric::from_config(&m))
                    .collect()
            })
            .unwrap_or_else(|| Ok(Vec::new()))
    };
    if names.len() > 1 {
        let mut outs = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let loss = per_output(Some(loss_cfg), i)
                .map(|v| crate::losses::Loss::from_config(&v))
                .ok_or_else(|| {
                    Error::Data(format!(
                        "the compile config has no loss for output \"{name}\""
                    ))
                })??;
            let weight = per_output(cc.get("loss_weights"), i)
                .and_then(|v| v.as_f64())
                .unwrap_or(1.0) as f32;
            let mut metrics = metric_list(per_output(cc.get("metrics"), i))?;
            metrics.extend(
                metric_list(per_output(cc.get("weighted_metrics"), i))?
                    .into_iter()
                    .map(|m| m.weighted(true)),
            );
            outs.push(
                crate::model::OutputLoss::new(name, loss)
                    .loss_weight(weight)
                    .metric_values(metrics),
            );
        }
        return model.compile_outputs(optimizer, outs);
    }
    let loss = crate::losses::Loss::from_config(loss_cfg)?;
    let mut metrics = metric_list(cc.get("metrics").cloned())?;
    metrics.extend(
        metric_list(cc.get("weighted_metrics").cloned())?
            .into_iter()
            .map(|m| m.weighted(true)),
    );
    model.compile_with_metrics(optimizer, loss, metrics)
}

/// A legacy HDF5 full model: `model_config` and `training_config` attributes, weights under
/// `model_weights/<layer>/` listed by `weight_names`, matched to the layers by order.
fn load_legacy_h5(path: &Path) -> Result<Model> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let r = h5::Reader::from_bytes(bytes, path)?;
    if r.has_group("layers") {
        return Err(fmt_err(path, "this is a Keras 3 weights file (it has a `layers` group): build the model and call load_weights"));
    }
    let cfg = r
        .attr_str("/", "model_config")?
        .ok_or_else(|| fmt_err(path, "no `model_config` attribute: a weights-only .h5 file? Build the model and call load_weights"))?;
    let cfg: Value = serde_json::from_str(&cfg)
        .map_err(|e| fmt_err(path, format!("model_config is not JSON: {e}")))?;
    let mut model = from_config(&cfg).map_err(|e| fmt_err(path, e.to_string()))?;
    if let Some(tc) = r.attr_str("/", "training_config")? {
        if let Ok(tc) = serde_json::from_str::<Value>(&tc) {
            compile_from(&mut model, &tc).map_err(|e| fmt_err(path, e.to_string()))?;
        }
    }
    super::legacy_weights::load(
        &mut model,
        &r,
        "model_weights",
        super::legacy_weights::Match::Order,
        false,
        path,
    )?;
    load_legacy_optimizer(&mut model, &r)?;
    Ok(model)
}

/// The names Keras 3 gives an optimizer's slot variables, by their order for one weight.
fn slot_names(optimizer_class: &str) -> &'static [&'static str] {
    match optimizer_class {
        "SGD" => &["momentum"],
        "RMSprop" => &["velocity", "momentum", "average_gradient"],
        "Adagrad" => &["accumulator"],
        "Adadelta" => &["accumulated_grad", "accumulated_delta_var"],
        "Ftrl" => &["accumulator", "linear"],
        "Adamax" => &["momentum", "norm"],
        _ => &["momentum", "velocity", "velocity_hat"],
    }
}

/// Keras 3's `optimizer_weights` group: `weight_names` lists `adam/iteration`,
/// `adam/learning_rate` and one `adam/<model>_<layer>_<weight>_<slot>` per slot variable, in
/// the optimizer's order; the datasets sit under `optimizer_weights/adam/`.
fn legacy_optimizer_weights(model: &Model, root: &mut h5::Group) {
    let Some(opt) = model.optimizer() else { return };
    let prefix = crate::layers::snake_case(opt.class_name());
    let paths = model.trainable_paths();
    let shapes = model.trainable_shapes();
    let slots = slot_names(opt.class_name());
    let mut names = vec![
        format!("{prefix}/iteration"),
        format!("{prefix}/learning_rate"),
    ];
    let group = root.child("optimizer_weights");
    let mut datasets: Vec<(String, Vec<usize>, h5::Data)> = vec![
        (
            "iteration".into(),
            vec![],
            h5::Data::I32(vec![
                crate::optimizers::saved_iterations(opt).min(i32::MAX as u64) as i32,
            ]),
        ),
        (
            "learning_rate".into(),
            vec![],
            h5::Data::F32(vec![opt.learning_rate()]),
        ),
    ];
    let mut seen = vec![0usize; paths.len()];
    for (var, values) in opt.state() {
        let (Some(p), Some(k)) = (paths.get(var), seen.get_mut(var)) else {
            continue;
        };
        let slot = slots.get(*k).copied().unwrap_or("slot");
        *k += 1;
        let name = format!("{}_{slot}", p.replace('/', "_"));
        names.push(format!("{prefix}/{name}"));
        let shape = shapes.get(var).cloned().unwrap_or_default();
        datasets.push((name, shape, h5::Data::F32(values)));
    }
    group.attr_strs("weight_names", &names);
    let g = group.child(&prefix);
    for (name, shape, data) in datasets {
        g.dataset(&name, &shape, data);
    }
}

/// Restores the optimizer state of a Keras 3 legacy `.h5` file (`optimizer_weights`). A
/// tf.keras 2 file (`Adam/iter:0`, slots in another order) or a state that does not fit
/// leaves the optimizer fresh, with Keras's warning.
fn load_legacy_optimizer(model: &mut Model, r: &h5::Reader) -> Result<()> {
    if model.optimizer().is_none() || !r.has_group("optimizer_weights") {
        return Ok(());
    }
    let names = r
        .attr_strs("optimizer_weights", "weight_names")?
        .unwrap_or_default();
    let warn = || {
        eprintln!("Warning: Error in loading the saved optimizer state. As a result, your model is starting with a freshly initialized optimizer.");
    };
    if names.len() < 2 || !names[0].ends_with("/iteration") || !names[1].ends_with("/learning_rate")
    {
        warn();
        return Ok(());
    }
    let at = |n: &str| format!("optimizer_weights/{n}");
    let it = r.read_i64_scalar(&at(&names[0]))?.max(0) as u64;
    let (_, lr) = r.read_f32(&at(&names[1]))?;
    let mut slots = Vec::new();
    for n in &names[2..] {
        slots.push(r.read_f32(&at(n))?);
    }
    if model
        .set_optimizer_state(it, lr.first().copied(), slots)
        .is_err()
    {
        warn();
    }
    Ok(())
}

/// Strips what the legacy format does not carry from a layer entry of a model config.
fn legacy_layer(mut entry: Value) -> Value {
    if let Some(o) = entry.as_object_mut() {
        o.remove("module");
        o.remove("registered_name");
        o.remove("build_config");
    }
    entry
}

/// Writes `model` as a legacy HDF5 full model (Keras 3's `model.save("x.h5")` layout):
/// `model_config` and `training_config` attributes, `model_weights/<layer>/<model>/<layer>/
/// <weight>` datasets, and the optimizer state under `optimizer_weights/<optimizer>/`.
pub(crate) fn save_legacy_h5(model: &Model, path: &Path) -> Result<()> {
    if let Some(g) = model.graph.as_ref().filter(|g| !g.nests.is_empty()) {
        return Err(fmt_err(
            path,
            format!(
                "model \"{}\" holds nested models ({}): rkeras writes those as .keras or .weights.h5, not in the legacy .h5 layout",
                model.name(),
                g.nests.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    if !model.built() {
        return Err(Error::State(format!(
            "{}: the model has no weights yet: build it or train it before saving",
            path.display()
        )));
    }
    let cfg = crate::model::config::model_config(model);
    let mut inner = cfg.get("config").cloned().unwrap_or(Value::Null);
    if let Some(layers) = inner.get_mut("layers").and_then(Value::as_array_mut) {
        let stripped: Vec<Value> = layers.drain(..).map(legacy_layer).collect();
        *layers = stripped;
    }
    let class = if model.is_functional() {
        "Functional"
    } else {
        "Sequential"
    };
    let model_cfg = json!({"class_name": class, "config": inner});
    let mut root = h5::Group::new("");
    root.attr_str("backend", "tensorflow")
        .attr_str("keras_version", "3.15.1")
        .attr_str("model_config", &model_cfg.to_string());
    if let Some(cc) = cfg.get("compile_config") {
        let mut tc = cc.clone();
        if let Some(o) = tc.as_object_mut() {
            if let Some(opt) = o.remove("optimizer") {
                o.insert(
                    "optimizer_config".into(),
                    json!({"class_name": opt.get("class_name"), "config": opt.get("config")}),
                );
            }
        }
        root.attr_str("training_config", &tc.to_string());
    }
    let weights = root.child("model_weights");
    // Keras lists every layer, a functional model's InputLayers included (no weights).
    let names: Vec<String> = match &model.graph {
        Some(g) => g
            .order
            .iter()
            .map(|e| match *e {
                crate::model::Entry::Input(j) => g.input_names[j].clone(),
                crate::model::Entry::Layer(i) => model.layers()[i].name().to_string(),
                crate::model::Entry::Nest(k) => g.nests[k].name.clone(),
            })
            .collect(),
        None => model
            .layers()
            .iter()
            .filter(|l| l.class_name() != "InputLayer")
            .map(|l| l.name().to_string())
            .collect(),
    };
    weights
        .attr_str("backend", "tensorflow")
        .attr_str("keras_version", "3.15.1")
        .attr_strs("layer_names", &names);
    for name in &names {
        let g = weights.child(name);
        let Some(l) = model.get_layer(name) else {
            g.attr_strs("weight_names", &[]);
            continue;
        };
        let paths: Vec<String> = l
            .params()
            .iter()
            .map(|p| model.variable_path(l.name(), p.name))
            .collect();
        g.attr_strs("weight_names", &paths);
        for (p, path) in l.params().iter().zip(&paths) {
            let mut group = &mut *g;
            let parts: Vec<&str> = path.split('/').collect();
            for part in &parts[..parts.len() - 1] {
                group = group.child(part);
            }
            group.dataset(p.name, &p.shape, h5::Data::F32(p.value.clone()));
        }
    }
    weights
        .child("top_level_model_weights")
        .attr_strs("weight_names", &[]);
    legacy_optimizer_weights(model, &mut root);
    let bytes = h5::to_bytes(&root, path)?;
    crate::fsio::write_atomic(path, &bytes)
}
