//! Model files written by real Keras 3.15.1 (generator: `golden/saving/make_saving_golden.py`)
//! load in rkeras and predict what Keras predicted; rkeras's own files round-trip.

use rkeras::prelude::*;
use rkeras::saving::load_model;
use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::TempDir;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/saving")
}

fn golden() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(dir().join("cnn_predictions.json")).expect("json"),
    )
    .expect("parse")
}

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("d") as usize)
        .collect();
    let data: Vec<f32> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_f64().expect("x") as f32)
        .collect();
    Tensor::new(shape, data).expect("tensor")
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The architecture of the golden model, built in Rust (with `units` outputs).
fn cnn_with(units: usize) -> Model {
    let mut m = Sequential::with_name(
        "cnn",
        [
            InputLayer::new((8, 8, 3)).into(),
            Rescaling::new(1.0 / 255.0).into(),
            Conv2D::new(4, (3, 3)).activation("relu").into(),
            MaxPooling2D::new((2, 2)).into(),
            Conv2D::new(6, (2, 2))
                .activation("relu")
                .padding("same")
                .into(),
            AveragePooling2D::new((2, 2)).into(),
            Flatten::new().into(),
            Dropout::new(0.3).into(),
            Dense::new(units).activation("softmax").into(),
        ],
    )
    .expect("model");
    m.compile(
        Adam::new().learning_rate(0.002),
        "categorical_crossentropy",
        &["accuracy"],
    )
    .expect("compile");
    m
}

/// The golden model's architecture.
fn cnn() -> Model {
    cnn_with(5)
}

#[test]
fn keras_files_load_and_predict_like_keras() {
    let g = golden();
    let x = tensor(&g["inputs"]);
    let want = tensor(&g["outputs"]);
    for file in ["cnn.keras", "cnn_legacy.h5"] {
        let mut m = load_model(dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let got = m.predict(&x).expect("predict");
        let d = max_diff(&got, &want);
        assert!(d < 1e-5, "{file}: max abs difference {d}");
        assert_eq!(m.name(), "cnn");
        assert!(m.optimizer().is_some(), "{file}: compiled from the file");
    }
    let mut m = cnn();
    m.load_weights(dir().join("cnn.weights.h5"))
        .expect("weights");
    let d = max_diff(&m.predict(&x).expect("predict"), &want);
    assert!(d < 1e-5, "weights: max abs difference {d}");
}

#[test]
fn a_tf_keras_2_h5_file_loads_too() {
    let g: Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join("cnn_tfkeras2_predictions.json")).expect("json"),
    )
    .expect("parse");
    let mut m = load_model(dir().join("cnn_tfkeras2.h5")).expect("tf.keras 2 file");
    let d = max_diff(
        &m.predict(&tensor(&g["inputs"])).expect("predict"),
        &tensor(&g["outputs"]),
    );
    assert!(d < 1e-5, "max abs difference {d}");
}

#[test]
fn keras_optimizer_state_comes_back() {
    let m = load_model(dir().join("cnn.keras")).expect("load");
    let opt = m.optimizer().expect("compiled");
    assert_eq!(opt.iterations(), 8, "2 epochs of 4 steps");
    assert!((opt.learning_rate() - 0.002).abs() < 1e-9);
    // The legacy .h5 file of the same trained model carries the same state
    // (`optimizer_weights`: iteration, learning_rate, then the slots).
    let legacy = load_model(dir().join("cnn_legacy.h5")).expect("load legacy");
    let lopt = legacy.optimizer().expect("compiled");
    assert_eq!(lopt.iterations(), 8);
    assert!((lopt.learning_rate() - 0.002).abs() < 1e-9);
    let state = opt.state();
    assert_eq!(state.len(), 12, "momentum and velocity of 6 weights");
    assert_eq!(lopt.state(), state);
    assert!(state.iter().any(|(_, v)| v.iter().any(|x| *x != 0.0)));
}

