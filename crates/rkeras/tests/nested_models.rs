//! Models used as layers of other models, against real Keras 3.15.1 (golden files made by
//! `golden/nested/make_nested_golden.py`): the keras.io "Image classification from scratch"
//! model (a Sequential augmentation block nested in a functional model) loads, prints
//! Keras's summary, predicts as Keras and trains; the transfer-learning recipe (a backbone
//! called with training=False, frozen, then fine-tuned) trains from Keras's weights to
//! Keras's weights; a Sequential model holding models loads, saves and loads again; a
//! nested model called twice (a siamese network, `golden/nested/make_shared_golden.py`)
//! prints, predicts, trains, saves and loads as in Keras.

use rkeras::prelude::*;
use rkeras::saving::load_model;
use serde_json::Value;

mod common;
use common::{max_diff, tensor, TempDir};
use std::path::PathBuf;

fn dir() -> PathBuf {
    common::golden_dir("nested")
}

fn json(name: &str) -> Value {
    common::golden_json("nested", name)
}

fn summary(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).expect("summary golden")
}

fn assert_predicts(m: &mut Model, golden: &str, tol: f32) {
    let g = json(golden);
    let got = m.predict(&tensor(&g["inputs"])).expect("predict");
    let want = tensor(&g["outputs"]);
    let d = max_diff(got.data(), want.data());
    let scale = want.data().iter().fold(1e-6f32, |a, v| a.max(v.abs()));
    assert!(
        d / scale < tol,
        "{golden}: relative difference {}",
        d / scale
    );
}

#[test]
fn the_keras_io_from_scratch_model_loads_predicts_and_trains() {
    let mut m = load_model(dir().join("scratch.keras")).expect("load scratch.keras");
    assert_eq!(
        m.summary_string(Some(76)),
        summary("scratch_summary_76.txt")
    );
    assert_eq!(m.nested_models(), ["data_augmentation"]);
    assert_predicts(&mut m, "scratch_predictions.json", 1e-5);
    // It trains (the augmentation runs in training only), with Keras's compile config.
    let g = json("scratch_predictions.json");
    let x = tensor(&g["inputs"]);
    let y = Tensor::new(vec![3, 1], vec![0.0, 1.0, 1.0]).expect("labels");
    let h = m
        .fit(&x, &y)
        .epochs(2)
        .batch_size(3)
        .verbose(0)
        .run()
        .expect("fit");
    assert!(h.history["loss"].iter().all(|l| l.is_finite()));
    assert!(h.history.contains_key("acc"));
}

/// The transfer model as the generator builds it, in Rust.
fn transfer() -> Model {
    rkeras::clear_session();
    let build = || -> rkeras::Result<Model> {
        let prep = Sequential::with_name(
            "prep",
            [Rescaling::new(0.5)
                .offset(-0.25)
                .input_shape((8, 8, 3))
                .into()],
        )?;
        let binp = Input::new((8, 8, 3));
        let b = Conv2D::new(4, 3)
            .padding("same")
            .name("b_conv1")
            .call(&binp)?;
        let b = BatchNormalization::new().name("b_bn1").call(&b)?;
        let b = ReLU::new().name("b_relu1").call(&b)?;
        let b = Conv2D::new(6, 3).strides(2).name("b_conv2").call(&b)?;
        let b = BatchNormalization::new().name("b_bn2").call(&b)?;
        let b = ReLU::new().name("b_relu2").call(&b)?;
        let base = Model::functional_named(&binp, &b, "base")?;
        let inp = Input::named((8, 8, 3), "image");
        let x = prep.call(&inp)?;
        let x = base.as_layer().training(false).call(&x)?;
        let x = GlobalAveragePooling2D::new().name("pool").call(&x)?;
        let out = Dense::new(3).name("head").call(&x)?;
        Model::functional_named(&inp, &out, "transfer")
    };
    build().expect("transfer model")
}

