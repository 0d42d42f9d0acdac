//! The functional API against real Keras 3.15.1 (golden files made by
//! `golden/functional/make_functional_golden.py`): the same residual graph built in Rust
//! prints Keras's summary (with "Connected to"), loads Keras's weights, trains from Keras's
//! initial weights to Keras's final weights, and predicts what Keras predicts.

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
fn residual() -> Model {
    rkeras::clear_session();
    let build = || -> rkeras::Result<Model> {
        let inputs = Input::new((8, 8, 3));
        let x = Conv2D::new(4, 3)
            .padding("same")
            .activation("relu")
            .call(&inputs)?;
        let y = Conv2D::new(4, 3).padding("same").call(&x)?;
        let y = BatchNormalization::new().call(&y)?;
        let z = Add::new().call_on(&[&x, &y])?;
        let z = Activation::new("relu").call(&z)?;
        let a = Conv2D::new(2, 1).call(&z)?;
        let c = Concatenate::new().call_on(&[&a, &z])?;
        let p = GlobalAveragePooling2D::new().call(&c)?;
        let q = GlobalMaxPooling2D::new().call(&c)?;
        let r = Average::new().call_on(&[&p, &q])?;
        let s = Maximum::new().call_on(&[&p, &q])?;
        let t = Subtract::new().call_on(&[&r, &s])?;
        let u = Concatenate::new().call_on(&[&r, &t])?;
        let outputs = Dense::new(3).activation("softmax").call(&u)?;
        Model::functional_named(&inputs, &outputs, "residual")
    };
    build().expect("residual model")
}

#[test]
fn summary_matches_keras_with_connected_to() {
    let mut m = residual();
    m.compile(
        SGD::default().learning_rate(0.1),
        "categorical_crossentropy",
        &[],
    )
    .expect("compile");
    let want = std::fs::read_to_string(dir().join("summary_76.txt")).expect("summary");
    assert_eq!(m.summary_string(Some(76)), want);
}

#[test]
fn trains_from_keras_weights_to_keras_weights_and_predicts_the_same() {
    let data = json("data.json");
    let (x, y) = (tensor(&data["x"]), tensor(&data["y"]));
    let mut m = residual();
    m.compile(
        SGD::default().learning_rate(0.1),
        "categorical_crossentropy",
        &[],
    )
    .expect("compile");
    m.load_weights(dir().join("initial.weights.h5"))
        .expect("initial weights");
    m.fit(&x, &y)
        .epochs(1)
        .batch_size(8)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("fit");
    let mut want = residual();
    want.load_weights(dir().join("final.weights.h5"))
        .expect("final weights");
    for (i, (a, b)) in m.get_weights().iter().zip(&want.get_weights()).enumerate() {
        let d = max_diff(a.data(), b.data());
        assert!(
            d < 1e-4,
            "weight {i} (shape {:?}): max abs difference {d}",
            a.shape()
        );
    }
    let g = json("predictions.json");
    let got = want.predict(&tensor(&g["inputs"])).expect("predict");
    let d = max_diff(got.data(), tensor(&g["outputs"]).data());
    assert!(d < 1e-5, "predictions: max abs difference {d}");
}

#[test]
fn graph_errors_name_the_layers() {
    rkeras::clear_session();
    let a = Input::new((4,));
    let b = Input::new((4,));
    let y = Dense::new(2).call(&b).expect("dense");
    let e = Model::functional(&a, &y).expect_err("disconnected");
    assert!(e.to_string().contains("not connected to the input"), "{e}");
    let s = Add::new().call_on(&[&a, &b]).expect("add");
    let e = Model::functional(&a, &s).expect_err("needs b");
    assert!(e.to_string().contains("Graph disconnected"), "{e}");
    let e = Add::new()
        .call_on(&[&a, &Dense::new(3).call(&a).expect("d")])
        .expect_err("shapes");
    assert!(e.to_string().contains("incompatible shapes"), "{e}");
    let d1 = Dense::new(4).name("twin").call(&a).expect("d1");
    let d2 = Dense::new(4).name("twin").call(&d1).expect("d2");
    let e = Model::functional(&a, &d2).expect_err("name twice");
    assert!(e.to_string().contains("\"twin\" is used 2 times"), "{e}");
    let e = Dense::new(2).call_on(&[&a, &a]).expect_err("two inputs");
    assert!(e.to_string().contains("takes one input"), "{e}");
    // A graph makes one model.
    let out = Dense::new(2).call(&a).expect("dense");
    Model::functional(&a, &out).expect("first model");
    let e = Model::functional(&a, &out).expect_err("taken");
    assert!(e.to_string().contains("already belongs to a model"), "{e}");
}

