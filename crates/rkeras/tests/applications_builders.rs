//! rkeras's own keras.applications builders against Keras 3.15.1 (golden files made by
//! `golden/applications/make_builder_golden.py`, a fresh Keras session per model):
//! `applications::MobileNetV2` at two widths and input sizes prints Keras's summary character
//! for character and, with every weight set by the same formula, gives Keras's outputs.
//! One test, so that the automatic names start afresh for each model as in the generator.
//! The EfficientNet and MobileNetV3 files come from `make_efficientnet_golden.py`; each build
//! starts with `rkeras::clear_session()`, as the generator's with Keras's.

use rkeras::applications::MobileNetV2;

mod common;
use common::{formula_weights, golden_dir, golden_json, max_diff, tensor};

#[test]
fn mobilenetv2_builder_matches_keras_at_two_sizes() {
    for (alpha, size) in [(0.35, 32), (0.5, 48)] {
        rkeras::clear_session();
        let name = format!("builder_mobilenetv2_{alpha}_{size}");
        let mut m = MobileNetV2::new()
            .input_shape((size, size, 3))
            .alpha(alpha)
            .classes(10)
            .classifier_activation(None)
            .build()
            .expect("builds");
        let summary = golden_dir("applications").join(format!("{name}_summary_76.txt"));
        let want = std::fs::read_to_string(summary).expect("summary");
        assert_eq!(m.summary_string(Some(76)), want, "{name}");
        let g = golden_json("applications", &format!("{name}.json"));
        let weights = formula_weights(&m);
        assert_eq!(weights.len() as u64, g["weights"].as_u64().expect("count"));
        m.set_weights(&weights).expect("weights");
        let got = m.predict(&tensor(&g["inputs"])).expect("predict");
        let want = tensor(&g["outputs"]);
        let scale = want.data().iter().fold(0.0f32, |a, v| a.max(v.abs()));
        let d = max_diff(got.data(), want.data());
        assert!(
            d < 1e-4 * scale,
            "{name}: max abs difference {d} (max |y| {scale})"
        );
    }
    // weights=FILE: a Keras 3 weights file loads at build.
    rkeras::clear_session();
    let mut m = MobileNetV2::new()
        .input_shape((32, 32, 3))
        .alpha(0.35)
        .classes(10)
        .build()
        .expect("builds");
    let weights = formula_weights(&m);
    m.set_weights(&weights).expect("weights");
    let tmp = common::TempDir::new("mnv2");
    let file = tmp.0.join("mnv2.weights.h5");
    m.save_weights(&file).expect("save");
    let loaded = MobileNetV2::new()
        .input_shape((32, 32, 3))
        .alpha(0.35)
        .classes(10)
        .weights(&file)
        .build()
        .expect("builds with weights");
    assert_eq!(loaded.get_weights()[5].data(), m.get_weights()[5].data());
    // Without the top, pooled: the backbone for transfer learning.
    let base = MobileNetV2::new()
        .input_shape((32, 32, 3))
        .alpha(0.35)
        .include_top(false)
        .pooling("avg")
        .build()
        .expect("base");
    assert_eq!(base.output_shape(), Some(&[1280][..]));
    let e = MobileNetV2::new()
        .input_shape((16, 16, 3))
        .build()
        .expect_err("too small");
    assert!(e.to_string().contains("at least 32x32"), "{e}");
}

/// The builders of the ResNet, VGG, DenseNet and MobileNet families against Keras: the
/// summary (ResNet50, ResNet50V2, VGG16, MobileNet at two sizes, DenseNet121), the layer
/// count and parameter total (all), and the outputs with the formula weights.
#[test]
fn resnet_vgg_densenet_and_mobilenet_builders_match_keras() {
    use rkeras::applications::{DenseNet, MobileNet, ResNet, Vgg};
    fn make(app: &str, size: usize) -> rkeras::Result<rkeras::Model> {
        macro_rules! build {
            ($b:expr) => {
                $b.input_shape((size, size, 3))
                    .classes(10)
                    .classifier_activation(None)
                    .build()
            };
        }
        match app {
            "resnet50" => build!(ResNet::resnet50()),
            "resnet101" => build!(ResNet::resnet101()),
            "resnet152" => build!(ResNet::resnet152()),
            "resnet50v2" => build!(ResNet::resnet50_v2()),
            "resnet101v2" => build!(ResNet::resnet101_v2()),
            "resnet152v2" => build!(ResNet::resnet152_v2()),
            "vgg16" => build!(Vgg::vgg16()),
            "vgg19" => build!(Vgg::vgg19()),
            "densenet121" => build!(DenseNet::densenet121()),
            "densenet169" => build!(DenseNet::densenet169()),
            "densenet201" => build!(DenseNet::densenet201()),
            _ => build!(MobileNet::new().alpha(0.25)),
        }
    }
    let cases: [(&str, &[usize], bool); 12] = [
        ("resnet50", &[32, 48], true),
        ("resnet101", &[32], false),
        ("resnet152", &[32], false),
        ("resnet50v2", &[32, 48], true),
        ("resnet101v2", &[32], false),
        ("resnet152v2", &[32], false),
        ("vgg16", &[32, 48], true),
        ("vgg19", &[32], false),
        ("densenet121", &[32], true),
        ("densenet169", &[32], false),
        ("densenet201", &[32], false),
        ("mobilenet", &[32, 48], true),
    ];
    for (app, sizes, with_summary) in cases {
        for &size in sizes {
            rkeras::clear_session();
            let name = format!("builder_{app}_{size}");
            let mut m = make(app, size).expect("builds");
            let summary = m.summary_string(Some(76));
            if with_summary {
                let file = golden_dir("applications").join(format!("{name}_summary_76.txt"));
                let want = std::fs::read_to_string(file).expect("summary");
                assert_eq!(summary, want, "{name}");
            }
            let g = golden_json("applications", &format!("{name}.json"));
            let total = g["total"].as_str().expect("total");
            assert!(summary.contains(total), "{name}: {total}");
            // Keras's layer list holds the InputLayer.
            assert_eq!(
                m.layers().len() as u64 + 1,
                g["layers"].as_u64().expect("layers")
            );
            let weights = formula_weights(&m);
            assert_eq!(weights.len() as u64, g["weights"].as_u64().expect("count"));
            m.set_weights(&weights).expect("weights");
            let got = m.predict(&tensor(&g["inputs"])).expect("predict");
            let want = tensor(&g["outputs"]);
            let scale = want.data().iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let d = max_diff(got.data(), want.data());
            assert!(
                d < 1e-4 * scale,
                "{name}: max abs difference {d} (max |y| {scale})"
            );
        }
    }
}

