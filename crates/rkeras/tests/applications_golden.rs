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

/// keras.applications' `preprocess_input` called on a symbolic tensor inside a model
/// (`golden/preprocess/make_preprocess_golden.py`): "caffe" mode (GetItem, Stack and an Add
/// of a constant tensor), "torch" (divisions and an addition by constant tensors) and "tf"
/// (numbers) load, predict and print as in Keras, save and load again, and train one epoch
/// to Keras's weights.
#[test]
fn preprocess_input_inside_keras_models_loads_predicts_and_trains_as_keras() {
    for mode in ["caffe", "torch", "tf"] {
        common::check_keras_model("preprocess", mode);
    }
}

/// The layer entries of the `config.json` in `golden/preprocess/NAME.keras`.
fn keras_layers(name: &str) -> Vec<Value> {
    let path = golden_dir("preprocess").join(format!("{name}.keras"));
    let file = std::fs::File::open(&path).expect("golden .keras");
    let mut zip = zip::ZipArchive::new(file).expect("zip");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("config.json").expect("config"), &mut text)
        .expect("read config");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["config"]["layers"].as_array().expect("layers").clone()
}

#[test]
fn caffe_preprocessing_is_written_as_keras_writes_it() {
    use rkeras::prelude::*;
    let keras = keras_layers("caffe");
    // The input and the five operations, as Keras wrote them.
    let ops = &keras[..6];
    let classes: Vec<&str> = ops
        .iter()
        .map(|l| l["class_name"].as_str().expect("class"))
        .collect();
    assert_eq!(
        classes,
        [
            "InputLayer",
            "GetItem",
            "GetItem",
            "GetItem",
            "Stack",
            "Add"
        ]
    );
    // A Keras file read and written again by rkeras keeps them exactly.
    let m = rkeras::saving::load_model(golden_dir("preprocess").join("caffe.keras")).expect("load");
    let ours: Value = serde_json::from_str(&m.to_json()).expect("json");
    assert_eq!(
        ours["config"]["layers"].as_array().expect("layers")[..6],
        *ops
    );
    // Built in Rust, the same entries.
    rkeras::clear_session();
    let inputs = Input::new((8, 8, 3));
    let x = rkeras::applications::preprocess_input_caffe_layers(&inputs).expect("caffe");
    let x = Conv2D::new(4, 3).call(&x).expect("conv");
    let built = Model::functional_named(&inputs, &x, "caffe").expect("model");
    let ours: Value = serde_json::from_str(&built.to_json()).expect("json");
    assert_eq!(
        ours["config"]["layers"].as_array().expect("layers")[..6],
        *ops
    );
    // And it computes Keras's preprocess_input on pixels.
    let mut px = rkeras::Tensor::new(vec![1, 1, 1, 3], vec![10.0, 20.0, 30.0]).expect("x");
    let inputs = Input::new((1, 1, 3));
    let y = rkeras::applications::preprocess_input_caffe_layers(&inputs).expect("caffe");
    let mut m = Model::functional(&inputs, &y).expect("model");
    let got = m.predict(&px).expect("predict");
    rkeras::applications::preprocess_input_caffe(&mut px).expect("caffe");
    assert_eq!(got.data(), px.data());
    assert!(rkeras::applications::preprocess_input_caffe_layers(&Input::new((4, 4, 1))).is_err());
}
