//! keras.applications models against real Keras 3.15.1 (golden files made by
//! `golden/applications/make_applications_golden.py`): MobileNet, MobileNetV2,
//! EfficientNetB0 (squeeze-and-excite blocks, `Normalization`, `VarianceScaling`) and
//! MobileNetV3Small (Keras operations in the graph) built from
//! Keras's own architecture JSON print Keras's summary and, with every weight set by the same
//! formula on both sides, give Keras's outputs.

use rkeras::prelude::*;
use serde_json::Value;

mod common;
use common::{golden_dir, golden_json, max_diff, tensor};

/// The generator's weights: see its docstring.
fn formula(class: &str, weight: &str, shape: &[usize], k: usize) -> Tensor {
    let n: usize = shape.iter().product();
    let s = (0..n).map(|i| (0.7 * i as f64 + 1.3 * k as f64 + 0.1).sin());
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
    Tensor::new(shape.to_vec(), v).expect("weight")
}

fn check(name: &str) {
    let g: Value = golden_json("applications", &format!("{name}.json"));
    let mut m = rkeras::saving::from_config(&g["config"]).expect("Keras's config builds");
    let summary = golden_dir("applications").join(format!("{name}_summary_76.txt"));
    let want = std::fs::read_to_string(summary).expect("summary");
    assert_eq!(m.summary_string(Some(76)), want, "{name} summary");
    let mut weights = Vec::new();
    for l in m.layers() {
        for p in l.params() {
            weights.push(formula(l.class_name(), p.name, &p.shape, weights.len()));
        }
    }
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