/// EfficientNetB0 .. B7 against Keras (golden files of `make_efficientnet_golden.py`): the
/// summary of B0 at two input sizes character for character, the layer count, parameter
/// total and outputs with the formula weights (relative 1e-4) of all eight, and a
/// `weights=FILE` round trip.
#[test]
fn efficientnet_builders_match_keras() {
    use rkeras::applications::EfficientNet;
    let family = [
        EfficientNet::efficientnet_b0,
        EfficientNet::efficientnet_b1,
        EfficientNet::efficientnet_b2,
        EfficientNet::efficientnet_b3,
        EfficientNet::efficientnet_b4,
        EfficientNet::efficientnet_b5,
        EfficientNet::efficientnet_b6,
        EfficientNet::efficientnet_b7,
    ];
    for (b, make) in family.iter().enumerate() {
        let sizes: &[usize] = if b == 0 { &[32, 48] } else { &[32] };
        for &size in sizes {
            rkeras::clear_session();
            let name = format!("builder_efficientnetb{b}_{size}");
            let mut m = make()
                .input_shape((size, size, 3))
                .classes(10)
                .classifier_activation(None)
                .build()
                .expect("builds");
            assert_eq!(m.name(), format!("efficientnetb{b}"));
            check_against_keras(&mut m, &name, b == 0);
        }
    }
    // weights=FILE: a Keras 3 weights file loads at build.
    rkeras::clear_session();
    let build = || {
        EfficientNet::efficientnet_b0()
            .input_shape((32, 32, 3))
            .classes(10)
    };
    let mut m = build().build().expect("builds");
    let weights = formula_weights(&m);
    m.set_weights(&weights).expect("weights");
    let tmp = common::TempDir::new("effnet");
    let file = tmp.0.join("effnet.weights.h5");
    m.save_weights(&file).expect("save");
    let loaded = build().weights(&file).build().expect("builds with weights");
    for (a, b) in loaded.get_weights().iter().zip(m.get_weights()) {
        assert_eq!(a.data(), b.data());
    }
    // Keras's weights="imagenet" network (one more Rescaling, per channel), its file given:
    // Keras's model loaded the formula weights from a file, as here.
    rkeras::clear_session();
    let notop = || {
        EfficientNet::efficientnet_b0()
            .input_shape((32, 32, 3))
            .include_top(false)
            .pooling("avg")
    };
    let mut src = notop().build().expect("builds");
    let weights = formula_weights(&src);
    src.set_weights(&weights).expect("weights");
    let file = tmp.0.join("notop.weights.h5");
    src.save_weights(&file).expect("save");
    rkeras::clear_session();
    let mut m = notop().imagenet_weights(&file).build().expect("imagenet");
    let g = golden_json("applications", "builder_efficientnetb0_imagenet_32.json");
    let names: Vec<&str> = m.layers().iter().map(|l| l.name()).collect();
    let want: Vec<&str> = g["names"].as_array().expect("names")[1..]
        .iter()
        .map(|v| v.as_str().expect("name"))
        .collect();
    assert_eq!(names, want);
    let total = g["total"].as_str().expect("total");
    assert!(m.summary_string(Some(76)).contains(total), "{total}");
    let got = m.predict(&tensor(&g["inputs"])).expect("predict");
    let want = tensor(&g["outputs"]);
    let scale = want.data().iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let d = max_diff(got.data(), want.data());
    assert!(
        d < 1e-4 * scale,
        "imagenet: max abs difference {d} (max |y| {scale})"
    );
    // Its config (the per-channel scales a list, as Keras writes them) reads back.
    let json = m.to_json();
    assert!(
        json.contains(r#""scale":[2.0896918976428642,"#),
        "per-channel scale"
    );
    let back = rkeras::saving::model_from_json(&json).expect("reads back");
    assert_eq!(back.summary_string(Some(76)), m.summary_string(Some(76)));
    // Without the top, pooled: the backbone for transfer learning.
    let base = EfficientNet::efficientnet_b0()
        .input_shape((32, 32, 3))
        .include_top(false)
        .pooling("max")
        .build()
        .expect("base");
    assert_eq!(base.output_shape(), Some(&[1280][..]));
    let e = EfficientNet::efficientnet_b3()
        .input_shape((16, 16, 3))
        .build()
        .expect_err("too small");
    assert!(e.to_string().contains("at least 32x32"), "{e}");
}

/// `m` against Keras's golden files `NAME.json` (weights, layers, total, inputs, outputs)
/// and, `with_summary`, `NAME_summary_76.txt`.
fn check_against_keras(m: &mut rkeras::Model, name: &str, with_summary: bool) {
    check_against_keras_within(m, name, with_summary, 1e-4);
}

/// Keras's summary of `golden/applications/NAME_summary_76.txt`, or of its gzipped
/// `.txt.gz` (NASNetLarge's is 431 KB plain).
fn summary_golden(name: &str) -> String {
    let dir = golden_dir("applications");
    let plain = dir.join(format!("{name}_summary_76.txt"));
    if plain.exists() {
        return std::fs::read_to_string(plain).expect("summary");
    }
    let gz = dir.join(format!("{name}_summary_76.txt.gz"));
    let file = std::fs::File::open(&gz).unwrap_or_else(|e| panic!("{}: {e}", gz.display()));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(file), &mut text)
        .expect("gzipped summary");
    text
}

