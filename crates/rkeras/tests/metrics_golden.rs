//! Stateful metrics against real Keras 3 (golden file made by
//! `golden/metrics/make_metrics_golden.py`): Precision, Recall (thresholds, top_k,
//! class_id), the confusion counts, AUC (ROC and PR), RMSE and top-k accuracy give Keras's
//! values on fixed inputs, with sample weights and with no positives at all; their configs
//! read back; and a Keras-made classifier compiled with Lion + CosineDecay +
//! Precision/Recall/AUC loads with its compile config, evaluates to Keras's numbers and
//! trains on.

use rkeras::metrics::Metric;
use serde_json::Value;

mod common;
use common::tensor;

fn golden() -> Value {
    common::golden_json("metrics", "cases.json")
}

fn check(
    case: &str,
    g: &Value,
    build: impl Fn(&str, &Value) -> Metric,
    p: &str,
    y: &str,
    w: Option<&str>,
) {
    let inputs = &g["inputs"];
    let (p, y) = (tensor(&inputs[p]), tensor(&inputs[y]));
    let w = w.map(|k| tensor(&inputs[k]));
    let cols = *p.shape().last().expect("cols");
    for (name, want) in g[case].as_object().expect("case") {
        let mut m = build(name, want);
        m.update_weighted(
            p.data(),
            y.data(),
            p.rows(),
            cols,
            w.as_ref().map(|w| w.data()),
        );
        let want = want["value"].as_f64().expect("value");
        let got = m.result();
        assert!(
            (got - want).abs() < 1e-5 * (1.0 + want.abs()),
            "{case} {name}: {got} vs Keras {want}"
        );
    }
}

