//! rkeras's own keras.applications builders against Keras 3.15.1 (golden files made by
//! `golden/applications/make_builder_golden.py`, a fresh Keras session per model):
//! `applications::MobileNetV2` at two widths and input sizes prints Keras's summary character
//! for character and, with every weight set by the same formula, gives Keras's outputs.
//! One test, so that the automatic names start afresh for each model as in the generator.

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