/// [`check_against_keras`] with the outputs within `rel` of the largest.
fn check_against_keras_within(m: &mut rkeras::Model, name: &str, with_summary: bool, rel: f32) {
    let summary = m.summary_string(Some(76));
    if with_summary {
        let want = summary_golden(name);
        if summary != want {
            // The first differing line, rather than two texts of hundreds of KB.
            let line = summary
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| summary.lines().count().min(want.lines().count()));
            panic!(
                "{name}: the summary differs from Keras's at line {}:\nrkeras: {:?}\nKeras:  {:?}",
                line + 1,
                summary.lines().nth(line),
                want.lines().nth(line)
            );
        }
    }
    let g = golden_json("applications", &format!("{name}.json"));
    let total = g["total"].as_str().expect("total");
    assert!(summary.contains(total), "{name}: {total}");
    // Keras's layer list holds the InputLayer, and not the operations in the graph
    // (MobileNetV3's `x + 3`, which the summary shows); a nested model is one layer (the
    // config's top level, as Keras's `model.layers`).
    let config: serde_json::Value = serde_json::from_str(&m.to_json()).expect("json");
    let layers = config["config"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .filter(|l| {
            !l["module"]
                .as_str()
                .is_some_and(|m| m.starts_with("keras.src.ops"))
        })
        .count();
    assert_eq!(
        layers as u64,
        g["layers"].as_u64().expect("layers"),
        "{name}"
    );
    let weights = formula_weights(m);
    assert_eq!(weights.len() as u64, g["weights"].as_u64().expect("count"));
    m.set_weights(&weights).expect("weights");
    let got = m.predict(&tensor(&g["inputs"])).expect("predict");
    let want = tensor(&g["outputs"]);
    let scale = want.data().iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let d = max_diff(got.data(), want.data());
    assert!(
        d < rel * scale,
        "{name}: max abs difference {d} (max |y| {scale})"
    );
}

/// EfficientNetB0's and MobileNetV3Small's configs against the ones Keras writes
/// (`efficientnetb0.json`, `mobilenetv3small.json` of `make_applications_golden.py`): per
/// layer, the class and the settings that shape the network or its training (initializers,
/// activations, dropout rates and noise shapes, axes, the numbers of Keras's operations),
/// and the config read back builds the same model.
#[test]
fn efficientnet_and_mobilenet_v3_configs_match_keras() {
    use rkeras::applications::{EfficientNet, MobileNetV3};
    rkeras::clear_session();
    let m = EfficientNet::efficientnet_b0()
        .input_shape((32, 32, 3))
        .classes(10)
        .classifier_activation(None)
        .build()
        .expect("builds");
    check_config_against_keras(&m, "efficientnetb0.json");
    rkeras::clear_session();
    let m = MobileNetV3::mobilenet_v3_small()
        .input_shape((32, 32, 3))
        .alpha(0.75)
        .classes(10)
        .classifier_activation(None)
        .build()
        .expect("builds");
    check_config_against_keras(&m, "mobilenetv3small.json");
}

fn check_config_against_keras(m: &rkeras::Model, file: &str) {
    let ours: serde_json::Value = serde_json::from_str(&m.to_json()).expect("json");
    let keras = golden_json("applications", file);
    let layers = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v["config"]["layers"].as_array().expect("layers").clone()
    };
    let (ours_l, keras_l) = (layers(&ours), layers(&keras["config"]));
    assert_eq!(ours_l.len(), keras_l.len(), "{file}");
    let keys = [
        "kernel_initializer",
        "depthwise_initializer",
        "activation",
        "rate",
        "noise_shape",
        "axis",
        "epsilon",
        "momentum",
        "padding",
        "strides",
        "use_bias",
        "target_shape",
        "keepdims",
        "max_value",
        "scale",
        "offset",
        "kernel_size",
        "groups",
        "filters",
        "units",
        "center",
        "init_values",
        "projection_dim",
    ];
    // The Keras files were made without clear_session: their automatic names differ.
    let auto = [
        "input_layer",
        "rescaling",
        "normalization",
        "re_lu",
        "activation",
        "add",
        "multiply",
        "global_average_pooling2d",
        "dropout",
        "flatten",
    ];
    for (o, k) in ours_l.iter().zip(&keras_l).skip(1) {
        let name = k["name"].as_str().expect("name");
        assert_eq!(o["class_name"], k["class_name"], "{name}");
        assert_eq!(o["module"], k["module"], "{name}");
        if !auto.iter().any(|a| name.starts_with(a)) {
            assert_eq!(o["name"], k["name"]);
        }
        if k["module"] == "keras.src.ops.numpy" {
            // The operation's number, after the tensor.
            let arg = |v: &serde_json::Value| v["inbound_nodes"][0]["args"][1].as_f64();
            assert_eq!(arg(o), arg(k), "{name}");
        }
        for key in keys {
            let (a, b) = (&o["config"][key], &k["config"][key]);
            if key.ends_with("initializer") {
                assert_eq!(a["class_name"], b["class_name"], "{name} {key}");
                for f in ["mode", "distribution"] {
                    assert_eq!(a["config"][f], b["config"][f], "{name} {key} {f}");
                }
                let scale = |v: &serde_json::Value| v["config"]["scale"].as_f64();
                if let (Some(x), Some(y)) = (scale(a), scale(b)) {
                    assert!((x - y).abs() < 1e-6, "{name} {key} scale {x} {y}");
                }
            } else if let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) {
                assert!(
                    (x - y).abs() < 1e-6 * y.abs().max(1.0),
                    "{name} {key}: {x} {y}"
                );
            } else {
                assert_eq!(a, b, "{name} {key}");
            }
        }
    }
    let back = rkeras::saving::model_from_json(&m.to_json()).expect("reads back");
    assert_eq!(back.summary_string(Some(76)), m.summary_string(Some(76)));
}

