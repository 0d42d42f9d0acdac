//! Vector-valued metrics against real Keras 3 (golden file made by
//! `golden/metrics/make_vector_golden.py`): `F1Score()` (Keras's default `average=None`, one
//! score per class), `FBetaScore(beta=2, average=None, threshold=0.5)` and
//! Precision/Recall/the confusion counts at a list of thresholds (one value per threshold)
//! give Keras's values with and without sample weights; a training run logs them as Keras
//! does (history, `val_` vectors, the CSVLogger's `"""[...]"""` cells); and a Keras file
//! compiled with `F1Score()` loads with its compile config and evaluates to Keras's numbers.

use rkeras::callbacks::{CSVLogger, EarlyStopping, History, ModelCheckpoint, ReduceLROnPlateau};
use rkeras::metrics::Metric;
use rkeras::prelude::*;
use serde_json::Value;

mod common;
use common::tensor;

fn golden() -> Value {
    common::golden_json("metrics", "vector_cases.json")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs Keras {want:?}");
    for (a, b) in got.iter().zip(want) {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: {got:?} vs Keras {want:?}"
        );
    }
}

#[test]
fn vector_metrics_give_keras_values_with_and_without_sample_weights() {
    let g = golden();
    let inputs = &g["inputs"];
    for (case, p, y, w) in [("multi", "pm", "ym", "wm"), ("binary", "pb", "yb", "wb")] {
        let (p, y, w) = (tensor(&inputs[p]), tensor(&inputs[y]), tensor(&inputs[w]));
        let cols = *p.shape().last().expect("cols");
        for (name, want) in g[case].as_object().expect("case") {
            for (key, weights) in [("value", None), ("weighted", Some(w.data()))] {
                let mut m = Metric::from_config(&want["config"])
                    .unwrap_or_else(|e| panic!("{case} {name}: {e}"));
                assert!(m.is_vector(), "{case} {name} is a vector in Keras");
                m.update_weighted(p.data(), y.data(), p.rows(), cols, weights);
                let mut got = Vec::new();
                m.result_vector(&mut got);
                let want = floats(&want[key]);
                close(&format!("{case} {name} {key}"), &got, &want, 1e-5);
                // `result` is the mean, what Keras's progress bar shows.
                let mean = want.iter().sum::<f64>() / want.len() as f64;
                assert!((m.result() - mean).abs() < 1e-5, "{case} {name} mean");
            }
            // The config reads back to the same metric, as Keras writes it.
            let m = Metric::from_config(&want["config"]).expect("config");
            let back = m.to_config();
            assert_eq!(
                Metric::from_config(&back).expect("again").to_config(),
                back,
                "{case} {name}"
            );
            assert_eq!(
                back["config"]["thresholds"],
                want["config"]["config"]["thresholds"]
            );
            assert_eq!(
                back["config"]["average"],
                want["config"]["config"]["average"]
            );
        }
    }
    // Keras's name "f1_score" is F1Score(): one score per class.
    let m = Metric::from_name("f1_score").expect("f1_score");
    assert!(m.is_vector());
    assert_eq!(m.to_config(), Value::from("f1_score"));
}

fn train_model(g: &Value) -> Model {
    let mut m = Sequential::new([Dense::new(3).activation("softmax").input_shape(5).into()])
        .expect("model");
    let init: Vec<Tensor> = g["initial"]
        .as_array()
        .expect("initial")
        .iter()
        .map(tensor)
        .collect();
    m.set_weights(&init).expect("weights");
    // Keras's own compile config: "f1_score", FBetaScore(beta=2, threshold=0.5),
    // Precision(thresholds=[0.3, 0.5, 0.7]).
    let mut cfg: Value = serde_json::from_str(&m.to_json()).expect("json");
    cfg["compile_config"] = g["compile_config"].clone();
    let mut m = rkeras::saving::from_config(&cfg).expect("Keras's compile config");
    m.set_weights(&init).expect("weights");
    m
}

#[test]
fn training_logs_vector_metrics_as_keras() {
    let g = &golden()["train"];
    let mut m = train_model(g);
    assert_eq!(
        m.metrics_names(),
        ["loss", "f1_score", "fbeta_score", "precision"]
    );
    let (x, y, xv, yv) = (
        tensor(&g["x"]),
        tensor(&g["y"]),
        tensor(&g["xv"]),
        tensor(&g["yv"]),
    );
    let dir = common::TempDir::new("vector-metrics");
    let csv = dir.0.join("log.csv");
    let mut log = CSVLogger::new(&csv);
    let h = m
        .fit(&x, &y)
        .batch_size(16)
        .epochs(3)
        .shuffle(false)
        .validation_data(&xv, &yv)
        .verbose(0)
        .callback(&mut log)
        .run()
        .expect("fit");
    let check = |h: &History, tol: f64, what: &str| {
        for (key, want) in g["history"].as_object().expect("history") {
            let want = want.as_array().expect("epochs");
            if want[0].is_array() {
                let got = h
                    .get_vector(key)
                    .unwrap_or_else(|| panic!("{what}: {key} missing"));
                assert_eq!(got.len(), want.len(), "{what} {key}");
                for (e, (a, b)) in got.iter().zip(want).enumerate() {
                    close(&format!("{what} {key} epoch {e}"), a, &floats(b), tol);
                }
            } else {
                let got = h
                    .get(key)
                    .unwrap_or_else(|| panic!("{what}: {key} missing"));
                close(
                    &format!("{what} {key}"),
                    got,
                    &floats(&Value::from(want.clone())),
                    tol,
                );
            }
        }
    };
    check(&h, 1e-6, "history");
    // The CSVLogger writes vectors as Keras's does, and reads back (Keras's file too).
    let text = std::fs::read_to_string(&csv).expect("csv");
    let keras_csv = g["csv"].as_str().expect("csv");
    assert_eq!(text.lines().next(), keras_csv.lines().next(), "header");
    assert!(
        text.lines().nth(1).expect("row").contains(",\"\"\"[0."),
        "{text}"
    );
    check(&History::load(&csv).expect("load our csv"), 1e-6, "our CSV");
    let theirs = dir.0.join("keras.csv");
    std::fs::write(&theirs, keras_csv).expect("write");
    check(
        &History::load(&theirs).expect("load Keras's csv"),
        1e-5,
        "Keras's CSV",
    );
    // History::save as JSON and CSV round-trips the vectors.
    for name in ["h.json", "h.csv"] {
        let p = dir.0.join(name);
        h.save(&p).expect("save");
        check(&History::load(&p).expect("load"), 1e-6, name);
    }
    assert!(h.to_json().contains("\"f1_score\":[["));
}

