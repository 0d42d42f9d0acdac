//! The activation layer classes against real Keras 3.15.1 (golden files made by
//! `golden/activations/make_activations_golden.py`): a Keras model with `ReLU` (plain, with
//! `max_value=6` as MobileNet's, and with threshold, slope and clip), `LeakyReLU`, `ELU`,
//! `PReLU`, `Softmax`, and the `hard_silu` and `mish` activations loads, predicts and summarizes as
//! Keras does, trains one epoch from Keras's initial weights to Keras's weights, and
//! survives rkeras's own save and load.

use rkeras::saving::load_model;
use serde_json::Value;

mod common;
use common::{max_diff, tensor};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/activations")
}

fn golden() -> Value {
    let p = dir().join("activations.json");
    serde_json::from_str(&std::fs::read_to_string(&p).expect("golden")).expect("json")
}

#[test]
fn keras_activation_layers_predict_and_summarize_like_keras() {
    let g = golden();
    let mut m = load_model(dir().join("activations.keras")).expect("load activations.keras");
    let got = m.predict(&tensor(&g["inputs"])).expect("predict");
    let d = max_diff(got.data(), tensor(&g["outputs"]).data());
    assert!(d < 1e-5, "max abs difference {d}");
    let want = std::fs::read_to_string(dir().join("activations_summary_76.txt")).expect("summary");
    assert_eq!(m.summary_string(Some(76)), want);

    // rkeras writes the layers' configs back: the reloaded model predicts the same.
    let tmp = common::TempDir::new("activations");
    let path = tmp.0.join("activations.keras");
    m.save(&path).expect("save");
    let mut back = load_model(&path).expect("reload");
    let again = back.predict(&tensor(&g["inputs"])).expect("predict");
    assert_eq!(again.data(), got.data());
    let names: Vec<&str> = back.layers().iter().map(|l| l.class_name()).collect();
    for class in ["ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax"] {
        assert!(names.contains(&class), "{class} in {names:?}");
    }
}

#[test]
fn one_epoch_from_keras_initial_weights_reaches_keras_weights() {
    let g = golden();
    let mut m = load_model(dir().join("activations.keras")).expect("load activations.keras");
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
        "loss {loss} against Keras's {want_loss}"
    );
    let want = g["final"].as_array().expect("weights");
    let initial = load_model(dir().join("activations.keras"))
        .expect("load")
        .get_weights();
    let got = m.get_weights();
    // Training moved every weight, so matching Keras's means the gradients agree.
    for (i, (a, b)) in initial.iter().zip(want).enumerate() {
        assert!(
            max_diff(a.data(), tensor(b).data()) > 1e-4,
            "weight {i} moved"
        );
    }
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let b = tensor(b);
        assert_eq!(a.shape(), b.shape(), "weight {i}");
        let d = max_diff(a.data(), b.data());
        assert!(d < 1e-5, "weight {i}: max abs difference {d}");
    }
}

#[test]
fn layers_built_in_rust_get_keras_automatic_names() {
    use rkeras::prelude::*;
    rkeras::clear_session();
    let m = Sequential::new([
        ReLU::new().input_shape(4).into(),
        LeakyReLU::new().into(),
        ELU::new().into(),
        PReLU::new().into(),
        Softmax::new().into(),
    ])
    .expect("model");
    let names: Vec<&str> = m.layers().iter().map(|l| l.name()).collect();
    assert_eq!(names, ["re_lu", "leaky_re_lu", "elu", "p_re_lu", "softmax"]);
}