/// MobileNetV3Small and MobileNetV3Large against Keras (golden files of
/// `make_efficientnet_golden.py`): the summary of MobileNetV3Small at two input sizes, and
/// for it, its alpha 0.75 minimalistic variant and MobileNetV3Large the layer count,
/// parameter total and outputs with the formula weights; a `weights=FILE` round trip.
#[test]
fn mobilenet_v3_builders_match_keras() {
    use rkeras::applications::MobileNetV3;
    let cases: [(&str, usize, bool); 4] = [
        ("mobilenetv3small", 32, true),
        ("mobilenetv3small", 48, true),
        ("mobilenetv3small_0.75_min", 32, false),
        ("mobilenetv3large", 32, false),
    ];
    for (app, size, with_summary) in cases {
        rkeras::clear_session();
        let b = match app {
            "mobilenetv3large" => MobileNetV3::mobilenet_v3_large(),
            "mobilenetv3small" => MobileNetV3::mobilenet_v3_small(),
            _ => MobileNetV3::mobilenet_v3_small()
                .alpha(0.75)
                .minimalistic(true),
        };
        let mut m = b
            .input_shape((size, size, 3))
            .classes(10)
            .classifier_activation(None)
            .build()
            .expect("builds");
        check_against_keras(&mut m, &format!("builder_{app}_{size}"), with_summary);
    }
    // weights=FILE: a Keras 3 weights file loads at build.
    rkeras::clear_session();
    let build = || {
        MobileNetV3::mobilenet_v3_small()
            .input_shape((32, 32, 3))
            .classes(10)
    };
    let mut m = build().build().expect("builds");
    let weights = formula_weights(&m);
    m.set_weights(&weights).expect("weights");
    let tmp = common::TempDir::new("mnv3");
    let file = tmp.0.join("mnv3.weights.h5");
    m.save_weights(&file).expect("save");
    let loaded = build().weights(&file).build().expect("builds with weights");
    for (a, b) in loaded.get_weights().iter().zip(m.get_weights()) {
        assert_eq!(a.data(), b.data());
    }
    // Without the top and the preprocessing, pooled.
    let base = MobileNetV3::mobilenet_v3_large()
        .input_shape((32, 32, 3))
        .include_top(false)
        .include_preprocessing(false)
        .pooling("avg")
        .build()
        .expect("base");
    assert_eq!(base.output_shape(), Some(&[960][..]));
    assert!(base.get_layer("rescaling").is_none());
    let e = MobileNetV3::mobilenet_v3_small()
        .input_shape((32, 32, 3))
        .alpha(0.0)
        .build()
        .expect_err("alpha 0");
    assert!(e.to_string().contains("alpha"), "{e}");
}

/// Inner layers of EfficientNetB0 and MobileNetV3Small against Keras's (the formula weights;
/// `builder_NAME_features_32.json`): with these weights the final outputs hardly depend on
/// the input, so the early blocks (stem, Normalization, squeeze-excite, drop-connect and
/// residual adds, hard sigmoid) are checked on sub-models from the input to an inner layer,
/// cut from the builder's own config.
#[test]
fn efficientnet_and_mobilenet_v3_inner_layers_match_keras() {
    use rkeras::applications::{EfficientNet, MobileNetV3};
    for name in ["efficientnetb0", "mobilenetv3small"] {
        rkeras::clear_session();
        let b = if name == "efficientnetb0" {
            EfficientNet::efficientnet_b0()
                .input_shape((32, 32, 3))
                .classes(10)
                .classifier_activation(None)
                .build()
        } else {
            MobileNetV3::mobilenet_v3_small()
                .input_shape((32, 32, 3))
                .classes(10)
                .classifier_activation(None)
                .build()
        };
        let m = b.expect("builds");
        let g = golden_json("applications", &format!("builder_{name}_features_32.json"));
        let x = tensor(&g["inputs"]);
        for (layer, want) in g["features"].as_object().expect("features") {
            let mut sub = sub_model(&m, layer);
            let weights = formula_weights(&sub);
            sub.set_weights(&weights).expect("weights");
            let got = sub.predict(&x).expect("predict");
            let want = tensor(want);
            assert_eq!(got.shape(), want.shape(), "{name} {layer}");
            let scale = want.data().iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let d = max_diff(got.data(), want.data());
            assert!(
                d < 1e-4 * scale,
                "{name} {layer}: max abs difference {d} (max |y| {scale})"
            );
        }
    }
}