#[test]
fn monitors_refuse_a_vector_or_fall_back_as_keras() {
    let g = &golden()["train"];
    let (x, y) = (tensor(&g["x"]), tensor(&g["y"]));
    // EarlyStopping and ReduceLROnPlateau compare numbers: a clear error (Keras fails on
    // the array's truth value).
    let mut m = train_model(g);
    let mut es = EarlyStopping::new().monitor("f1_score").mode("max");
    let e = m
        .fit(&x, &y)
        .epochs(2)
        .verbose(0)
        .callback(&mut es)
        .run()
        .expect_err("vector monitor");
    assert!(e.to_string().contains("`f1_score` is a vector"), "{e}");
    let mut m = train_model(g);
    let mut rl = ReduceLROnPlateau::new().monitor("precision");
    let e = m
        .fit(&x, &y)
        .epochs(2)
        .verbose(0)
        .callback(&mut rl)
        .run()
        .expect_err("vector monitor");
    assert!(e.to_string().contains("ReduceLROnPlateau"), "{e}");
    // ModelCheckpoint(save_best_only) warns and saves every epoch, as Keras.
    let dir = common::TempDir::new("vector-ckpt");
    let mut m = train_model(g);
    let template = dir.0.join("m{epoch}.keras");
    let mut ck = ModelCheckpoint::new(template.to_str().expect("utf-8 path"))
        .monitor("f1_score")
        .mode("max")
        .save_best_only(true);
    m.fit(&x, &y)
        .epochs(2)
        .verbose(0)
        .callback(&mut ck)
        .run()
        .expect("fit");
    assert!(dir.0.join("m1.keras").exists() && dir.0.join("m2.keras").exists());
    assert!(
        ck.messages()[0].contains("scalar value"),
        "{:?}",
        ck.messages()
    );
}

#[test]
fn a_keras_file_compiled_with_f1score_loads_and_evaluates_to_keras() {
    let g = &golden()["model"];
    let path = common::golden_dir("metrics").join("f1_model.keras");
    let mut m = rkeras::saving::load_model(&path).expect("load");
    assert_eq!(m.metrics_names(), ["loss", "f1_score", "p2"]);
    let (x, y) = (tensor(&g["x"]), tensor(&g["y"]));
    let e = m.evaluate_batched(&x, &y, 40).expect("evaluate");
    for (k, v) in g["evaluate"].as_object().expect("evaluate") {
        match v {
            Value::Array(_) => close(
                k,
                e.get_vector(k)
                    .unwrap_or_else(|| panic!("{k} not a vector")),
                &floats(v),
                2e-5,
            ),
            _ => close(k, &[e.get(k).expect(k)], &[v.as_f64().expect("f")], 2e-5),
        }
    }
    // It trains on, logging the vectors, and saves the same compile config back.
    let h = m.fit(&x, &y).epochs(1).verbose(0).run().expect("trains on");
    assert_eq!(h.get_vector("f1_score").map(|v| v[0].len()), Some(3));
    let dir = common::TempDir::new("vector-model");
    let out = dir.0.join("again.keras");
    m.save(&out).expect("save");
    let back = rkeras::saving::load_model(&out).expect("reload");
    assert_eq!(back.metrics_names(), m.metrics_names());
    // The same metrics (rkeras writes a metric that its Keras name gives as the name,
    // "f1_score", as Keras does for `metrics=["f1_score"]`).
    let cfg: Value = serde_json::from_str(&back.to_json()).expect("json");
    let ours = cfg["compile_config"]["metrics"]
        .as_array()
        .expect("metrics");
    let keras = g["compile_config"]["metrics"].as_array().expect("metrics");
    assert_eq!(ours.len(), keras.len());
    for (a, b) in ours.iter().zip(keras) {
        let (a, b) = (
            Metric::from_config(a).expect("ours"),
            Metric::from_config(b).expect("Keras's"),
        );
        assert_eq!(a.to_config(), b.to_config());
        assert!(a.is_vector() && b.is_vector());
    }
}
