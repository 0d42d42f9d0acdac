//! Helpers shared by the integration tests (each test crate uses some of them).
#![allow(dead_code)]

use std::path::PathBuf;

/// A fresh folder under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new empty folder whose name contains `tag` and the process id.
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rkeras-{tag}-{}-{k}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tensor from golden JSON: `{"shape": [...], "data": [...]}` (flat, row-major).
pub fn tensor(v: &serde_json::Value) -> rkeras::Tensor {
    let list = |k: &str| v[k].as_array().expect(k).clone();
    let shape: Vec<usize> = list("shape")
        .iter()
        .map(|d| d.as_u64().expect("dimension") as usize)
        .collect();
    let data: Vec<f32> = list("data")
        .iter()
        .map(|x| x.as_f64().expect("value") as f32)
        .collect();
    rkeras::Tensor::new(shape, data).expect("tensor")
}

/// The largest absolute difference of two equally long slices.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A folder of golden files: `tests/golden/<sub>`.
pub fn golden_dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(sub)
}

/// A golden JSON file of `tests/golden/<sub>`.
pub fn golden_json(sub: &str, name: &str) -> serde_json::Value {
    let p = golden_dir(sub).join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Checks a Keras-made model of `tests/golden/<sub>` against Keras: `NAME.keras` (compiled,
/// with Keras's initial weights) loads, predicts `NAME.json`'s `outputs` for its `inputs`,
/// prints `NAME_summary_76.txt`, survives rkeras's save and load, and one epoch of
/// `fit(x, y, batch_size=8, shuffle=False)` gives Keras's loss and Keras's `final` weights
/// (max abs difference below 1e-5), most of which moved.
pub fn check_keras_model(sub: &str, name: &str) {
    use rkeras::saving::load_model;
    let g = golden_json(sub, &format!("{name}.json"));
    let path = golden_dir(sub).join(format!("{name}.keras"));
    let mut m = load_model(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let got = m.predict(&tensor(&g["inputs"])).expect("predict");
    let d = max_diff(got.data(), tensor(&g["outputs"]).data());
    assert!(d < 1e-5, "{name}: max abs difference {d}");
    let summary = golden_dir(sub).join(format!("{name}_summary_76.txt"));
    let want = std::fs::read_to_string(&summary).expect("summary");
    assert_eq!(m.summary_string(Some(76)), want, "{name} summary");

    let tmp = TempDir::new(name);
    let again = tmp.0.join(format!("{name}.keras"));
    m.save(&again).expect("save");
    let mut back = load_model(&again).expect("reload");
    let p = back.predict(&tensor(&g["inputs"])).expect("predict");
    assert_eq!(p.data(), got.data(), "{name}: reloaded model");

    let initial = m.get_weights();
    let h = m
        .fit(&tensor(&g["x"]), &tensor(&g["y"]))
        .epochs(1)
        .batch_size(8)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("fit");
    let loss = h.last("loss").expect("loss");
    let want_loss = g["loss"].as_f64().expect("loss");
    assert!(
        (loss - want_loss).abs() < 1e-5,
        "{name}: loss {loss} against Keras's {want_loss}"
    );
    let want = g["final"].as_array().expect("weights");
    let got = m.get_weights();
    assert_eq!(got.len(), want.len());
    let mut moved = 0;
    for (i, ((a, b), w0)) in got.iter().zip(want).zip(&initial).enumerate() {
        let b = tensor(b);
        assert_eq!(a.shape(), b.shape(), "{name}: weight {i}");
        moved += usize::from(max_diff(w0.data(), b.data()) > 1e-4);
        let d = max_diff(a.data(), b.data());
        assert!(d < 1e-5, "{name}: weight {i}: max abs difference {d}");
    }
    // Training moved the weights (all but those a following normalization makes
    // irrelevant, as a bias before BatchNormalization), so matching Keras's means the
    // gradients agree.
    assert!(
        moved * 4 >= got.len() * 3,
        "{name}: only {moved} of {} weights moved",
        got.len()
    );
}

/// The weights `golden/applications/make_applications_golden.py` sets (see its docstring):
/// the `k`-th weight of the model, a `shape` weight named `weight` of a `class` layer.
fn formula(class: &str, weight: &str, shape: &[usize], k: usize) -> rkeras::Tensor {
    let n: usize = shape.iter().product();
    let s = (0..n).map(|i| (0.7 * i as f64 + 1.3 * k as f64 + 0.1).sin());
    // Keras's convnext.LayerScale names its weight `variable` (rkeras: `gamma`).
    let weight = if class == "LayerScale" {
        "variable"
    } else {
        weight
    };
    let v: Vec<f32> = match weight {
        "count" => vec![5.0; n],
        "moving_variance" | "variance" => s.map(|s| (1.0 + 0.4 * s) as f32).collect(),
        "gamma" => s.map(|s| (1.0 + 0.2 * s) as f32).collect(),
        "beta" | "moving_mean" | "mean" | "bias" => s.map(|s| (0.1 * s) as f32).collect(),
        _ => {
            let fan_in: usize = if class == "DepthwiseConv2D" {
                shape[0] * shape[1]
            } else {
                shape[..shape.len() - 1].iter().product()
            };
            let scale = (3.0 / fan_in as f64).sqrt();
            s.map(|s| (s * scale) as f32).collect()
        }
    };
    rkeras::Tensor::new(shape.to_vec(), v).expect("weight")
}

/// Every weight of `model` by [`formula`], in `get_weights` order.
pub fn formula_weights(model: &rkeras::Model) -> Vec<rkeras::Tensor> {
    let mut weights = Vec::new();
    for l in model.layers() {
        for p in l.params() {
            weights.push(formula(l.class_name(), p.name, &p.shape, weights.len()));
        }
    }
    weights
}
