//! Fit options against real Keras 3 (golden file made by
//! `golden/fit_options/make_fit_options_golden.py`): from Keras's initial weights, rkeras
//! trains with `class_weight` (sparse and binary), `sample_weight` (with a weighted
//! validation split), `validation_freq` and `steps_per_epoch` (running out of data as
//! Keras does) to Keras's logs and final weights.

use rkeras::prelude::*;
use rkeras::train::ClassWeight;
use serde_json::Value;

mod common;
use common::{max_diff, tensor};

fn golden() -> Value {
    common::golden_json("fit_options", "cases.json")
}

/// The case's model with Keras's initial weights, compiled as the generator does.
fn model(case: &Value) -> Model {
    rkeras::clear_session();
    let out = case["out"].as_u64().expect("out") as usize;
    let act = case["activation"].as_str().expect("activation");
    let mut m = Sequential::new([
        Dense::new(8).activation("relu").input_shape(6).into(),
        Dense::new(out).activation(act).into(),
    ])
    .expect("model");
    let loss = case["loss"].as_str().expect("loss");
    m.compile(SGD::default().learning_rate(0.1), loss, &["accuracy"])
        .expect("compile");
    let w: Vec<Tensor> = case["initial"]
        .as_array()
        .expect("initial")
        .iter()
        .map(tensor)
        .collect();
    m.set_weights(&w).expect("initial weights");
    m
}

/// Compares the history and the final weights with Keras's.
fn check(name: &str, m: &Model, h: &History, case: &Value) {
    let want = case["history"].as_object().expect("history");
    let mut keys: Vec<&str> = h.history.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want_keys: Vec<&str> = want.keys().map(String::as_str).collect();
    want_keys.sort_unstable();
    assert_eq!(keys, want_keys, "{name}: history keys");
    for (k, vs) in want {
        let got = h.get(k).expect("key");
        let vs: Vec<f64> = vs
            .as_array()
            .expect("values")
            .iter()
            .map(|v| v.as_f64().expect("f"))
            .collect();
        assert_eq!(got.len(), vs.len(), "{name}: {k} has {got:?}, Keras {vs:?}");
        for (g, v) in got.iter().zip(&vs) {
            assert!((g - v).abs() < 2e-5, "{name}: {k} {got:?} vs Keras {vs:?}");
        }
    }
    let finals: Vec<Tensor> = case["final"]
        .as_array()
        .expect("final")
        .iter()
        .map(tensor)
        .collect();
    for (w, k) in m.get_weights().iter().zip(&finals) {
        let d = max_diff(w.data(), k.data());
        assert!(d < 2e-5, "{name}: final weights differ by {d}");
    }
}

fn cw(case: &Value) -> ClassWeight {
    match case["out"].as_u64() {
        Some(1) => ClassWeight::from_pairs([(0, 2.0), (1, 0.5)]),
        _ => ClassWeight::from_pairs([(0, 1.0), (1, 3.0), (2, 0.5)]),
    }
}

#[test]
fn class_weight_trains_as_keras() {
    let g = golden();
    let x = tensor(&g["x"]);
    for name in ["class_weight", "class_weight_binary"] {
        let case = &g["cases"][name];
        let y = tensor(&case["y"]);
        let mut m = model(case);
        let h = m
            .fit(&x, &y)
            .epochs(2)
            .batch_size(8)
            .shuffle(false)
            .verbose(0)
            .class_weight(cw(case))
            .run()
            .expect("fit");
        check(name, &m, &h, case);
    }
}

#[test]
fn sample_weight_with_a_validation_split_trains_as_keras() {
    let g = golden();
    let (x, w) = (tensor(&g["x"]), tensor(&g["sample_weight"]));
    let case = &g["cases"]["sample_weight"];
    let y = tensor(&case["y"]);
    let mut m = model(case);
    let h = m
        .fit(&x, &y)
        .epochs(2)
        .batch_size(8)
        .shuffle(false)
        .verbose(0)
        .sample_weight(&w)
        .validation_split(0.25)
        .run()
        .expect("fit");
    check("sample_weight", &m, &h, case);
}

#[test]
fn validation_freq_validates_every_second_epoch_as_keras() {
    let g = golden();
    let (x, xv, yv) = (tensor(&g["x"]), tensor(&g["xv"]), tensor(&g["yv"]));
    let case = &g["cases"]["validation_freq"];
    let y = tensor(&case["y"]);
    let mut m = model(case);
    let h = m
        .fit(&x, &y)
        .epochs(4)
        .batch_size(8)
        .shuffle(false)
        .verbose(0)
        .validation_data(&xv, &yv)
        .validation_freq(2)
        .run()
        .expect("fit");
    check("validation_freq", &m, &h, case);
}

#[test]
fn steps_per_epoch_walks_the_data_across_epochs_as_keras() {
    let g = golden();
    let x = tensor(&g["x"]);
    let case = &g["cases"]["steps_per_epoch"];
    assert_eq!(case["ran_out_warning"], Value::Bool(true));
    let y = tensor(&case["y"]);
    let mut m = model(case);
    let h = m
        .fit(&x, &y)
        .epochs(3)
        .batch_size(8)
        .shuffle(false)
        .verbose(0)
        .steps_per_epoch(2)
        .run()
        .expect("fit");
    check("steps_per_epoch", &m, &h, case);
}

#[test]
fn bad_fit_options_are_refused_with_clear_messages() {
    let g = golden();
    let x = tensor(&g["x"]);
    let case = &g["cases"]["class_weight"];
    let y = tensor(&case["y"]);
    let err = |r: rkeras::Result<History>| r.expect_err("must fail").to_string();
    let mut m = model(case);
    let e = err(m
        .fit(&x, &y)
        .verbose(0)
        .class_weight(ClassWeight::from_pairs([(5, 1.0)]))
        .run());
    assert!(e.contains("class 5 does not exist"), "{e}");
    let e = err(m
        .fit(&x, &y)
        .verbose(0)
        .class_weight(ClassWeight::from_pairs([(1, -1.0)]))
        .run());
    assert!(e.contains("finite weight >= 0"), "{e}");
    let e = err(m
        .fit(&x, &y)
        .verbose(0)
        .class_weight(ClassWeight::from_pairs([(1, f32::NAN)]))
        .run());
    assert!(e.contains("finite weight >= 0"), "{e}");
    let short = Tensor::new(vec![3], vec![1.0; 3]).expect("w");
    let e = err(m.fit(&x, &y).verbose(0).sample_weight(&short).run());
    assert!(e.contains("one weight per sample (20)"), "{e}");
    let w = tensor(&g["sample_weight"]);
    let e = err(m
        .fit(&x, &y)
        .verbose(0)
        .sample_weight(&w)
        .class_weight(ClassWeight::from_pairs([(1, 2.0)]))
        .run());
    assert!(e.contains("at the same time"), "{e}");
    let e = err(m.fit(&x, &y).verbose(0).steps_per_epoch(0).run());
    assert!(e.contains("steps_per_epoch"), "{e}");
    let e = err(m.fit(&x, &y).verbose(0).validation_freq(0).run());
    assert!(e.contains("validation_freq"), "{e}");
    assert!(ClassWeight::parse("0:1,x").is_err());
    assert!(ClassWeight::parse("0:1,0:2").is_err());
    assert_eq!(ClassWeight::parse("0:1, 3:5").expect("parse").get(3), 5.0);
}