fn assert_weights(m: &Model, file: &str, tol: f32) {
    let mut want = transfer();
    want.load_weights(dir().join(file)).expect("golden weights");
    for (i, (a, b)) in m.get_weights().iter().zip(&want.get_weights()).enumerate() {
        let d = max_diff(a.data(), b.data());
        assert!(d < tol, "{file}: weight {i} {:?} differs by {d}", a.shape());
    }
}

#[test]
fn transfer_learning_trains_as_keras_frozen_then_fine_tuned() {
    let data = json("transfer_data.json");
    let (x, y) = (tensor(&data["x"]), tensor(&data["y"]));
    let mut m = transfer();
    m.load_weights(dir().join("transfer_initial.weights.h5"))
        .expect("initial weights");
    m.set_trainable("base", false).expect("freeze base");
    let loss = || Loss::sparse_categorical_crossentropy().from_logits(true);
    m.compile(Adam::default().learning_rate(1e-2), loss(), &[])
        .expect("compile");
    assert_eq!(
        m.summary_string(Some(76)),
        summary("transfer_summary_76.txt")
    );
    let h1 = m
        .fit(&x, &y)
        .batch_size(8)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("phase 1");
    assert_weights(&m, "transfer_phase1.weights.h5", 1e-5);
    // Fine-tuning: the base trains. As in Keras 3, fit's training mode wins over the
    // recorded training=False, so the base's BatchNormalization statistics move too.
    m.set_trainable("base", true).expect("unfreeze base");
    m.compile(Adam::default().learning_rate(1e-3), loss(), &[])
        .expect("recompile");
    let h2 = m
        .fit(&x, &y)
        .batch_size(8)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("phase 2");
    // A convolution's bias before a training-mode BatchNormalization has a true gradient
    // of zero: Adam normalises float noise there, so those biases agree to 1e-4 only (every
    // other weight to 6e-7), and the predictions, which read them through the moving
    // statistics, to 1e-3.
    assert_weights(&m, "transfer_phase2.weights.h5", 2e-4);
    let g = json("transfer_predictions.json");
    let l1 = g["loss1"].as_f64().expect("loss1");
    let l2 = g["loss2"].as_f64().expect("loss2");
    assert!((h1.history["loss"][0] - l1).abs() < 1e-4 * l1.abs().max(1.0));
    assert!((h2.history["loss"][0] - l2).abs() < 1e-4 * l2.abs().max(1.0));
    assert_predicts(&mut m, "transfer_predictions.json", 1e-3);
}

#[test]
fn keras_transfer_file_loads_and_round_trips() {
    let mut m = load_model(dir().join("transfer.keras")).expect("load transfer.keras");
    assert_predicts(&mut m, "transfer_predictions.json", 1e-5);
    assert_eq!(m.nested_models(), ["prep", "base"]);
    // Saved by rkeras and read back: the same tree, the same predictions.
    let tmp = TempDir::new("nested");
    let path = tmp.0.join("again.keras");
    m.save(&path).expect("save");
    let mut again = load_model(&path).expect("reload");
    assert_eq!(again.summary_string(Some(76)), m.summary_string(Some(76)));
    assert_predicts(&mut again, "transfer_predictions.json", 1e-5);
    let w = tmp.0.join("w.weights.h5");
    m.save_weights(&w).expect("save weights");
    let mut fresh = transfer();
    fresh
        .load_weights(&w)
        .expect("weights by Keras's nested paths");
    assert_predicts(&mut fresh, "transfer_predictions.json", 1e-5);
}

#[test]
fn a_sequential_model_holding_models_loads_and_round_trips() {
    let mut m = load_model(dir().join("holder.keras")).expect("load holder.keras");
    assert_eq!(m.summary_string(Some(76)), summary("holder_summary_76.txt"));
    assert_predicts(&mut m, "holder_predictions.json", 1e-5);
    let tmp = TempDir::new("holder");
    let path = tmp.0.join("holder.keras");
    m.save(&path).expect("save");
    let mut again = load_model(&path).expect("reload");
    assert_eq!(
        again.summary_string(Some(76)),
        summary("holder_summary_76.txt")
    );
    assert_predicts(&mut again, "holder_predictions.json", 1e-5);
    let json = m.to_json();
    assert!(json.contains("\"class_name\":\"Sequential\""));
}