/// `m` from its input to layer `layer`: its config with the layers after `layer` left out.
/// The weights of the layers kept come first in `m`'s, so the formula gives them the same
/// values as in `m` (and in Keras's model).
fn sub_model(m: &rkeras::Model, layer: &str) -> rkeras::Model {
    let mut v: serde_json::Value = serde_json::from_str(&m.to_json()).expect("json");
    let config = &mut v["config"];
    let layers = config["layers"].as_array_mut().expect("layers");
    let at = layers
        .iter()
        .position(|l| l["name"] == layer)
        .unwrap_or_else(|| panic!("no layer {layer}"));
    layers.truncate(at + 1);
    let nested = config["output_layers"][0].is_array();
    config["output_layers"] = if nested {
        serde_json::json!([[layer, 0, 0]])
    } else {
        serde_json::json!([layer, 0, 0])
    };
    rkeras::saving::model_from_json(&v.to_string()).expect("sub-model")
}

/// Inner layers of `m` against Keras's (`builder_NAME_features_SIZE.json` of
/// `make_more_apps_golden.py`, on the input of `builder_NAME_SIZE.json`): each layer's output
/// on a sub-model cut from `m`'s config, its first channels (the file's `channels`).
fn check_features(m: &rkeras::Model, name: &str, size: usize) {
    let g = golden_json(
        "applications",
        &format!("builder_{name}_features_{size}.json"),
    );
    let x = tensor(&golden_json("applications", &format!("builder_{name}_{size}.json"))["inputs"]);
    let keep = g["channels"].as_u64().expect("channels") as usize;
    for (layer, want) in g["features"].as_object().expect("features") {
        let mut sub = sub_model(m, layer);
        let weights = formula_weights(&sub);
        sub.set_weights(&weights).expect("weights");
        let got = sub.predict(&x).expect("predict");
        assert_features_close(name, layer, &got, &tensor(want), keep);
    }
}

/// Xception against Keras (`make_more_apps_golden.py`): the summary at 71x71 and 80x80
/// character for character, the layer count, parameter total and outputs with the formula
/// weights, two inner layers (the entry flow's first pooled block, the first middle-flow
/// add), the config, and the smallest-input and pooling arguments.
#[test]
fn xception_builder_matches_keras() {
    use rkeras::applications::Xception;
    let build = |size: usize| {
        Xception::new()
            .input_shape((size, size, 3))
            .classes(10)
            .classifier_activation(None)
            .build()
            .expect("builds")
    };
    for size in [71, 80] {
        rkeras::clear_session();
        let mut m = build(size);
        assert_eq!(m.name(), "xception");
        check_against_keras(&mut m, &format!("builder_xception_{size}"), true);
        if size == 71 {
            check_features(&m, "xception", 71);
            check_config_against_keras(&m, "xception_config.json");
        }
    }
    let base = Xception::new()
        .input_shape((71, 90, 3))
        .include_top(false)
        .pooling("avg")
        .build()
        .expect("base");
    assert_eq!(base.output_shape(), Some(&[2048][..]));
    let e = Xception::new()
        .input_shape((70, 80, 3))
        .build()
        .expect_err("too small");
    assert!(e.to_string().contains("at least 71x71"), "{e}");
    // Xception's and InceptionV3's preprocess_input: Keras's "tf" mode.
    for app in ["Xception", "InceptionV3"] {
        let mut x = rkeras::Tensor::new(vec![1, 1, 1, 3], vec![0.0, 127.5, 255.0]).expect("x");
        rkeras::applications::preprocess_input(app, &mut x).expect(app);
        assert_eq!(x.data(), &[-1.0, 0.0, 1.0], "{app}");
    }
}

/// InceptionV3 against Keras (`make_more_apps_golden.py`): the summary at 75x75 and 80x80
/// character for character (Keras's automatic names included), the layer count, parameter
/// total and outputs with the formula weights, three inner modules (`mixed0`, the strided
/// `mixed3`, the factorized-7x7 `mixed4`), the config, and the smallest input.
#[test]
fn inception_v3_builder_matches_keras() {
    use rkeras::applications::InceptionV3;
    for size in [75, 80] {
        rkeras::clear_session();
        let mut m = InceptionV3::new()
            .input_shape((size, size, 3))
            .classes(10)
            .classifier_activation(None)
            .build()
            .expect("builds");
        assert_eq!(m.name(), "inception_v3");
        check_against_keras(&mut m, &format!("builder_inceptionv3_{size}"), true);
        if size == 75 {
            check_features(&m, "inceptionv3", 75);
            check_config_against_keras(&m, "inceptionv3_config.json");
        }
    }
    let base = InceptionV3::new()
        .input_shape((75, 75, 3))
        .include_top(false)
        .pooling("max")
        .build()
        .expect("base");
    assert_eq!(base.output_shape(), Some(&[2048][..]));
    let e = InceptionV3::new()
        .input_shape((74, 80, 3))
        .build()
        .expect_err("too small");
    assert!(e.to_string().contains("at least 75x75"), "{e}");
}

