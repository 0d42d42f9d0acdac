//! Legacy (Keras 2 layout) weights-only `.h5` files, as keras.applications publishes its
//! weights (golden file written by Keras 3.15.1's legacy writer,
//! `golden/saving/make_legacy_weights_golden.py`): `load_weights` reads them in layer order
//! and predicts as Keras; `load_weights_by_name` with `skip_mismatch` loads the backbone into
//! a model with another head and reports the head it skipped.

use rkeras::prelude::*;

mod common;
use common::{golden_dir, golden_json, max_diff, tensor};

fn file() -> std::path::PathBuf {
    golden_dir("saving").join("legacy_weights.h5")
}

#[test]
fn legacy_weight_files_load_in_order_and_predict_like_keras() {
    let g = golden_json("saving", "legacy_weights.json");
    let mut m = rkeras::saving::from_config(&g["config"]).expect("config");
    m.load_weights(file()).expect("legacy weights");
    let got = m.predict(&tensor(&g["inputs"])).expect("predict");
    let d = max_diff(got.data(), tensor(&g["outputs"]).data());
    assert!(d < 1e-5, "max abs difference {d}");
}

#[test]
fn by_name_with_skip_mismatch_loads_the_backbone_under_another_head() {
    let g = golden_json("saving", "legacy_weights.json");
    let mut full = rkeras::saving::from_config(&g["config"]).expect("config");
    full.load_weights(file()).expect("legacy weights");
    let backbone = |head: usize| {
        Sequential::new([
            Conv2D::new(4, 3)
                .name("conv_a")
                .input_shape((8, 8, 3))
                .into(),
            BatchNormalization::new().name("bn").into(),
            ReLU::new().into(),
            Conv2D::new(6, 3).name("conv_b").into(),
            GlobalAveragePooling2D::new().into(),
            Dense::new(head).name("head").into(),
        ])
        .expect("model")
    };
    let mut other = backbone(3);
    // Without skip_mismatch the head's shape is an error naming it and both shapes.
    let e = other
        .load_weights_by_name(file(), false)
        .expect_err("head 5 vs 3")
        .to_string();
    assert!(
        e.contains("head") && e.contains("[6, 3]") && e.contains("[6, 5]"),
        "{e}"
    );
    let mut other = backbone(3);
    let head_before = other.get_layer("head").expect("head").params()[0]
        .value
        .clone();
    let skipped = other.load_weights_by_name(file(), true).expect("by name");
    // One message per mismatched weight of the head (kernel, bias), the head alone.
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped.iter().all(|s| s.contains("layer head")),
        "{skipped:?}"
    );
    for name in ["conv_a", "bn", "conv_b"] {
        let a = other.get_layer(name).expect("layer");
        let b = full.get_layer(name).expect("layer");
        for (p, q) in a.params().iter().zip(b.params()) {
            assert_eq!(p.value, q.value, "{name}/{}", p.name);
        }
    }
    // The skipped head keeps its own initial weights.
    let head_after = &other.get_layer("head").expect("head").params()[0].value;
    assert_eq!(head_after, &head_before);
    // Order matching refuses a model with a layer count that differs, as Keras does.
    let mut smaller = Sequential::new([Dense::new(2).input_shape(3).into()]).expect("model");
    let e = smaller.load_weights(file()).expect_err("count").to_string();
    assert!(e.contains("Layer count mismatch"), "{e}");
    // A Keras 3 file has no legacy layout: by_name refuses it, as Keras does.
    let tmp = common::TempDir::new("by-name");
    let k3 = tmp.0.join("m.weights.h5");
    full.save_weights(&k3).expect("save");
    let e = other
        .load_weights_by_name(&k3, true)
        .expect_err("Keras 3")
        .to_string();
    assert!(e.contains("legacy"), "{e}");
}