#[test]
fn nested_models_built_in_rust_train_and_freeze() {
    let augment = Sequential::with_name(
        "augment",
        [
            RandomFlip::new("horizontal").input_shape((8, 8, 3)).into(),
            Rescaling::new(0.5).into(),
        ],
    )
    .expect("augment");
    let binp = Input::new((8, 8, 3));
    let b = Conv2D::new(4, 3).name("bc").call(&binp).expect("conv");
    let b = BatchNormalization::new().name("bb").call(&b).expect("bn");
    let base = Model::functional_named(&binp, &b, "backbone").expect("base");
    let mut m = Sequential::new([
        augment.into(),
        base.into(),
        GlobalAveragePooling2D::new().into(),
        Dense::new(2).activation("softmax").into(),
    ])
    .expect("sequential of models");
    assert_eq!(m.nested_models(), ["augment", "backbone"]);
    let s = m.summary_string(Some(76));
    assert!(s.contains("augment (Sequential)") && s.contains("backbone (Functional)"));
    m.set_trainable("backbone", false).expect("freeze");
    assert!(!m.get_layer("bc").expect("inner layer").base().trainable);
    let before = m.get_layer("bc").expect("bc").params()[0].value.clone();
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])
        .expect("compile");
    let x = Tensor::new(
        vec![4, 8, 8, 3],
        (0..768).map(|i| (i % 7) as f32 / 7.0).collect(),
    )
    .expect("x");
    let y = Tensor::new(vec![4], vec![0.0, 1.0, 0.0, 1.0]).expect("y");
    m.fit(&x, &y).epochs(2).verbose(0).run().expect("fit");
    assert_eq!(m.get_layer("bc").expect("bc").params()[0].value, before);
    // A model cannot be nested twice, nor added after the fact.
    let again = Sequential::new([Dense::new(2).input_shape(3).into()]).expect("small");
    let mut plain = Sequential::new([Dense::new(3).input_shape(3).into()]).expect("plain");
    let err = plain.add(again).expect_err("add a model");
    assert!(err.to_string().contains("Sequential::new"), "{err}");
    // A nested model called twice (shared) checks its second input like its first.
    let shared = Shared::new(
        Sequential::with_name("twice", [Dense::new(2).input_shape(3).into()]).expect("small"),
    );
    shared.call(&Input::new(3)).expect("first call");
    shared.call(&Input::new(3)).expect("second call");
    let err = shared.call(&Input::new(4)).expect_err("another shape");
    assert!(err.to_string().contains("twice"), "{err}");
    // An unbuilt model cannot be nested.
    let unbuilt = Sequential::new([Dense::new(2).into()]).expect("unbuilt");
    let inputs = Input::new(3);
    let err = unbuilt.call(&inputs).expect_err("unbuilt nested");
    assert!(err.to_string().contains("must be built"), "{err}");
}

#[test]
fn feature_extractors_take_inner_outputs_with_the_weights() {
    let mut m = load_model(dir().join("transfer.keras")).expect("load transfer.keras");
    let g = json("transfer_predictions.json");
    let x = tensor(&g["inputs"]);
    let mut f = m.feature_extractor(&["pool"]).expect("features");
    assert_eq!(f.output_shape(), Some(&[6][..]));
    assert_eq!(f.nested_models(), ["prep", "base"]);
    // The head applied to the pooled features gives the model's predictions.
    let feats = f.predict(&x).expect("predict features");
    let head = m.get_layer("head").expect("head").params().to_vec();
    let (w, b) = (&head[0].value, &head[1].value);
    let want = m.predict(&x).expect("predict");
    for r in 0..x.rows() {
        for j in 0..3 {
            let z: f32 = (0..6)
                .map(|k| feats.data()[r * 6 + k] * w[k * 3 + j])
                .sum::<f32>()
                + b[j];
            assert!(
                (z - want.data()[r * 3 + j]).abs() < 1e-4,
                "row {r} class {j}"
            );
        }
    }
    // Several outputs, a nested model among them; a copy: training it leaves `m` alone.
    let two = m.feature_extractor(&["base", "head"]).expect("two outputs");
    assert_eq!(two.output_shapes(), [vec![3, 3, 6], vec![3]]);
    let e = m.feature_extractor(&["nope"]).expect_err("unknown layer");
    assert!(e.to_string().contains("pool"), "{e}");
    // A Sequential model: cut after the named layer.
    let seq = load_model(dir().join("holder.keras")).expect("holder");
    let cut = seq
        .feature_extractor(&["features"])
        .expect("sequential cut");
    assert_eq!(cut.output_shape(), Some(&[6, 6, 4][..]));
}

