//! The colour augmentation layers against real Keras 3.15.1 (JAX backend; generator
//! `golden/color/make_color_golden.py`): each layer read from Keras's own config, made
//! deterministic as the generator made it (degenerate factor ranges, or Keras's explicit
//! transformation given here as the same draw), gives Keras's training output; a Keras
//! model holding ten of them loads and predicts as Keras.

use rkeras::layers::{full_config, Mode};
use rkeras::preprocessing::{ColorDraw, ColorOp};
use rkeras::rng::Rng;
use serde_json::Value;

mod common;
use common::{golden_dir, golden_json, max_diff, tensor};

fn golden() -> Value {
    golden_json("color", "color_golden.json")
}

#[test]
fn color_layers_give_keras_outputs() {
    let g = golden();
    for c in g["cases"].as_array().expect("cases") {
        let name = c["name"].as_str().expect("name");
        let (x, want) = (tensor(&c["x"]), tensor(&c["y"]));
        let shape = x.shape()[1..].to_vec();
        let mut layer = rkeras::layers::registry::from_config(&c["config"])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Keras's keys, written back as Keras wrote them.
        let ours = full_config(layer.as_ref());
        for (k, v) in c["config"]["config"].as_object().expect("config") {
            if matches!(k.as_str(), "name" | "dtype" | "trainable") {
                continue;
            }
            let o = &ours[k];
            match (o.as_array(), v.as_array()) {
                (Some(a), Some(b)) => {
                    let a: Vec<f64> = a.iter().filter_map(Value::as_f64).collect();
                    let b: Vec<f64> = b.iter().filter_map(Value::as_f64).collect();
                    assert_eq!(a, b, "{name}: {k}");
                }
                _ => assert_eq!(
                    o.as_f64().or(o.as_bool().map(f64::from)),
                    v.as_f64().or(v.as_bool().map(f64::from)),
                    "{name}: {k} {o} vs {v}"
                ),
            }
        }
        layer.build(&shape, &mut Rng::new(0)).expect("build");
        layer.allocate(1);
        let mut y = vec![0.0f32; x.len()];
        let t = &c["transformation"];
        let one = |k: &str| t[k][0].as_f64().expect("draw") as f32;
        let vr = |lo: f32, hi: f32| {
            let r = &c["config"]["config"]["value_range"];
            r.as_array().map_or((lo, hi), |a| {
                (
                    a[0].as_f64().unwrap_or(0.0) as f32,
                    a[1].as_f64().unwrap_or(255.0) as f32,
                )
            })
        };
        let dims = [shape[0], shape[1], shape[2]];
        if t.get("factor").is_some() {
            let op = ColorOp::Hue {
                factor: (0.0, 0.5),
                value_range: vr(0.0, 255.0),
            };
            op.apply(&ColorDraw::Amount(one("factor")), x.data(), &mut y, dims);
        } else if t.get("additions").is_some() {
            let op = ColorOp::Solarization {
                addition: (0.0, 0.5),
                threshold: (0.0, 0.5),
                value_range: vr(0.0, 255.0),
            };
            op.apply(
                &ColorDraw::Solarize(one("additions"), one("thresholds")),
                x.data(),
                &mut y,
                dims,
            );
        } else {
            let mode = if c["training"].as_bool() == Some(false) {
                Mode::Infer
            } else {
                Mode::Train
            };
            layer.forward(x.data(), &mut y, 1, mode);
        }
        let scale = want.data().iter().fold(1.0f32, |a, v| a.max(v.abs()));
        let d = max_diff(&y, want.data());
        assert!(
            d <= 2e-4 * scale,
            "{name}: max difference {d} (scale {scale})"
        );
    }
}

#[test]
fn a_keras_model_with_ten_color_layers_loads_and_predicts() {
    let g = golden();
    let m =
        rkeras::saving::load_model(golden_dir("color").join("color_layers.keras")).expect("loads");
    let mut m = m;
    let p = m.predict(&tensor(&g["model_x"])).expect("predict");
    let want = tensor(&g["model_y"]);
    let d = max_diff(p.data(), want.data());
    assert!(d < 1e-3, "max difference {d}");
    // Training runs through every layer (and AutoContrast, as in Keras, in inference too).
    let classes: Vec<&str> = m.layers().iter().map(|l| l.class_name()).collect();
    assert!(
        classes.contains(&"RandomColorJitter") && classes.contains(&"Solarization"),
        "{classes:?}"
    );
}

/// The random colour layers: how often they act and the spread of what they draw match
/// Keras's definitions, a seed fixes the draws, and each epoch draws afresh.
#[test]
fn random_color_layers_have_keras_statistics_and_follow_their_seed() {
    use rkeras::layers::Layer;
    let n = 2000;
    let x: Vec<f32> = (0..n)
        .flat_map(|i| [200.0, 80.0 + (i % 7) as f32, 20.0])
        .collect();
    let run = |mut l: Box<dyn Layer>, epoch: u64| {
        l.build(&[1, 1, 3], &mut Rng::new(0)).expect("build");
        l.allocate(n);
        l.reseed(epoch);
        let mut y = vec![0.0f32; x.len()];
        l.forward(&x, &mut y, n, Mode::Train);
        y
    };
    // RandomGrayscale(0.3): about 30 % gray.
    let y = run(
        Box::new(rkeras::prelude::RandomGrayscale::new(0.3).seed(1)),
        0,
    );
    let gray = y.chunks(3).filter(|p| p[0] == p[1] && p[1] == p[2]).count() as f64 / n as f64;
    assert!((gray - 0.3).abs() < 0.04, "{gray}");
    // RandomInvert(1.0): probability U(0, 1) against U(0, 1), about half.
    let y = run(Box::new(rkeras::prelude::RandomInvert::new(1.0).seed(2)), 0);
    let inv = y.chunks(3).filter(|p| p[0] < 100.0).count() as f64 / n as f64;
    assert!((inv - 0.5).abs() < 0.04, "{inv}");
    // RandomColorDegeneration((0, 1)): the red channel moves towards gray by U(0, 1), mean 1/2.
    let y = run(
        Box::new(rkeras::prelude::RandomColorDegeneration::new((0.0, 1.0)).seed(3)),
        0,
    );
    let mean_f: f64 = y
        .chunks(3)
        .zip(x.chunks(3))
        .map(|(p, q)| {
            let g = 0.2989 * q[0] + 0.587 * q[1] + 0.114 * q[2];
            f64::from((q[0] - p[0]) / (q[0] - g))
        })
        .sum::<f64>()
        / n as f64;
    assert!((mean_f - 0.5).abs() < 0.03, "{mean_f}");
    // Same seed, same draws; another epoch, other draws.
    let a = run(Box::new(rkeras::prelude::RandomHue::new(0.5).seed(9)), 0);
    let b = run(Box::new(rkeras::prelude::RandomHue::new(0.5).seed(9)), 0);
    let c = run(Box::new(rkeras::prelude::RandomHue::new(0.5).seed(9)), 1);
    assert_eq!(a, b);
    assert_ne!(a, c);
}
