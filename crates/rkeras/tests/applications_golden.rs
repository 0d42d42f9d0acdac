//! keras.applications models against real Keras 3.15.1 (golden files made by
//! `golden/applications/make_applications_golden.py`): MobileNet, MobileNetV2,
//! EfficientNetB0 (squeeze-and-excite blocks, `Normalization`, `VarianceScaling`) and
//! MobileNetV3Small (Keras operations in the graph) built from
//! Keras's own architecture JSON print Keras's summary and, with every weight set by the same
//! formula on both sides, give Keras's outputs.

use serde_json::Value;

mod common;
use common::{formula_weights, golden_dir, golden_json, max_diff, tensor};

fn check(name: &str) {
    let g: Value = golden_json("applications", &format!("{name}.json"));
    let mut m = rkeras::saving::from_config(&g["config"]).expect("Keras's config builds");
    let summary = golden_dir("applications").join(format!("{name}_summary_76.txt"));
    let want = std::fs::read_to_string(summary).expect("summary");
    assert_eq!(m.summary_string(Some(76)), want, "{name} summary");
    let weights = formula_weights(&m);
    assert_eq!(weights.len() as u64, g["weights"].as_u64().expect("count"));
    m.set_weights(&weights).expect("set weights");
    let got = m.predict(&tensor(&g["inputs"])).expect("predict");
    let want = tensor(&g["outputs"]);
    assert_eq!(got.shape(), want.shape());
    let scale = want.data().iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let d = max_diff(got.data(), want.data());
    assert!(
        d < 1e-4 * scale,
        "{name}: max abs difference {d} (max |y| {scale})"
    );
}

#[test]
fn mobilenet_from_keras_predicts_and_summarizes_like_keras() {
    check("mobilenet");
}

#[test]
fn mobilenetv2_from_keras_predicts_and_summarizes_like_keras() {
    check("mobilenetv2");
}

#[test]
fn efficientnetb0_from_keras_predicts_and_summarizes_like_keras() {
    check("efficientnetb0");
}

#[test]
fn mobilenetv3small_from_keras_predicts_and_summarizes_like_keras() {
    // Its hard sigmoid is saved as Keras operations (`x + 3.0`, `x * (1 / 6)`).
    check("mobilenetv3small");
}