/// The tensors of a golden JSON list.
fn tensors(v: &Value) -> Vec<Tensor> {
    v.as_array().expect("list").iter().map(tensor).collect()
}

/// The largest difference of `got` and `want`, relative to the largest `|want|` (at least 1).
fn rel_diff(got: &[f32], want: &[f32]) -> f32 {
    let scale = want.iter().fold(1.0f32, |a, v| a.max(v.abs()));
    max_diff(got, want) / scale
}

/// Keras's model `name` with a nested model called twice: its summary, predictions, rkeras's
/// save and load of it (.keras and .weights.h5), and one epoch of training (two steps, the
/// nested model's gradients summed over both calls) to Keras's loss and weights. Returns the
/// largest relative differences (predictions, weights after training).
fn check_shared(name: &str) -> (f32, f32) {
    let g = json(&format!("{name}.json"));
    let path = dir().join(format!("{name}.keras"));
    let mut m = load_model(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        m.summary_string(Some(76)),
        summary(&format!("{name}_summary_76.txt")),
        "{name} summary"
    );
    let ins = tensors(&g["inputs"]);
    let got = m.predict([&ins[0], &ins[1]]).expect("predict");
    let d_predict = rel_diff(got.data(), tensor(&g["outputs"]).data());
    assert!(
        d_predict < 1e-5,
        "{name}: predictions differ by {d_predict}"
    );
    // Saved by rkeras, read back: the same summary and predictions; the weights once.
    let tmp = TempDir::new(name);
    let again = tmp.0.join(format!("{name}.keras"));
    m.save(&again).expect("save");
    let mut back = load_model(&again).expect("reload");
    assert_eq!(back.summary_string(Some(76)), m.summary_string(Some(76)));
    let p = back.predict([&ins[0], &ins[1]]).expect("predict");
    assert_eq!(p.data(), got.data(), "{name}: reloaded");
    let w = tmp.0.join("w.weights.h5");
    m.save_weights(&w).expect("save weights");
    let mut fresh = load_model(&path).expect("load");
    fresh.set_weights(&vec_zeros(&fresh)).expect("zero weights");
    fresh
        .load_weights(&w)
        .expect("weights by Keras's nested paths");
    let p = fresh.predict([&ins[0], &ins[1]]).expect("predict");
    assert_eq!(p.data(), got.data(), "{name}: weights file");
    // One epoch of two steps, as Keras.
    let xs = tensors(&g["x"]);
    let y = tensor(&g["y"]);
    let h = m
        .fit([&xs[0], &xs[1]], &y)
        .epochs(1)
        .batch_size(8)
        .shuffle(false)
        .verbose(0)
        .run()
        .expect("fit");
    let loss = h.last("loss").expect("loss");
    let want = g["loss"].as_f64().expect("loss");
    assert!(
        (loss - want).abs() < 1e-5 * want.abs().max(1.0),
        "{name}: loss {loss} against Keras's {want}"
    );
    let final_w = tensors(&g["final"]);
    let got_w = m.get_weights();
    assert_eq!(got_w.len(), final_w.len(), "{name}: one set of weights");
    let mut d_weights = 0.0f32;
    for (i, (a, b)) in got_w.iter().zip(&final_w).enumerate() {
        assert_eq!(a.shape(), b.shape(), "{name}: weight {i}");
        let d = rel_diff(a.data(), b.data());
        assert!(
            d < 1e-5,
            "{name}: weight {i} {:?} differs by {d}",
            a.shape()
        );
        d_weights = d_weights.max(d);
    }
    let p = m.predict([&ins[0], &ins[1]]).expect("predict");
    let d = rel_diff(p.data(), tensor(&g["final_outputs"]).data());
    assert!(d < 1e-5, "{name}: trained predictions differ by {d}");
    (d_predict, d_weights)
}