#[test]
fn metrics_give_keras_values() {
    let g = golden();
    let from_cfg = |name: &str, v: &Value| {
        Metric::from_config(&v["config"]).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    check("binary", &g, from_cfg, "pb", "yb", None);
    check("multi", &g, from_cfg, "pm", "ym", None);
    // The same metrics, built from the binary case's configs.
    let binary = g["binary"].clone();
    let by_name =
        |name: &str, _: &Value| Metric::from_config(&binary[name]["config"]).expect("config");
    check("binary_weighted", &g, by_name, "pb", "yb", Some("w"));
    check("no_positives", &g, by_name, "zeros_p", "zeros_y", None);
}

#[test]
fn f_scores_and_iou_give_keras_values() {
    let g = golden();
    let from_cfg = |name: &str, v: &Value| {
        Metric::from_config(&v["config"]).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    check("scores", &g, from_cfg, "pm", "ym", None);
    check("scores_weighted", &g, from_cfg, "pm", "ym", Some("wm"));
    check("sparse_scores", &g, from_cfg, "pm", "ys", None);
    check(
        "sparse_scores_weighted",
        &g,
        from_cfg,
        "pm",
        "ys",
        Some("wm"),
    );
    check("binary_scores", &g, from_cfg, "pb", "yb", None);
    check(
        "binary_scores_weighted",
        &g,
        from_cfg,
        "pb",
        "yb",
        Some("w"),
    );
    // average=None is a vector, one score per class (tests/vector_metrics_golden.rs).
    let v = serde_json::json!({"class_name": "F1Score", "config": {"name": "f1", "average": null}});
    assert!(Metric::from_config(&v).expect("vector-valued").is_vector());
}

#[test]
fn metric_configs_round_trip_as_keras_writes_them() {
    let g = golden();
    for case in [
        "binary",
        "multi",
        "scores",
        "sparse_scores",
        "binary_scores",
    ] {
        for (name, v) in g[case].as_object().expect("case") {
            let m = Metric::from_config(&v["config"]).expect("from config");
            let back = m.to_config();
            let again = Metric::from_config(&back).expect("round trip");
            assert_eq!(again.to_config(), back, "{case} {name}");
            if let Some(o) = back.as_object() {
                assert_eq!(o["class_name"], v["config"]["class_name"], "{case} {name}");
            }
        }
    }
    assert!(Metric::precision("p", Some(1.5), None, None).is_err());
    assert!(Metric::top_k("t", 0, true).is_err());
    assert!(Metric::auc("a", 1, "ROC").is_err());
    assert!(Metric::auc("a", 200, "ROCX").is_err());
}

#[test]
fn a_keras_classifier_with_precision_recall_auc_loads_evaluates_and_trains_on() {
    let g = golden();
    let path = common::golden_dir("metrics").join("binary_lion.keras");
    let mut m = rkeras::saving::load_model(&path).expect("load");
    assert_eq!(
        m.metrics_names(),
        ["loss", "accuracy", "precision", "recall", "auc", "pr_auc"]
    );
    let (x, y) = (tensor(&g["model"]["x"]), tensor(&g["model"]["y"]));
    let e = m.evaluate_batched(&x, &y, 64).expect("evaluate");
    for (k, v) in g["model"]["evaluate"].as_object().expect("evaluate") {
        let want = v.as_f64().expect("f");
        let got = e
            .get(k)
            .unwrap_or_else(|| panic!("{k} missing from {:?}", e.names));
        assert!((got - want).abs() < 2e-5, "{k}: {got} vs Keras {want}");
    }
    let h = m
        .fit(&x, &y)
        .epochs(2)
        .batch_size(16)
        .verbose(0)
        .run()
        .expect("trains on");
    assert!(h.get("val_auc").is_none() && h.get("auc").is_some_and(|a| a.len() == 2));
    // Saved again: the metrics are still Keras's.
    let dir = common::TempDir::new("metrics");
    let out = dir.0.join("again.keras");
    m.save(&out).expect("save");
    let back = rkeras::saving::load_model(&out).expect("reload");
    assert_eq!(back.metrics_names(), m.metrics_names());
}

#[test]
fn weighted_metrics_train_and_log_as_keras() {
    use rkeras::prelude::*;
    let g = &golden()["weighted_model"];
    let build = || {
        let mut m = Sequential::new([Dense::new(3).activation("softmax").input_shape(5).into()])
            .expect("model");
        let init: Vec<Tensor> = g["initial"]
            .as_array()
            .expect("initial")
            .iter()
            .map(tensor)
            .collect();
        m.set_weights(&init).expect("weights");
        m
    };
    let mut m = build();
    m.compile_with_metrics(
        SGD::default().learning_rate(0.1),
        "sparse_categorical_crossentropy",
        vec![
            Metric::from_name("accuracy").expect("accuracy"),
            Metric::from_name("accuracy")
                .expect("accuracy")
                .weighted(true),
            Metric::top_k("top2", 2, true).expect("top2").weighted(true),
        ],
    )
    .expect("compile");
    assert_eq!(
        m.metrics_names(),
        ["loss", "accuracy", "weighted_accuracy", "top2"]
    );
    let (x, y, sw) = (tensor(&g["x"]), tensor(&g["y"]), tensor(&g["sw"]));
    let h = m
        .fit(&x, &y)
        .sample_weight(&sw)
        .batch_size(8)
        .epochs(2)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("fit");
    for (key, want) in g["history"].as_object().expect("history") {
        let got = &h.history[key];
        for (a, b) in got.iter().zip(want.as_array().expect("values")) {
            let b = b.as_f64().expect("value");
            assert!((a - b).abs() < 1e-5, "{key}: {a} vs Keras {b}");
        }
    }
    // Keras's compile config (weighted_metrics included) reads back to the same logs.
    let mut cfg: Value = serde_json::from_str(&m.to_json()).expect("json");
    assert_eq!(
        cfg["compile_config"]["weighted_metrics"][0],
        serde_json::json!("accuracy")
    );
    cfg["compile_config"] = g["compile_config"].clone();
    let again = rkeras::saving::from_config(&cfg).expect("from Keras's compile config");
    assert_eq!(again.metrics_names(), m.metrics_names());
}
