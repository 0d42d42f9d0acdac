//! The layers of issue 6 against real Keras 3.15.1 (golden files made by
//! `golden/layers/make_layers_golden.py`): a trained model with BatchNormalization,
//! LayerNormalization, the global poolings, padding, cropping, upsampling, reshape and
//! permute loads and predicts as Keras does, prints Keras's summary, and trains from the
//! same initial weights to the same weights (moving statistics included); a model with the
//! convolution family (grouped and dilated Conv2D, bilinear UpSampling2D, SeparableConv2D,
//! Conv2DTranspose; `golden/layers/make_convs_golden.py`) predicts and summarizes as Keras
//! does, and survives rkeras's own save and load.

use rkeras::prelude::*;
use rkeras::saving::load_model;
use serde_json::Value;

mod common;
use common::{max_diff, tensor};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/layers")
}

fn json(name: &str) -> Value {
    let p = dir().join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).expect("golden")).expect("json")
}

#[test]
fn a_keras_model_with_the_new_layers_predicts_and_summarizes_like_keras() {
    let g = json("blocks_predictions.json");
    let mut m = load_model(dir().join("blocks.keras")).expect("load blocks.keras");
    let got = m.predict(&tensor(&g["inputs"])).expect("predict");
    let d = max_diff(got.data(), tensor(&g["outputs"]).data());
    assert!(d < 1e-5, "max abs difference {d}");
    let want = std::fs::read_to_string(dir().join("blocks_summary_76.txt")).expect("summary");
    assert_eq!(m.summary_string(Some(76)), want);
}

#[test]
fn keras_convolution_family_layers_predict_and_summarize_like_keras() {
    // Grouped + dilated Conv2D, bilinear UpSampling2D, SeparableConv2D, Conv2DTranspose
    // (valid, same with even kernel, same with output_padding, dilated).
    let g = json("convs_predictions.json");
    let mut m = load_model(dir().join("convs.keras")).expect("load convs.keras");
    let got = m.predict(&tensor(&g["inputs"])).expect("predict");
    let want = tensor(&g["outputs"]);
    assert_eq!(got.shape(), want.shape());
    let scale = want.data().iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let d = max_diff(got.data(), want.data());
    assert!(
        d < 1e-5 * scale.max(1.0),
        "max abs difference {d} (max |y| {scale})"
    );
    let want = std::fs::read_to_string(dir().join("convs_summary_76.txt")).expect("summary");
    assert_eq!(m.summary_string(Some(76)), want);
    // rkeras writes the configs (groups, output_padding, interpolation...) back faithfully.
    let tmp = common::TempDir::new("convs");
    let path = tmp.0.join("convs.keras");
    m.save(&path).expect("save");
    let mut back = load_model(&path).expect("reload");
    let again = back.predict(&tensor(&g["inputs"])).expect("predict");
    assert_eq!(again.data(), got.data());
    assert_eq!(back.to_json(), m.to_json());
}

/// The golden architecture without SpatialDropout2D, built in Rust.
fn parity_model() -> Model {
    rkeras::clear_session();
    Sequential::with_name(
        "parity",
        [
            InputLayer::new((8, 8, 3)).into(),
            Conv2D::new(4, 3).padding("same").into(),
            BatchNormalization::new().into(),
            Activation::new("relu").into(),
            ZeroPadding2D::new(((1, 0), (0, 1))).into(),
            Cropping2D::new(((0, 1), (1, 0))).into(),
            UpSampling2D::new(2).into(),
            MaxPooling2D::new(2).into(),
            Conv2D::new(6, 3).into(),
            BatchNormalization::new().center(false).momentum(0.9).into(),
            GlobalAveragePooling2D::new().into(),
            Reshape::new(&[2, 3]).into(),
            Permute::new(&[2, 1]).into(),
            LayerNormalization::new().into(),
            Flatten::new().into(),
            Dense::new(3).activation("softmax").into(),
        ],
    )
    .expect("parity model")
}

