//! Several inputs, several outputs and a shared layer, against real Keras 3.15.1 (golden
//! files made by `golden/functional/make_multi_golden.py`): the same graph built in Rust
//! prints Keras's summary, trains from Keras's initial weights to Keras's final weights
//! with Keras's per-output losses, metrics and log names, and loads Keras's `.keras`.

use rkeras::prelude::*;
use rkeras::saving::load_model;
use serde_json::Value;

mod common;
use common::{max_diff, tensor};
use std::path::PathBuf;

fn dir() -> PathBuf {
    common::golden_dir("functional")
}

fn json(name: &str) -> Value {
    common::golden_json("functional", name)
}

/// The golden graph, as the generator builds it in Python.
fn multi() -> Model {
    rkeras::clear_session();
    let build = || -> rkeras::Result<Model> {
        let img = Input::named((8, 8, 1), "img");
        let meta = Input::named(4, "meta");
        let x = Conv2D::new(4, 3).activation("relu").call(&img)?;
        let x = Flatten::new().call(&x)?;
        let shared = Shared::new(Dense::new(4).activation("tanh").name("shared"));
        let m1 = shared.call(&meta)?;
        let m2 = shared.call(&Dense::new(4).call(&meta)?)?;
        let h = Concatenate::new().call_on(&[&x, &m1, &m2])?;
        let cls = Dense::new(3).activation("softmax").name("cls").call(&h)?;
        let reg = Dense::new(1).name("reg").call(&h)?;
        Model::functional_named([&img, &meta], [&cls, &reg], "multi")
    };
    build().expect("multi model")
}

fn compile(m: &mut Model) {
    m.compile_outputs(
        SGD::default().learning_rate(0.05),
        [
            OutputLoss::new("cls", "sparse_categorical_crossentropy").metrics(&["accuracy"]),
            OutputLoss::new("reg", "mse")
                .loss_weight(0.5)
                .metrics(&["mae"]),
        ],
    )
    .expect("compile");
}

fn rows(t: &Tensor, from: usize, to: usize) -> Tensor {
    let mut shape = t.shape().to_vec();
    shape[0] = to - from;
    let l = t.row_len();
    Tensor::new(shape, t.data()[from * l..to * l].to_vec()).expect("rows")
}

#[test]
fn summary_matches_keras_with_two_inputs_and_a_shared_layer() {
    let mut m = multi();
    compile(&mut m);
    let want = std::fs::read_to_string(dir().join("multi_summary_76.txt")).expect("summary");
    assert_eq!(m.summary_string(Some(76)), want);
    assert_eq!(m.count_params(), 692);
    assert_eq!(m.input_names(), ["img", "meta"]);
    assert_eq!(m.output_names(), ["cls", "reg"]);
}

#[test]
fn trains_like_keras_with_per_output_losses_metrics_and_names() {
    let d = json("multi_data.json");
    let (x1, x2, y1, y2) = (
        tensor(&d["x1"]),
        tensor(&d["x2"]),
        tensor(&d["y1"]),
        tensor(&d["y2"]),
    );
    let mut m = multi();
    compile(&mut m);
    m.load_weights(dir().join("multi_initial.weights.h5"))
        .expect("initial weights");
    let (tx1, tx2, ty1, ty2) = (
        rows(&x1, 0, 16),
        rows(&x2, 0, 16),
        rows(&y1, 0, 16),
        rows(&y2, 0, 16),
    );
    let (vx1, vx2, vy1, vy2) = (
        rows(&x1, 16, 24),
        rows(&x2, 16, 24),
        rows(&y1, 16, 24),
        rows(&y2, 16, 24),
    );
    let history = m
        .fit([&tx1, &tx2], [&ty1, &ty2])
        .validation_data([&vx1, &vx2], [&vy1, &vy2])
        .epochs(2)
        .batch_size(8)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("fit");
    let g = json("multi_history.json");
    let keys: Vec<String> = history.history.keys().cloned().collect();
    let want_keys: Vec<String> = g["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k.as_str().expect("key").to_string())
        .collect();
    assert_eq!(keys, want_keys);
    for k in &want_keys {
        let want: Vec<f64> = g["history"][k]
            .as_array()
            .expect("values")
            .iter()
            .map(|v| v.as_f64().expect("f64"))
            .collect();
        let got = history.get(k).expect("key");
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 2e-4, "{k}: rkeras {got:?}, Keras {want:?}");
        }
    }
    let mut want = multi();
    want.load_weights(dir().join("multi_final.weights.h5"))
        .expect("final weights");
    for (i, (a, b)) in m.get_weights().iter().zip(&want.get_weights()).enumerate() {
        let d = max_diff(a.data(), b.data());
        assert!(
            d < 1e-4,
            "weight {i} ({:?}): max abs difference {d}",
            a.shape()
        );
    }
    let ev = m.evaluate([&x1, &x2], [&y1, &y2]).expect("evaluate");
    for (k, v) in g["evaluate"].as_object().expect("evaluate") {
        let got = ev
            .get(k)
            .unwrap_or_else(|| panic!("no {k} in {:?}", ev.names));
        let v = v.as_f64().expect("f64");
        assert!(
            (got - v).abs() < 2e-4,
            "evaluate {k}: rkeras {got}, Keras {v}"
        );
    }
}