/// ConvNeXtTiny .. XLarge against Keras (`make_more_apps_golden.py`): Tiny's summary at 32x32
/// and 48x48 character for character (the nested Sequential stem and downsampling blocks as
/// one row each), all five's layer count, parameter total and outputs with the formula
/// weights (Keras's `LayerScale` weight is its `variable`), two inner layers of Tiny (a block's
/// end before the residual add, the first downsampling block), Tiny's config, and the
/// no-top ending (pooling, then Keras's `LayerNormalization`).
#[test]
fn convnext_builders_match_keras() {
    use rkeras::applications::ConvNeXt;
    let family = [
        ("convnexttiny", ConvNeXt::convnext_tiny as fn() -> ConvNeXt),
        ("convnextsmall", ConvNeXt::convnext_small),
        ("convnextbase", ConvNeXt::convnext_base),
        ("convnextlarge", ConvNeXt::convnext_large),
        ("convnextxlarge", ConvNeXt::convnext_xlarge),
    ];
    for (i, (name, make)) in family.iter().enumerate() {
        let sizes: &[usize] = if i == 0 { &[32, 48] } else { &[32] };
        for &size in sizes {
            rkeras::clear_session();
            let mut m = make()
                .input_shape((size, size, 3))
                .classes(10)
                .classifier_activation(None)
                .build()
                .expect("builds");
            // ConvNeXtBase: with the formula weights its last downsampling block (a layer
            // normalization, then a 2x2 convolution over 2048 inputs) cancels, its outputs
            // ~2000 times smaller than the sums of their terms' magnitudes, so the float32
            // rounding left in the residual stream before it grows there by 30 to 300 times,
            // by the chance of where it falls rather than its size: rkeras's rounding there
            // is no larger than Keras's (9.0e-7 against 1.0e-6 rms, relative to a true float64
            // Keras), yet the logits end 1.4e-4 from float64, Keras's float32 2.0e-5; the same
            // rounding errors at random places give 1e-4 to 7e-4. Small (rkeras 1.5e-5 from
            // float64, Keras 2.4e-5) and Large (1.1e-5, Keras 4.1e-6) show the reverse or no
            // such luck. (A true float64 Keras needs more than `floatx("float64")`: off
            // TensorFlow, Keras's `result_type` turns float64 into float32, so its
            // LayerNormalization still computes in float32.)
            let rel = if *name == "convnextbase" { 5e-4 } else { 1e-4 };
            check_against_keras_within(&mut m, &format!("builder_{name}_{size}"), i == 0, rel);
            if i == 0 && size == 32 {
                assert_eq!(m.name(), "convnext_tiny");
                check_features(&m, name, 32);
                check_config_against_keras(&m, "convnexttiny_config.json");
            }
        }
    }
    rkeras::clear_session();
    let base = ConvNeXt::convnext_tiny()
        .input_shape((32, 32, 3))
        .include_top(false)
        .include_preprocessing(false)
        .build()
        .expect("base");
    assert_eq!(base.output_shape(), Some(&[1, 1, 768][..]));
    let last = base.layers().last().expect("layers");
    assert_eq!(
        (last.name(), last.class_name()),
        ("layer_normalization", "LayerNormalization")
    );
    assert!(base
        .get_layer("convnext_tiny_prestem_normalization")
        .is_none());
    // preprocess_input passes pixels through (the model normalizes them).
    let mut x = rkeras::Tensor::new(vec![1, 1, 1, 3], vec![0.0, 127.5, 255.0]).expect("x");
    rkeras::applications::preprocess_input("ConvNeXtXLarge", &mut x).expect("convnext");
    assert_eq!(x.data(), &[0.0, 127.5, 255.0]);
}

/// InceptionResNetV2 against Keras (`make_more_apps_golden.py`): the summary at 75x75
/// character for character (Keras's automatic names, the `CustomScaleLayer`s included), the
/// layer count, parameter total and outputs with the formula weights at 75x75 and 80x80,
/// three inner layers (`mixed_5b`, the first block35 and block17 blocks), the config, and
/// the smallest input.
#[test]
fn inception_resnet_v2_builder_matches_keras() {
    use rkeras::applications::InceptionResNetV2;
    for size in [75, 80] {
        rkeras::clear_session();
        let mut m = InceptionResNetV2::new()
            .input_shape((size, size, 3))
            .classes(10)
            .classifier_activation(None)
            .build()
            .expect("builds");
        assert_eq!(m.name(), "inception_resnet_v2");
        let name = format!("builder_inceptionresnetv2_{size}");
        check_against_keras(&mut m, &name, size == 75);
        if size == 75 {
            check_features(&m, "inceptionresnetv2", 75);
            check_config_against_keras(&m, "inceptionresnetv2_config.json");
        }
    }
    let base = InceptionResNetV2::new()
        .input_shape((75, 75, 3))
        .include_top(false)
        .pooling("avg")
        .build()
        .expect("base");
    assert_eq!(base.output_shape(), Some(&[1536][..]));
    let e = InceptionResNetV2::new()
        .input_shape((80, 74, 3))
        .build()
        .expect_err("too small");
    assert!(e.to_string().contains("at least 75x75"), "{e}");
    let mut x = rkeras::Tensor::new(vec![1, 1, 1, 3], vec![0.0, 127.5, 255.0]).expect("x");
    rkeras::applications::preprocess_input("InceptionResNetV2", &mut x).expect("tf mode");
    assert_eq!(x.data(), &[-1.0, 0.0, 1.0]);
}