/// Finite differences on a graph where one activation feeds three consumers (two Dense
/// branches and an Add): the first layer's gradient, read off one SGD step with learning
/// rate 1, matches the numeric derivative of the loss.
#[test]
fn fan_out_gradients_are_summed() {
    rkeras::clear_session();
    let inputs = Input::new((4,));
    let d1 = Dense::new(3).activation("tanh").call(&inputs).expect("d1");
    let a = Dense::new(3).call(&d1).expect("a");
    let b = Dense::new(3).activation("tanh").call(&d1).expect("b");
    let s = Add::new().call_on(&[&a, &b, &d1]).expect("add");
    let out = Dense::new(2).call(&s).expect("out");
    let mut m = Model::functional(&inputs, &out).expect("model");
    m.compile(SGD::default().learning_rate(1.0), "mse", &[])
        .expect("compile");
    let x = Tensor::new(
        vec![5, 4],
        (0..20).map(|v| (v as f32 * 0.37).sin()).collect(),
    )
    .expect("x");
    let y = Tensor::new(
        vec![5, 2],
        (0..10).map(|v| (v as f32 * 0.21).cos()).collect(),
    )
    .expect("y");
    let w0 = m.get_weights();
    let loss_at = |m: &mut Model, w: &[Tensor]| -> f64 {
        m.set_weights(w).expect("set");
        m.evaluate(&x, &y).expect("eval").loss()
    };
    m.fit(&x, &y)
        .epochs(1)
        .batch_size(5)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("fit");
    let w1 = m.get_weights();
    let mut checked = 0;
    for i in [0usize, 3, 7, 11] {
        let analytic = (w0[0].data()[i] - w1[0].data()[i]) as f64;
        let eps = 1e-2f32;
        let (mut plus, mut minus) = (w0.clone(), w0.clone());
        let bump = |t: &Tensor, d: f32| {
            let mut v = t.data().to_vec();
            v[i] += d;
            Tensor::new(t.shape().to_vec(), v).expect("t")
        };
        plus[0] = bump(&w0[0], eps);
        minus[0] = bump(&w0[0], -eps);
        let numeric = (loss_at(&mut m, &plus) - loss_at(&mut m, &minus)) / (2.0 * eps as f64);
        assert!(
            (analytic - numeric).abs() <= 1e-2 * numeric.abs().max(analytic.abs()) + 2e-3,
            "kernel[{i}]: analytic {analytic} vs numeric {numeric}"
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn keras_functional_files_load_and_rkeras_writes_them_back() {
    let g = json("predictions.json");
    let x = tensor(&g["inputs"]);
    let want = tensor(&g["outputs"]);
    let mut m = load_model(dir().join("residual.keras")).expect("Keras's functional .keras");
    assert!(m.is_functional());
    let d = max_diff(m.predict(&x).expect("predict").data(), want.data());
    assert!(d < 1e-5, "max abs difference {d}");
    assert_eq!(
        m.summary_string(Some(76)).lines().nth(3),
        std::fs::read_to_string(dir().join("summary_76.txt"))
            .expect("summary")
            .lines()
            .nth(3)
    );
    // rkeras's own .keras and JSON of the functional model rebuild the same graph.
    let tmp = std::env::temp_dir().join(format!("rkeras-functional-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp");
    let path = tmp.join("again.keras");
    m.save(&path).expect("save");
    let mut back = load_model(&path).expect("reload");
    assert_eq!(
        back.predict(&x).expect("predict").data(),
        m.predict(&x).expect("p").data()
    );
    assert_eq!(back.summary_string(Some(76)), m.summary_string(Some(76)));
    let rebuilt = rkeras::saving::model_from_json(&m.to_json()).expect("json");
    assert_eq!(rebuilt.inbound_names(), m.inbound_names());
    // The legacy HDF5 format too (Keras's Functional model_config, `layer/weight` paths).
    m.save(tmp.join("legacy.h5")).expect("legacy h5");
    let mut old = load_model(tmp.join("legacy.h5")).expect("reload legacy h5");
    assert_eq!(
        old.predict(&x).expect("predict").data(),
        m.predict(&x).expect("p").data()
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The same seed gives bitwise the same weights on 1 and 2 threads, for a graph with
/// BatchNormalization (its statistics are summed over a fixed split of the rows).
#[test]
fn functional_training_is_deterministic_across_thread_counts() {
    let data = json("data.json");
    let (x, y) = (tensor(&data["x"]), tensor(&data["y"]));
    let run = |threads: usize| -> Vec<Vec<u32>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| {
            let mut m = residual();
            m.set_seed(5).expect("seed");
            m.compile("adam", "categorical_crossentropy", &[])
                .expect("compile");
            m.fit(&x, &y)
                .epochs(2)
                .batch_size(8)
                .seed(3)
                .verbose(0)
                .run()
                .expect("fit");
            m.get_weights()
                .iter()
                .map(|w| w.data().iter().map(|v| v.to_bits()).collect())
                .collect()
        })
    };
    assert_eq!(run(1), run(2));
}