#[test]
fn keras_multi_io_files_load_and_rkeras_writes_them_back() {
    let d = json("multi_data.json");
    let (x1, x2) = (rows(&tensor(&d["x1"]), 0, 4), rows(&tensor(&d["x2"]), 0, 4));
    let p = json("multi_predictions.json");
    let mut m = load_model(dir().join("multi.keras")).expect("Keras's multi-IO .keras");
    let out = m.predict_outputs([&x1, &x2]).expect("predict");
    assert_eq!(out.len(), 2);
    assert!(max_diff(out[0].data(), tensor(&p["cls"]).data()) < 1e-5);
    assert!(max_diff(out[1].data(), tensor(&p["reg"]).data()) < 1e-5);
    assert_eq!(out[1].shape(), &[4, 1]);
    let want = std::fs::read_to_string(dir().join("multi_summary_76.txt")).expect("summary");
    // Loaded with its optimizer state, the summary adds "Optimizer params" (as Keras's).
    let table = |s: &str| {
        s.lines()
            .take_while(|l| !l.starts_with(" Total"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(table(&m.summary_string(Some(76))), table(&want));
    // Keras's per-output compile config: losses, weights and metrics by output.
    let names = m.metrics_names();
    assert_eq!(
        names,
        ["loss", "cls_accuracy", "cls_loss", "reg_loss", "reg_mae"]
    );
    let e = m.predict([&x1, &x2]).expect_err("two outputs");
    assert!(e.to_string().contains("predict_outputs"), "{e}");

    let tmp = std::env::temp_dir().join(format!("rkeras-multi-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let path = tmp.join("again.keras");
    m.save(&path).expect("save");
    let mut back = load_model(&path).expect("reload");
    let again = back.predict_outputs([&x1, &x2]).expect("predict");
    assert_eq!(again[0].data(), out[0].data());
    assert_eq!(again[1].data(), out[1].data());
    assert_eq!(back.summary_string(Some(76)), m.summary_string(Some(76)));
    assert_eq!(back.metrics_names(), names);
    let rebuilt = rkeras::saving::model_from_json(&m.to_json()).expect("json");
    assert_eq!(rebuilt.inbound_names(), m.inbound_names());
    assert_eq!(rebuilt.count_params(), 692);
    // Keras's legacy .h5 of the same model, and rkeras's own, with the optimizer state.
    let mut legacy = load_model(dir().join("multi_legacy.h5")).expect("Keras's legacy .h5");
    let from_h5 = legacy.predict_outputs([&x1, &x2]).expect("predict");
    assert!(max_diff(from_h5[0].data(), out[0].data()) < 1e-6);
    assert_eq!(legacy.optimizer().map(|o| o.iterations()), Some(4));
    legacy.save(tmp.join("again.h5")).expect("save legacy");
    let mut again_h5 = load_model(tmp.join("again.h5")).expect("reload legacy");
    let p2 = again_h5.predict_outputs([&x1, &x2]).expect("predict");
    assert_eq!(p2[1].data(), from_h5[1].data());
    assert_eq!(again_h5.metrics_names(), names);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Finite differences through a layer called twice and two weighted outputs: the shared
/// kernel's gradient (read off one SGD step with learning rate 1) is the sum over its calls.
#[test]
fn shared_layer_gradients_are_summed_over_calls_and_outputs() {
    rkeras::clear_session();
    let a = Input::new(3);
    let b = Input::new(3);
    let shared = Shared::new(Dense::new(3).activation("tanh"));
    let sa = shared.call(&a).expect("sa");
    let sb = shared.call(&b).expect("sb");
    let sc = shared.call(&sa).expect("sc"); // a third call, on its own output
    let m1 = Multiply::new().call_on(&[&sb, &sc]).expect("mul");
    let o1 = Dense::new(2).name("o1").call(&m1).expect("o1");
    let o2 = Dense::new(1).name("o2").call(&sa).expect("o2");
    let mut m = Model::functional([&a, &b], [&o1, &o2]).expect("model");
    m.compile_outputs(
        SGD::default().learning_rate(1.0),
        [
            OutputLoss::new("o1", "mse"),
            OutputLoss::new("o2", "mse").loss_weight(0.3),
        ],
    )
    .expect("compile");
    let seq = |n: usize, k: f32| {
        Tensor::new(
            vec![n / 3, 3],
            (0..n).map(|v| (v as f32 * k).sin()).collect(),
        )
        .expect("t")
    };
    let (xa, xb) = (seq(15, 0.37), seq(15, 0.91));
    let y1 = Tensor::new(
        vec![5, 2],
        (0..10).map(|v| (v as f32 * 0.21).cos()).collect(),
    )
    .expect("y1");
    let y2 = Tensor::new(vec![5, 1], (0..5).map(|v| v as f32 * 0.1).collect()).expect("y2");
    let w0 = m.get_weights();
    let loss_at = |m: &mut Model, w: &[Tensor]| -> f64 {
        m.set_weights(w).expect("set");
        m.evaluate([&xa, &xb], [&y1, &y2]).expect("eval").loss()
    };
    m.fit([&xa, &xb], [&y1, &y2])
        .epochs(1)
        .batch_size(5)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("fit");
    let w1 = m.get_weights();
    // The shared layer comes first in Keras's order; weight 0 is its kernel.
    assert_eq!(m.layers()[0].name(), shared.name());
    for i in 0..9 {
        let analytic = (w0[0].data()[i] - w1[0].data()[i]) as f64;
        let eps = 1e-2f32;
        let bump = |d: f32| {
            let mut w = w0.clone();
            let mut v = w[0].data().to_vec();
            v[i] += d;
            w[0] = Tensor::new(w0[0].shape().to_vec(), v).expect("t");
            w
        };
        let numeric =
            (loss_at(&mut m, &bump(eps)) - loss_at(&mut m, &bump(-eps))) / (2.0 * eps as f64);
        assert!(
            (analytic - numeric).abs() <= 1e-2 * numeric.abs().max(analytic.abs()) + 2e-3,
            "shared kernel[{i}]: analytic {analytic} vs numeric {numeric}"
        );
    }
}

#[test]
fn multi_io_bad_input_names_the_input_or_output() {
    let mut m = multi();
    compile(&mut m);
    let x1 = Tensor::zeros(vec![4, 8, 8, 1]);
    let x2 = Tensor::zeros(vec![4, 4]);
    let bad2 = Tensor::zeros(vec![4, 5]);
    let y1 = Tensor::zeros(vec![4]);
    let y2 = Tensor::zeros(vec![4, 1]);
    let e = m.predict_outputs(&x1).expect_err("one array");
    assert!(e.to_string().contains("2 inputs"), "{e}");
    let e = m.predict_outputs([&x1, &bad2]).expect_err("shape");
    assert!(e.to_string().contains("meta"), "{e}");
    let e = m.evaluate([&x1, &x2], [&y1]).expect_err("one target");
    assert!(e.to_string().contains("2 outputs"), "{e}");
    let bad_y = Tensor::new(vec![4], vec![0.0, 1.0, 7.0, 2.0]).expect("y");
    let e = m.evaluate([&x1, &x2], [&bad_y, &y2]).expect_err("label");
    assert!(e.to_string().contains("\"cls\""), "{e}");
    let e = m
        .compile_outputs("adam", [OutputLoss::new("nope", "mse")])
        .expect_err("name");
    assert!(e.to_string().contains("no output named \"nope\""), "{e}");
    let e = m
        .compile_outputs(
            "adam",
            [OutputLoss::new("cls", "sparse_categorical_crossentropy")],
        )
        .expect_err("missing");
    assert!(e.to_string().contains("\"reg\" has no loss"), "{e}");
    // A shared layer called on an input that needs other weights.
    rkeras::clear_session();
    let shared = Shared::new(Dense::new(2));
    shared.call(&Input::new(3)).expect("first");
    let e = shared.call(&Input::new(4)).expect_err("weights differ");
    assert!(e.to_string().contains("dense"), "{e}");
}

/// A config whose layers read each other (a cycle) or a tensor nobody makes is an error
/// that names the layer, never a hang or a panic.
#[test]
fn cyclic_or_dangling_configs_are_errors() {
    let t = |src: &str| {
        serde_json::json!({"class_name": "__keras_tensor__",
            "config": {"shape": [null, 2], "dtype": "float32", "keras_history": [src, 0, 0]}})
    };
    let dense = |name: &str, src: &str| {
        serde_json::json!({"class_name": "Dense", "name": name,
            "config": {"name": name, "units": 2},
            "inbound_nodes": [{"args": [t(src)], "kwargs": {}}]})
    };
    let model = |layers: Vec<serde_json::Value>| {
        serde_json::json!({"class_name": "Functional", "config": {
            "name": "cyc", "layers": layers,
            "input_layers": [["x", 0, 0]], "output_layers": [["b", 0, 0]]}})
        .to_string()
    };
    let input = serde_json::json!({"class_name": "InputLayer", "name": "x",
        "config": {"name": "x", "batch_shape": [null, 2]}, "inbound_nodes": []});
    let cyclic = model(vec![input.clone(), dense("a", "b"), dense("b", "a")]);
    let e = rkeras::saving::model_from_json(&cyclic).expect_err("cycle");
    assert!(e.to_string().contains("layer \"a\" reads b[0]"), "{e}");
    let dangling = model(vec![input, dense("b", "nowhere")]);
    let e = rkeras::saving::model_from_json(&dangling).expect_err("dangling");
    assert!(e.to_string().contains("nowhere[0]"), "{e}");
}

/// A shared BatchNormalization updates its moving statistics once per call, in call order
/// (Keras: each call's update reads the previous one's result): after one training step on
/// batches A and B, `moving_mean = m * (m * 0 + (1 - m) * mean(A)) + (1 - m) * mean(B)`.
#[test]
fn shared_batch_normalization_updates_its_statistics_per_call() {
    rkeras::clear_session();
    let a = Input::new(2);
    let b = Input::new(2);
    let bn = Shared::new(BatchNormalization::new().momentum(0.9));
    let (na, nb) = (bn.call(&a).expect("a"), bn.call(&b).expect("b"));
    let s = Add::new().call_on(&[&na, &nb]).expect("add");
    let out = Dense::new(1).name("out").call(&s).expect("out");
    let mut m = Model::functional([&a, &b], &out).expect("model");
    m.compile(SGD::default().learning_rate(0.01), "mse", &[])
        .expect("compile");
    let xa = Tensor::new(vec![2, 2], vec![1.0, 2.0, 3.0, 6.0]).expect("xa"); // mean (2, 4)
    let xb = Tensor::new(vec![2, 2], vec![10.0, 0.0, 20.0, 2.0]).expect("xb"); // mean (15, 1)
    let y = Tensor::zeros(vec![2, 1]);
    m.fit([&xa, &xb], &y)
        .epochs(1)
        .batch_size(2)
        .verbose(0)
        .run()
        .expect("fit");
    let bn_layer = m
        .layers()
        .iter()
        .find(|l| l.name() == bn.name())
        .expect("bn");
    let mean = bn_layer
        .params()
        .iter()
        .find(|p| p.name == "moving_mean")
        .expect("moving_mean");
    let want = [0.9 * 0.1 * 2.0 + 0.1 * 15.0, 0.9 * 0.1 * 4.0 + 0.1 * 1.0];
    for (g, w) in mean.value.iter().zip(want) {
        assert!(
            (g - w).abs() < 1e-5,
            "moving_mean {:?}, want {want:?}",
            mean.value
        );
    }
}