/// Zeros in the shape of every weight of `m`.
fn vec_zeros(m: &Model) -> Vec<Tensor> {
    m.get_weights()
        .iter()
        .map(|t| Tensor::new(t.shape().to_vec(), vec![0.0; t.data().len()]).expect("zeros"))
        .collect()
}

#[test]
fn a_sequential_model_called_twice_works_as_in_keras() {
    let (p, w) = check_shared("siamese");
    println!("siamese: predictions {p:e}, trained weights {w:e} (relative)");
}

#[test]
fn a_functional_model_called_twice_works_as_in_keras() {
    let (p, w) = check_shared("twin_tower");
    println!("twin_tower: predictions {p:e}, trained weights {w:e} (relative)");
}

/// The siamese network of the golden files, built in Rust around a [`Shared`] encoder.
fn siamese() -> Model {
    rkeras::clear_session();
    let build = || -> rkeras::Result<Model> {
        let encoder = Sequential::with_name(
            "encoder",
            [
                Conv2D::new(3, 3)
                    .activation("relu")
                    .name("enc_conv")
                    .input_shape((6, 6, 2))
                    .into(),
                BatchNormalization::new().name("enc_bn").into(),
                Flatten::new().name("enc_flat").into(),
                Dense::new(4).name("enc_dense").into(),
            ],
        )?;
        let encoder = Shared::new(encoder);
        let left = Input::named((6, 6, 2), "left");
        let right = Input::named((6, 6, 2), "right");
        let a = encoder.call(&left)?;
        let b = encoder.call(&right)?;
        let d = Subtract::new().name("difference").call_on(&[&a, &b])?;
        let out = Dense::new(1).activation("sigmoid").name("same").call(&d)?;
        Model::functional_named([&left, &right], &out, "siamese")
    };
    build().expect("siamese")
}