/// EfficientNetV2B0 .. B3, S, M and L against Keras (`make_more_apps_golden.py`): B0's
/// summary at 32x32 and 48x48 character for character (Keras's automatic `rescaling` and
/// `normalization`), all seven's layer count, parameter total and outputs with the formula
/// weights, inner layers of B0 (a fused block without expansion, a fused block's residual
/// add, an MBConv block's squeeze-and-excite) and of S (its `Rescaling(1/128, offset=-1)`
/// preprocessing feeding fused blocks), B0's config (momentum 0.9, the kernel initializers,
/// the stochastic depth rates), and the preprocessing and pooling arguments.
#[test]
fn efficientnet_v2_builders_match_keras() {
    use rkeras::applications::EfficientNetV2;
    let family = [
        (
            "b0",
            EfficientNetV2::efficientnet_v2_b0 as fn() -> EfficientNetV2,
        ),
        ("b1", EfficientNetV2::efficientnet_v2_b1),
        ("b2", EfficientNetV2::efficientnet_v2_b2),
        ("b3", EfficientNetV2::efficientnet_v2_b3),
        ("s", EfficientNetV2::efficientnet_v2_s),
        ("m", EfficientNetV2::efficientnet_v2_m),
        ("l", EfficientNetV2::efficientnet_v2_l),
    ];
    for (i, (v, make)) in family.iter().enumerate() {
        let sizes: &[usize] = if i == 0 { &[32, 48] } else { &[32] };
        for &size in sizes {
            rkeras::clear_session();
            let mut m = make()
                .input_shape((size, size, 3))
                .classes(10)
                .classifier_activation(None)
                .build()
                .expect("builds");
            assert_eq!(m.name(), format!("efficientnetv2-{v}"));
            let name = format!("efficientnetv2{v}");
            check_against_keras(&mut m, &format!("builder_{name}_{size}"), i == 0);
            if size == 32 && (*v == "b0" || *v == "s") {
                check_features(&m, &name, 32);
            }
            if size == 32 && *v == "b0" {
                check_config_against_keras(&m, "efficientnetv2b0_config.json");
            }
        }
    }
    rkeras::clear_session();
    let base = EfficientNetV2::efficientnet_v2_s()
        .input_shape((32, 40, 3))
        .include_top(false)
        .include_preprocessing(false)
        .pooling("max")
        .build()
        .expect("base");
    assert_eq!(base.output_shape(), Some(&[1280][..]));
    assert_eq!(base.layers().last().expect("layers").name(), "max_pool");
    assert!(base.get_layer("rescaling").is_none());
    let e = EfficientNetV2::efficientnet_v2_b0()
        .input_shape((31, 32, 3))
        .build()
        .expect_err("too small");
    assert!(e.to_string().contains("at least 32x32"), "{e}");
    // preprocess_input passes pixels through (the model rescales them).
    let mut x = rkeras::Tensor::new(vec![1, 1, 1, 3], vec![0.0, 127.5, 255.0]).expect("x");
    rkeras::applications::preprocess_input("EfficientNetV2S", &mut x).expect("effnetv2");
    assert_eq!(x.data(), &[0.0, 127.5, 255.0]);
}

