//! The activation layer classes and broadcasting merges against real Keras 3.15.1 (golden
//! files made by `golden/activations/make_golden.py`): a Keras model with `ReLU` (plain,
//! with `max_value=6` as MobileNet's, and with threshold, slope and clip), `LeakyReLU`,
//! `ELU`, `PReLU`, `Softmax`, and the `hard_silu` and `mish` activations; and a functional
//! model whose `Multiply`, `Add`, `Subtract` and `Maximum` broadcast (a squeeze-and-excite
//! block). Each loads, predicts and summarizes as Keras does, survives rkeras's own save and
//! load, and trains one epoch from Keras's initial weights to Keras's weights.

mod common;
use common::check_keras_model;

#[test]
fn keras_activation_layers_predict_summarize_and_train_like_keras() {
    check_keras_model("activations", "activations");
}

#[test]
fn keras_merges_that_broadcast_predict_summarize_and_train_like_keras() {
    check_keras_model("activations", "broadcast");
}

#[test]
fn keras_applications_own_layers_predict_summarize_and_train_like_keras() {
    // ConvNeXt's LayerScale and InceptionResNetV2's CustomScaleLayer.
    check_keras_model("activations", "apps_layers");
}

#[test]
fn group_and_unit_normalization_predict_summarize_and_train_like_keras() {
    check_keras_model("activations", "normalizations");
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