#[test]
fn rkeras_files_round_trip() {
    let tmp = TempDir::new("saving");
    let g = golden();
    let x = tensor(&g["inputs"]);
    let mut m = load_model(dir().join("cnn.keras")).expect("load");
    let before = m.predict(&x).expect("predict");
    let path = tmp.0.join("again.keras");
    m.save(&path).expect("save");
    let mut back = load_model(&path).expect("reload");
    assert_eq!(back.predict(&x).expect("predict").data(), before.data());
    assert_eq!(back.optimizer().map(|o| o.iterations()), Some(8));
    let legacy = tmp.0.join("again.h5");
    m.save(&legacy).expect("save legacy h5");
    let mut back = load_model(&legacy).expect("reload legacy");
    assert_eq!(back.predict(&x).expect("predict").data(), before.data());
    let (a, b) = (m.optimizer().expect("opt"), back.optimizer().expect("opt"));
    assert_eq!(b.iterations(), 8);
    assert_eq!(
        b.state(),
        a.state(),
        "the legacy file keeps the optimizer state"
    );
    let w = tmp.0.join("again.weights.h5");
    m.save_weights(&w).expect("save weights");
    let mut fresh = cnn();
    fresh.load_weights(&w).expect("load weights");
    assert_eq!(fresh.predict(&x).expect("predict").data(), before.data());
}

#[test]
fn wrong_suffixes_and_mismatched_weights_are_explained() {
    let tmp = TempDir::new("saving-bad");
    let m = cnn();
    let e = m
        .save(tmp.0.join("model"))
        .expect_err("no suffix")
        .to_string();
    assert!(e.contains(".keras"), "{e}");
    let e = m
        .save_weights(tmp.0.join("model.h5"))
        .expect_err("suffix")
        .to_string();
    assert!(e.contains("must end in `.weights.h5`"), "{e}");
    // A model with another Dense size cannot take the golden weights.
    let mut other = cnn_with(7);
    let e = other
        .load_weights(dir().join("cnn.weights.h5"))
        .expect_err("shapes")
        .to_string();
    assert!(
        e.contains("dense") && e.contains("[6, 7]") && e.contains("[6, 5]"),
        "{e}"
    );
    // Garbage, truncated archives and missing files: errors, not panics.
    let junk = tmp.0.join("junk.keras");
    std::fs::write(&junk, b"PK\x03\x04 not really").expect("write");
    assert!(load_model(&junk).is_err());
    let bytes = std::fs::read(dir().join("cnn.keras")).expect("read");
    let cut = tmp.0.join("cut.keras");
    for n in [10, bytes.len() / 3, bytes.len() - 30] {
        std::fs::write(&cut, &bytes[..n]).expect("write");
        assert!(load_model(&cut).is_err(), "truncated at {n}");
    }
    let h5 = std::fs::read(dir().join("cnn.weights.h5")).expect("read");
    let cut = tmp.0.join("cut.weights.h5");
    for n in [7, 600, h5.len() / 2, h5.len() - 100] {
        std::fs::write(&cut, &h5[..n]).expect("write");
        let mut m = cnn();
        assert!(m.load_weights(&cut).is_err(), "truncated at {n}");
    }
    assert!(load_model(tmp.0.join("missing.keras")).is_err());
}

/// Mutated copies of real Keras files (byte flips, truncations, hostile lengths): loading
/// returns a result (usually an error) and never panics or runs away with memory.
#[test]
fn mutated_files_never_panic() {
    let tmp = TempDir::new("saving-fuzz");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (file, is_weights) in [
        ("cnn.keras", false),
        ("cnn_legacy.h5", false),
        ("cnn.weights.h5", true),
    ] {
        let original = std::fs::read(dir().join(file)).expect("read");
        let target = tmp.0.join(file);
        for round in 0..60 {
            let mut bytes = original.clone();
            match round % 3 {
                0 => {
                    for _ in 0..1 + next() % 8 {
                        let i = (next() as usize) % bytes.len();
                        bytes[i] ^= 1 << (next() % 8);
                    }
                }
                1 => {
                    // A run of 0xff: huge sizes and addresses.
                    let i = (next() as usize) % bytes.len();
                    let n = (1 + next() % 16) as usize;
                    for b in bytes.iter_mut().skip(i).take(n) {
                        *b = 0xff;
                    }
                }
                _ => {
                    let n = (next() as usize) % bytes.len();
                    bytes.truncate(n);
                }
            }
            std::fs::write(&target, &bytes).expect("write");
            let outcome = std::panic::catch_unwind(|| {
                if is_weights {
                    let mut m = cnn();
                    let _ = m.load_weights(&target);
                } else {
                    let _ = load_model(&target);
                }
            });
            assert!(outcome.is_ok(), "{file}, round {round}: panicked");
        }
    }
}