/// NASNetMobile and NASNetLarge against Keras (`make_nasnet_golden.py`): both summaries at
/// 32x32 character for character (Keras's automatic names included), the layer count,
/// parameter total and outputs with the formula weights of Mobile at 32x32 and 33x47 (odd,
/// uneven sides) and of Large at 32x32, inner layers of Mobile (the first reduction cell, both
/// kinds of adjust block, a normal cell, a later reduction), Mobile's config, and Keras's
/// rules on input shapes, with and without ImageNet weights.
#[test]
fn nasnet_builders_match_keras() {
    use rkeras::applications::NASNet;
    let cases = [
        ("nasnetmobile", (32, 32)),
        ("nasnetmobile", (33, 47)),
        ("nasnetlarge", (32, 32)),
    ];
    for (name, (h, w)) in cases {
        rkeras::clear_session();
        let make = if name == "nasnetlarge" {
            NASNet::nasnet_large
        } else {
            NASNet::nasnet_mobile
        };
        let mut m = make()
            .input_shape((h, w, 3))
            .classes(10)
            .classifier_activation(None)
            .build()
            .expect("builds");
        let size = if h == w {
            h.to_string()
        } else {
            format!("{h}x{w}")
        };
        let full = name == "nasnetmobile" && h == 32;
        // Both at 32x32 print Keras's summary character for character (NASNetLarge's
        // golden is gzipped).
        check_against_keras(
            &mut m,
            &format!("builder_{name}_{size}"),
            h == 32 && w == 32,
        );
        if full {
            assert_eq!(m.name(), "nasnet_mobile");
            check_features_with_model_weights(&mut m, name, 32);
            check_config_against_keras(&m, "nasnetmobile_config.json");
        } else if name == "nasnetlarge" {
            assert_eq!(m.name(), "nasnet_large");
        }
    }
    // weights=FILE, and imagenet_weights(FILE) without the top at another size.
    rkeras::clear_session();
    let notop = || {
        NASNet::nasnet_mobile()
            .input_shape((32, 32, 3))
            .include_top(false)
            .pooling("avg")
    };
    let mut m = notop().build().expect("builds");
    assert_eq!(m.output_shape(), Some(&[1056][..]));
    let weights = formula_weights(&m);
    m.set_weights(&weights).expect("weights");
    let tmp = common::TempDir::new("nasnet");
    let file = tmp.0.join("nasnet.weights.h5");
    m.save_weights(&file).expect("save");
    for imagenet in [false, true] {
        let b = if imagenet {
            notop().imagenet_weights(&file)
        } else {
            notop().weights(&file)
        };
        let loaded = b.build().expect("builds with weights");
        for (a, b) in loaded.get_weights().iter().zip(m.get_weights()) {
            assert_eq!(a.data(), b.data());
        }
    }
    // Keras's input rules: at least 32x32; any channel count without ImageNet weights.
    let e = NASNet::nasnet_mobile()
        .input_shape((31, 32, 3))
        .build()
        .expect_err("too small");
    assert!(e.to_string().contains("at least 32x32"), "{e}");
    let gray = NASNet::nasnet_large()
        .input_shape((32, 32, 1))
        .include_top(false)
        .pooling("max")
        .build()
        .expect("one channel");
    assert_eq!(gray.output_shape(), Some(&[4032][..]));
    // With ImageNet weights (checked before the file is read): the top needs the default
    // shape and 1000 classes, and every input 3 channels.
    let e = NASNet::nasnet_mobile()
        .input_shape((32, 32, 3))
        .imagenet_weights("NASNet-mobile.h5")
        .build()
        .expect_err("imagenet top at 32");
    assert!(
        e.to_string()
            .contains("`input_shape` should be (224, 224, 3).  Received: input_shape=(32, 32, 3)"),
        "{e}"
    );
    let e = NASNet::nasnet_large()
        .classes(10)
        .imagenet_weights("NASNet-large.h5")
        .build()
        .expect_err("imagenet top with 10 classes");
    assert!(e.to_string().contains("`classes` should be 1000"), "{e}");
    let e = NASNet::nasnet_large()
        .input_shape((64, 64, 1))
        .include_top(false)
        .imagenet_weights("NASNet-large-no-top.h5")
        .build()
        .expect_err("imagenet with one channel");
    assert!(e.to_string().contains("must have 3 channels"), "{e}");
    let e = NASNet::nasnet_mobile()
        .classifier_activation(Some("sigmoid"))
        .imagenet_weights("NASNet-mobile.h5")
        .build()
        .expect_err("imagenet with sigmoid");
    assert!(e.to_string().contains("Only `None` and `softmax`"), "{e}");
    let mut x = rkeras::Tensor::new(vec![1, 1, 1, 3], vec![0.0, 127.5, 255.0]).expect("x");
    rkeras::applications::preprocess_input("NASNetLarge", &mut x).expect("tf mode");
    assert_eq!(x.data(), &[-1.0, 0.0, 1.0]);
    // It trains (the adjust blocks' shifted, cropped path included), then fine-tunes with
    // the backbone frozen.
    rkeras::clear_session();
    rkeras::set_random_seed(5);
    let mut m = NASNet::nasnet_mobile()
        .input_shape((32, 32, 3))
        .classes(3)
        .build()
        .expect("builds");
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])
        .expect("compile");
    let x: Vec<f32> = (0..8 * 32 * 32 * 3)
        .map(|i| ((i as f32) * 0.37).sin())
        .collect();
    let x = rkeras::Tensor::new(vec![8, 32, 32, 3], x).expect("x");
    let y = rkeras::Tensor::new(vec![8], (0..8).map(|i| (i % 3) as f32).collect()).expect("y");
    let value = |m: &rkeras::Model, l: &str| m.get_layer(l).expect(l).params()[0].value.clone();
    let before = value(&m, "adjust_conv_2_0");
    let fit = |m: &mut rkeras::Model| {
        m.fit(&x, &y)
            .epochs(1)
            .batch_size(4)
            .verbose(0)
            .run()
            .expect("fit")
    };
    let h = fit(&mut m);
    assert!(h.history["loss"].iter().all(|l| l.is_finite()));
    assert_ne!(
        value(&m, "adjust_conv_2_0"),
        before,
        "the shifted path trains"
    );
    m.set_trainable_from(Some("predictions"), true)
        .expect("freeze");
    let (stem, head) = (value(&m, "stem_conv1"), value(&m, "predictions"));
    fit(&mut m);
    assert_eq!(value(&m, "stem_conv1"), stem, "the backbone is frozen");
    assert_ne!(value(&m, "predictions"), head, "the head trains");
}

/// [`check_features`] for a model whose layer list (Keras's order, by depth) puts layers off
/// the path to an inner layer before it (NASNet's cells), so that a sub-model cut from the
/// config would number its weights differently from Keras's model: the features come from
/// `m` itself, with the formula weights of the whole model (as in Keras's generator),
/// through [`rkeras::Model::feature_extractor`].
fn check_features_with_model_weights(m: &mut rkeras::Model, name: &str, size: usize) {
    let weights = formula_weights(m);
    m.set_weights(&weights).expect("weights");
    let g = golden_json(
        "applications",
        &format!("builder_{name}_features_{size}.json"),
    );
    let x = tensor(&golden_json("applications", &format!("builder_{name}_{size}.json"))["inputs"]);
    let keep = g["channels"].as_u64().expect("channels") as usize;
    for (layer, want) in g["features"].as_object().expect("features") {
        let mut sub = m.feature_extractor(&[layer]).expect("feature extractor");
        let got = sub.predict(&x).expect("predict");
        assert_features_close(name, layer, &got, &tensor(want), keep);
    }
}

/// An inner layer's output against Keras's, on its first `keep` channels (the generator
/// keeps only those): max abs difference within 1e-4 of the largest value.
fn assert_features_close(
    name: &str,
    layer: &str,
    got: &rkeras::Tensor,
    want: &rkeras::Tensor,
    keep: usize,
) {
    let c = *got.shape().last().expect("channels");
    let got: Vec<f32> = got
        .data()
        .chunks_exact(c)
        .flat_map(|px| px[..keep.min(c)].to_vec())
        .collect();
    assert_eq!(got.len(), want.data().len(), "{name} {layer}");
    let scale = want.data().iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let d = max_diff(&got, want.data());
    assert!(
        d < 1e-4 * scale,
        "{name} {layer}: max abs difference {d} (max |y| {scale})"
    );
}
