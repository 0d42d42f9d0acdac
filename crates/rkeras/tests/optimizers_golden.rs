//! Optimizers, their clipping options and learning-rate schedules against real Keras 3
//! (golden file made by `golden/optimizers/make_optimizers_golden.py`): every schedule gives
//! Keras's rates at chosen steps and survives its config round trip; every optimizer, read
//! from Keras's own serialized config, trains from Keras's initial weights to Keras's losses
//! and weights; a Keras-saved model compiled with Lion + CosineDecay + clipnorm loads with its
//! compile config and trains on.

use rkeras::optimizers::schedules::Schedule;
use rkeras::prelude::*;
use serde_json::Value;

mod common;
use common::{max_diff, tensor};

fn golden() -> Value {
    common::golden_json("optimizers", "cases.json")
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn schedules_give_keras_rates_and_configs() {
    let g = golden();
    let steps: Vec<u64> = g["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s.as_u64().expect("step"))
        .collect();
    for (name, case) in g["schedules"].as_object().expect("schedules") {
        let s = Schedule::from_config(&case["config"]).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (t, want) in steps.iter().zip(case["values"].as_array().expect("values")) {
            let want = want.as_f64().expect("value");
            let got = f64::from(s.at(*t));
            assert!(
                close(got, want, 1e-5),
                "{name} at step {t}: {got} vs Keras {want}"
            );
        }
        // Our config reads back to the same schedule and holds Keras's keys.
        let ours = s.config();
        assert_eq!(
            Schedule::from_config(&ours).expect("round trip"),
            s,
            "{name}"
        );
        assert_eq!(ours["class_name"], case["config"]["class_name"], "{name}");
        let keys = |v: &Value| {
            let mut k: Vec<String> = v["config"]
                .as_object()
                .expect("config")
                .keys()
                .cloned()
                .collect();
            k.sort();
            k
        };
        assert_eq!(keys(&ours), keys(&case["config"]), "{name}");
    }
}

fn model(initial: &Value) -> Model {
    rkeras::clear_session();
    let mut m = Sequential::new([
        Dense::new(6).activation("tanh").input_shape(5).into(),
        Dense::new(3).activation("softmax").into(),
    ])
    .expect("model");
    m.build(&[5]).expect("build");
    let w: Vec<Tensor> = initial
        .as_array()
        .expect("initial")
        .iter()
        .map(tensor)
        .collect();
    m.set_weights(&w).expect("weights");
    m
}

#[test]
fn optimizers_from_keras_configs_train_as_keras() {
    let g = golden();
    let (x, y) = (tensor(&g["x"]), tensor(&g["y"]));
    for (name, case) in g["optimizers"].as_object().expect("optimizers") {
        let mut opt = rkeras::optimizers::from_config(&case["config"])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Keras's `exclude_from_weight_decay(var_names=...)` is not in the config.
        if let Some(names) = case["exclude_from_weight_decay"].as_array() {
            opt.options_mut().exclude_from_weight_decay = names
                .iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect();
        }
        // The config we write holds Keras's keys and hyperparameters.
        let ours = opt.config();
        for (k, v) in case["config"]["config"].as_object().expect("config") {
            if k == "name" || k == "learning_rate" {
                continue;
            }
            let o = &ours["config"][k];
            match (o.as_f64(), v.as_f64()) {
                (Some(a), Some(b)) => assert!(close(a, b, 1e-6), "{name}: {k} {o} vs Keras {v}"),
                _ => assert_eq!(o, v, "{name}: {k}"),
            }
        }
        let mut m = model(&case["initial"]);
        m.compile(opt, "sparse_categorical_crossentropy", &[])
            .expect("compile");
        let h = m
            .fit(&x, &y)
            .epochs(8)
            .batch_size(16)
            .shuffle(false)
            .verbose(0)
            .run()
            .expect("fit");
        let want: Vec<f64> = case["loss"]
            .as_array()
            .expect("loss")
            .iter()
            .map(|v| v.as_f64().expect("f"))
            .collect();
        let got = h.get("loss").expect("loss");
        for (a, b) in got.iter().zip(&want) {
            assert!(
                close(*a, *b, 2e-5),
                "{name}: losses {got:?} vs Keras {want:?}"
            );
        }
        let finals: Vec<Tensor> = case["final"]
            .as_array()
            .expect("final")
            .iter()
            .map(tensor)
            .collect();
        for (w, k) in m.get_weights().iter().zip(&finals) {
            let d = max_diff(w.data(), k.data());
            assert!(d < 5e-5, "{name}: final weights differ by {d}");
        }
        assert_eq!(
            m.optimizer().map(|o| o.iterations()),
            case["iterations"].as_u64()
        );
    }
}

#[test]
fn a_keras_model_compiled_with_lion_and_cosine_decay_loads_and_trains_on() {
    let g = golden();
    let case = &g["optimizers"]["lion_cosine_clip"];
    let path = common::golden_dir("optimizers").join("lion_cosine.keras");
    let mut m = rkeras::saving::load_model(&path).expect("load");
    let opt = m.optimizer().expect("compiled");
    assert_eq!(opt.class_name(), "Lion");
    assert_eq!(opt.iterations(), 8);
    assert_eq!(opt.options().clipnorm, Some(1.0));
    assert!(matches!(
        opt.options().schedule,
        Some(Schedule::CosineDecay { .. })
    ));
    let x = tensor(&g["x"]);
    let p = m.predict(&x).expect("predict");
    let want = tensor(&case["after_save_predict"]);
    assert!(max_diff(p.data(), want.data()) < 1e-5);
    let y = tensor(&g["y"]);
    m.fit(&x, &y)
        .epochs(1)
        .batch_size(16)
        .verbose(0)
        .run()
        .expect("trains on");
    assert_eq!(m.optimizer().map(|o| o.iterations()), Some(9));
    // Saved again, the schedule and the clipping stay.
    let dir = common::TempDir::new("lion");
    let out = dir.0.join("again.keras");
    m.save(&out).expect("save");
    let back = rkeras::saving::load_model(&out).expect("reload");
    assert_eq!(
        back.optimizer().map(|o| o.options().clone()),
        m.optimizer().map(|o| o.options().clone())
    );
}

/// A Keras model trained with AdamW + CosineDecay + weight decay + global clipping + EMA +
/// gradient accumulation, saved after 8 steps: its averages and accumulators load in Keras's
/// order, and 5 more steps reach Keras's weights and losses; saved again by rkeras, the
/// state round-trips.
#[test]
fn a_keras_model_with_ema_and_accumulation_resumes_as_in_keras() {
    let g = golden();
    let case = &g["optimizers"]["adamw_accumulate_ema_clip_cosine"];
    let path = common::golden_dir("optimizers").join("adamw_ema_accumulate.keras");
    let mut m = rkeras::saving::load_model(&path).expect("load");
    let o = m.optimizer().expect("compiled").options().clone();
    assert!(o.use_ema);
    assert_eq!(o.gradient_accumulation_steps, Some(2));
    assert_eq!(o.weight_decay, Some(0.1));
    // Keras's `iterations` property: updates, not steps.
    assert_eq!(m.optimizer().map(|o| o.iterations()), Some(4));
    let (x, y) = (tensor(&g["x"]), tensor(&g["y"]));
    let h = m
        .fit(&x, &y)
        .epochs(5)
        .batch_size(16)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("trains on");
    let want: Vec<f64> = case["resumed_loss"]
        .as_array()
        .expect("loss")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let got = h.get("loss").expect("loss");
    for (a, b) in got.iter().zip(&want) {
        assert!(close(*a, *b, 2e-5), "losses {got:?} vs Keras {want:?}");
    }
    let finals: Vec<Tensor> = case["resumed_final"]
        .as_array()
        .expect("final")
        .iter()
        .map(tensor)
        .collect();
    for (w, k) in m.get_weights().iter().zip(&finals) {
        let d = max_diff(w.data(), k.data());
        assert!(d < 5e-5, "resumed weights differ by {d}");
    }
    // 8 + 5 steps = 6 updates; saved and loaded again, the state is the same.
    assert_eq!(m.optimizer().map(|o| o.iterations()), Some(6));
    let dir = common::TempDir::new("ema");
    let out = dir.0.join("again.keras");
    m.save(&out).expect("save");
    let back = rkeras::saving::load_model(&out).expect("reload");
    assert_eq!(back.optimizer().map(|o| o.iterations()), Some(6));
    assert_eq!(
        back.optimizer().map(|o| o.options().clone()),
        m.optimizer().map(|o| o.options().clone())
    );
}

/// `SwapEMAWeights`: validation runs on the averages, training on the weights; fit ends
/// with the averages in the model.
#[test]
fn swap_ema_weights_evaluates_with_the_averages() {
    let g = golden();
    let case = &g["optimizers"]["adam_ema"];
    let (x, y) = (tensor(&g["x"]), tensor(&g["y"]));
    let train = |swap: bool| {
        let mut m = model(&case["initial"]);
        let opt = rkeras::optimizers::from_config(&case["config"]).expect("config");
        m.compile(opt, "sparse_categorical_crossentropy", &[])
            .expect("compile");
        let mut cb = rkeras::callbacks::SwapEMAWeights::new();
        let mut f = m
            .fit(&x, &y)
            .epochs(8)
            .batch_size(16)
            .shuffle(false)
            .verbose(0)
            .validation_data(&x, &y);
        if swap {
            f = f.callback(&mut cb);
        }
        let h = f.run().expect("fit");
        (m, h)
    };
    let (plain, hp) = train(false);
    let (mut swapped, hs) = train(true);
    // Training is the same (Keras's losses); the final weights are the averages either way.
    assert_eq!(hp.get("loss"), hs.get("loss"));
    assert_eq!(plain.get_weights(), swapped.get_weights());
    assert!(!swapped.ema_weights_in_model());
    // Validation differs: with the callback it scores the averages. At the last epoch the
    // averages are the final weights, so the swapped validation loss is their loss.
    let (vp, vs) = (
        hp.get("val_loss").expect("v"),
        hs.get("val_loss").expect("v"),
    );
    assert_ne!(vp, vs);
    let last = swapped.evaluate(&x, &y).expect("evaluate").loss();
    assert!(close(vs[7], last, 1e-6), "{} vs {last}", vs[7]);
    // The callback refuses an optimizer without averages.
    let mut m = model(&case["initial"]);
    m.compile("adam", "sparse_categorical_crossentropy", &[])
        .expect("compile");
    let mut cb = rkeras::callbacks::SwapEMAWeights::new();
    let e = m
        .fit(&x, &y)
        .epochs(1)
        .verbose(0)
        .callback(&mut cb)
        .run()
        .expect_err("no ema");
    assert!(e.to_string().contains("use_ema"), "{e}");
}

#[test]
fn bad_optimizer_settings_are_refused_with_the_argument_named() {
    let mut m = model(&golden()["optimizers"]["nadam"]["initial"]);
    let e = m
        .compile(SGD::default().clipnorm(-1.0), "mse", &[])
        .expect_err("negative");
    assert!(e.to_string().contains("clipnorm"), "{e}");
    let e = m
        .compile(SGD::default().clipnorm(1.0).clipvalue(1.0), "mse", &[])
        .expect_err("two");
    assert!(e.to_string().contains("Only one of"), "{e}");
    let e = m
        .compile(
            SGD::default().learning_rate_schedule(Schedule::cosine_decay(0.1, 0)),
            "mse",
            &[],
        )
        .expect_err("zero steps");
    assert!(e.to_string().contains("decay_steps"), "{e}");
    let e = rkeras::optimizers::from_config(&serde_json::json!({"class_name": "Adafactorx"}))
        .expect_err("unknown");
    assert!(e.to_string().contains("lion"), "{e}");
    let e = rkeras::optimizers::from_config(
        &serde_json::json!({"class_name": "Adam", "config": {"gradient_accumulation_steps": 1}}),
    )
    .expect_err("one step");
    assert!(e.to_string().contains("gradient_accumulation_steps"), "{e}");
    let e = rkeras::optimizers::from_config(
        &serde_json::json!({"class_name": "Adam", "config": {"use_ema": true, "ema_momentum": 1.5}}),
    )
    .expect_err("momentum");
    assert!(e.to_string().contains("ema_momentum"), "{e}");
    let e = rkeras::optimizers::from_config(
        &serde_json::json!({"class_name": "SGD", "config": {"loss_scale_factor": 128.0}}),
    )
    .expect_err("loss scale");
    assert!(e.to_string().contains("loss_scale_factor"), "{e}");
    let e = m
        .compile(
            SGD::default().exclude_from_weight_decay(["(bias"]),
            "mse",
            &[],
        )
        .expect_err("bad pattern");
    assert!(e.to_string().contains("exclude_from_weight_decay"), "{e}");
    let e = Schedule::from_config(&serde_json::json!({"class_name": "PiecewiseConstantDecay",
        "config": {"boundaries": [5, 10], "values": [0.1]}}))
    .expect_err("lengths");
    assert!(e.to_string().contains("boundaries"), "{e}");
}