#[test]
fn training_from_keras_initial_weights_lands_on_keras_final_weights() {
    let data = json("parity.json");
    let (x, y) = (tensor(&data["x"]), tensor(&data["y"]));
    let mut m = parity_model();
    m.compile(
        SGD::default().learning_rate(0.1),
        "categorical_crossentropy",
        &[],
    )
    .expect("compile");
    m.load_weights(dir().join("parity_initial.weights.h5"))
        .expect("initial weights");
    m.fit(&x, &y)
        .epochs(1)
        .batch_size(8)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("fit");
    let mut want = parity_model();
    want.load_weights(dir().join("parity_final.weights.h5"))
        .expect("final weights");
    let mut initial = parity_model();
    initial
        .load_weights(dir().join("parity_initial.weights.h5"))
        .expect("initial weights");
    let (got, want) = (m.get_weights(), want.get_weights());
    assert_eq!(got.len(), want.len());
    // Every weight moved (the moving statistics too), so the comparison means something;
    // except the biases of the two convolutions, whose gradient through BatchNormalization
    // is zero (the batch mean absorbs them).
    let names: Vec<String> = m
        .layers()
        .iter()
        .flat_map(|l| {
            l.params()
                .iter()
                .map(move |p| format!("{}/{}", l.name(), p.name))
        })
        .collect();
    for ((a, b), name) in initial.get_weights().iter().zip(&want).zip(&names) {
        let moved = max_diff(a.data(), b.data()) > 1e-5;
        let conv_bias = name.starts_with("conv2d") && name.ends_with("/bias");
        assert_eq!(moved, !conv_bias, "{name}");
    }
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        let d = max_diff(a.data(), b.data());
        assert!(
            d < 1e-4,
            "weight {i} (shape {:?}): max abs difference {d}",
            a.shape()
        );
    }
}

/// Regularizers and constraints of DepthwiseConv2D, SeparableConv2D, BatchNormalization and
/// LayerNormalization, from a Keras-saved `.keras` (`golden/layers/make_regularized_golden.py`):
/// `evaluate` reports Keras's loss (data term plus every penalty), and one epoch of SGD gives
/// Keras's loss and weights (penalty gradients and constraints included).
#[test]
fn keras_regularizers_and_constraints_of_every_layer_train_like_keras() {
    let g = json("regularized.json");
    let mut m = load_model(dir().join("regularized.keras")).expect("load regularized.keras");
    let (x, y) = (tensor(&g["inputs"]), tensor(&g["targets"]));
    let loss = m.evaluate(&x, &y).expect("evaluate").loss();
    let want = g["evaluate_loss"].as_f64().expect("loss");
    assert!(
        (loss - want).abs() < 1e-5,
        "evaluate loss {loss} vs Keras {want}"
    );
    let h = m
        .fit(&x, &y)
        .epochs(1)
        .batch_size(2)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("fit");
    let got = h.last("loss").expect("loss");
    let want = g["fit_loss"].as_f64().expect("fit loss");
    assert!((got - want).abs() < 1e-5, "fit loss {got} vs Keras {want}");
    let weights = m.get_weights();
    let Some(want) = g["weights_after"].as_array() else {
        panic!("weights_after")
    };
    assert_eq!(weights.len(), want.len());
    for (i, (w, k)) in weights.iter().zip(want).enumerate() {
        let d = max_diff(w.data(), tensor(k).data());
        assert!(d < 1e-5, "weight {i}: max abs difference {d}");
    }
    // rkeras writes the options back: its own file evaluates to the same loss.
    let tmp = common::TempDir::new("regularized");
    let path = tmp.0.join("regularized.keras");
    m.save(&path).expect("save");
    // KEEP_REGULARIZED=path keeps a copy, to check that Python Keras loads it (it does, with
    // every option and the same loss).
    if let Some(keep) = std::env::var_os("KEEP_REGULARIZED") {
        std::fs::copy(&path, keep).expect("keep");
    }
    let before = m.evaluate(&x, &y).expect("evaluate").loss();
    let after = load_model(&path)
        .expect("reload")
        .evaluate(&x, &y)
        .expect("evaluate")
        .loss();
    assert!((before - after).abs() < 1e-6, "{before} vs {after}");
}