#[test]
fn a_shared_encoder_built_in_rust_reads_and_writes_keras_weights() {
    let mut m = siamese();
    assert_eq!(
        m.summary_string(Some(76)),
        summary("siamese_summary_76.txt")
    );
    assert_eq!(m.nested_models(), ["encoder"]);
    // Keras's trained weights load by Keras's paths and give Keras's predictions.
    m.load_weights(dir().join("siamese_trained.weights.h5"))
        .expect("Keras's weights");
    let g = json("siamese.json");
    let ins = tensors(&g["inputs"]);
    let p = m.predict([&ins[0], &ins[1]]).expect("predict");
    let d = rel_diff(p.data(), tensor(&g["final_outputs"]).data());
    assert!(d < 1e-5, "predictions differ by {d}");
    // Its config is Keras's: one entry for the encoder, with a node per call.
    let cfg: Value = serde_json::from_str(&m.to_json()).expect("json");
    let enc = cfg["config"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["name"] == "encoder")
        .expect("encoder entry")
        .clone();
    let nodes = enc["inbound_nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2);
    assert_eq!(
        nodes[1]["args"][0]["config"]["keras_history"],
        serde_json::json!(["right", 0, 0])
    );
    let diff = cfg["config"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["name"] == "difference")
        .expect("difference")
        .clone();
    assert_eq!(
        diff["inbound_nodes"][0]["args"][0][1]["config"]["keras_history"],
        serde_json::json!(["encoder", 1, 0])
    );
    // From its own config, the same model.
    let mut again = rkeras::saving::model_from_json(&m.to_json()).expect("from json");
    again.set_weights(&m.get_weights()).expect("weights");
    let q = again.predict([&ins[0], &ins[1]]).expect("predict");
    assert_eq!(q.data(), p.data());
    // Trains: the encoder's weights move, gradients from both calls summed.
    m.compile(
        Adam::default().learning_rate(1e-2),
        "binary_crossentropy",
        &[],
    )
    .expect("compile");
    let before = m.get_layer("enc_conv").expect("enc_conv").params()[0]
        .value
        .clone();
    let xs = tensors(&g["x"]);
    m.fit([&xs[0], &xs[1]], &tensor(&g["y"]))
        .epochs(1)
        .batch_size(8)
        .verbose(0)
        .run()
        .expect("fit");
    assert_ne!(
        m.get_layer("enc_conv").expect("enc_conv").params()[0].value,
        before
    );
    // Frozen by its name, both calls stay frozen; the head trains on.
    m.set_trainable("encoder", false).expect("freeze");
    m.compile(
        Adam::default().learning_rate(1e-2),
        "binary_crossentropy",
        &[],
    )
    .expect("recompile");
    let weights = |m: &Model, l: &str| m.get_layer(l).expect(l).params()[0].value.clone();
    let (enc, head) = (weights(&m, "enc_dense"), weights(&m, "same"));
    m.fit([&xs[0], &xs[1]], &tensor(&g["y"]))
        .epochs(1)
        .batch_size(8)
        .verbose(0)
        .run()
        .expect("fit frozen");
    assert_eq!(weights(&m, "enc_dense"), enc);
    assert_ne!(weights(&m, "same"), head);
}

#[test]
fn a_nested_model_called_on_its_own_output_and_once_unused() {
    // base(base(x)): two calls in a row, each one node of Keras's graph.
    let mut m = load_model(dir().join("chained.keras")).expect("chained.keras");
    assert_eq!(
        m.summary_string(Some(76)),
        summary("chained_summary_76.txt")
    );
    assert_predicts(&mut m, "chained.json", 1e-5);
    let back = rkeras::saving::model_from_json(&m.to_json()).expect("from json");
    assert_eq!(back.summary_string(Some(76)), m.summary_string(Some(76)));
    // Built in Rust: the same model.
    rkeras::clear_session();
    let base = || {
        Shared::new(
            Sequential::with_name("base", [Dense::new(3).name("d").input_shape(3).into()])
                .expect("base"),
        )
    };
    let chained = base();
    let x = Input::named(3, "x");
    let y = chained.call(&x).expect("first");
    let y = chained.call(&y).expect("second");
    let y = Dense::new(2).name("top").call(&y).expect("top");
    let mut built = Model::functional_named(&x, &y, "chained").expect("model");
    assert_eq!(
        built.summary_string(Some(76)),
        summary("chained_summary_76.txt")
    );
    built.set_weights(&m.get_weights()).expect("weights");
    assert_predicts(&mut built, "chained.json", 1e-5);
    // A call outside the model (on an input it does not take): the model holds the other.
    let shared = base();
    shared.call(&Input::named(3, "x1")).expect("unused call");
    let x2 = Input::named(3, "x2");
    let y = shared.call(&x2).expect("used call");
    let y = Dense::new(2).name("top2").call(&y).expect("top2");
    let m = Model::functional_named(&x2, &y, "unused_first").expect("model");
    assert_eq!(
        m.summary_string(Some(76)),
        summary("unused_first_summary_76.txt")
    );
    let cfg: Value = serde_json::from_str(&m.to_json()).expect("json");
    let top2 = &cfg["config"]["layers"][2];
    assert_eq!(
        top2["inbound_nodes"][0]["args"][0]["config"]["keras_history"],
        serde_json::json!(["base", 0, 0])
    );
}

#[test]
fn a_shared_nested_model_with_two_outputs_is_called_with_call_multi() {
    let inp = Input::new(3);
    let a = Dense::new(2).name("first").call(&inp).expect("first");
    let b = Dense::new(1).name("second").call(&a).expect("second");
    let pair = Shared::new(Model::functional_named(&inp, [&a, &b], "pair").expect("pair"));
    let (x, y) = (Input::new(3), Input::new(3));
    let one = pair.call_multi(&[&x]).expect("first call");
    let two = pair.call_multi(&[&y]).expect("second call");
    assert_eq!(one.len(), 2);
    let err = pair.call(&x).expect_err("two outputs");
    assert!(err.to_string().contains("call_multi"), "{err}");
    let out = Concatenate::new()
        .call_on(&[&one[1], &two[0], &two[1]])
        .expect("concat");
    let mut m = Model::functional([&x, &y], &out).expect("model");
    assert_eq!(m.count_params(), 3 * 2 + 2 + 2 + 1);
    let v = Tensor::new(vec![1, 3], vec![0.5, -1.0, 2.0]).expect("x");
    let p = m.predict([&v, &v]).expect("predict");
    // The same weights on the same input: the second call's `second` equals the first's.
    assert_eq!(p.data()[0], p.data()[3]);
}

#[test]
fn a_nested_model_with_two_inputs_is_saved_with_its_inputs_in_one_list() {
    let (a, b) = (Input::new(3), Input::new(3));
    let sum = Add::new().call_on(&[&a, &b]).expect("add");
    let inner = Shared::new(Model::functional_named([&a, &b], &sum, "inner").expect("inner"));
    let (x, y) = (Input::new(3), Input::new(3));
    let one = inner.call_on(&[&x, &y]).expect("first");
    let two = inner.call_on(&[&one, &y]).expect("second");
    let mut m = Model::functional([&x, &y], &two).expect("model");
    let cfg: Value = serde_json::from_str(&m.to_json()).expect("json");
    let entry = cfg["config"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["name"] == "inner")
        .expect("inner")
        .clone();
    // Keras's `inner([x, y])`: one argument, the list of tensors; a node per call.
    let nodes = entry["inbound_nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0]["args"].as_array().map(Vec::len), Some(1));
    assert_eq!(nodes[0]["args"][0].as_array().map(Vec::len), Some(2));
    assert_eq!(
        nodes[1]["args"][0][0]["config"]["keras_history"],
        serde_json::json!(["inner", 0, 0])
    );
    let mut back = rkeras::saving::model_from_json(&m.to_json()).expect("read back");
    let v = Tensor::new(vec![1, 3], vec![1.0, 2.0, 3.0]).expect("v");
    assert_eq!(
        back.predict([&v, &v]).expect("predict").data(),
        m.predict([&v, &v]).expect("predict").data()
    );
    assert_eq!(
        m.predict([&v, &v]).expect("predict").data(),
        &[3.0, 6.0, 9.0]
    );
}

#[test]
fn a_nested_model_with_two_inputs_and_two_outputs_called_twice_loads_from_keras() {
    // Keras writes the model's output `s2` as ["inner", 2, 0] (a nested functional model's
    // own node counts in `output_layers`), and `t1` as ["inner", 0, 1].
    let path = dir().join("two_way.keras");
    let mut m = load_model(&path).expect("two_way.keras");
    assert_eq!(
        m.summary_string(Some(76)),
        summary("two_way_summary_76.txt")
    );
    let g = json("two_way.json");
    let ins = tensors(&g["inputs"]);
    let want = tensors(&g["outputs"]);
    let check = |m: &mut Model| {
        let got = m.predict_outputs([&ins[0], &ins[1]]).expect("predict");
        for (a, b) in got.iter().zip(&want) {
            assert_eq!(a.shape(), b.shape());
            let d = rel_diff(a.data(), b.data());
            assert!(d < 1e-5, "outputs differ by {d}");
        }
    };
    check(&mut m);
    // Written back with Keras's references.
    let cfg: Value = serde_json::from_str(&m.to_json()).expect("json");
    assert_eq!(
        cfg["config"]["output_layers"],
        serde_json::json!([["inner", 2, 0], ["both", 0, 0]])
    );
    let both = cfg["config"]["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| l["name"] == "both")
        .expect("both")
        .clone();
    assert_eq!(
        both["inbound_nodes"][0]["args"][0][0]["config"]["keras_history"],
        serde_json::json!(["inner", 0, 1])
    );
    let tmp = TempDir::new("two_way");
    let again = tmp.0.join("two_way.keras");
    m.save(&again).expect("save");
    let mut back = load_model(&again).expect("reload");
    assert_eq!(back.summary_string(Some(76)), m.summary_string(Some(76)));
    check(&mut back);
}
