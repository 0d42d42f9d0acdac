//! Models used as layers of other models, against real Keras 3.15.1 (golden files made by
//! `golden/nested/make_nested_golden.py`): the keras.io "Image classification from scratch"
//! model (a Sequential augmentation block nested in a functional model) loads, prints
//! Keras's summary, predicts as Keras and trains; the transfer-learning recipe (a backbone
//! called with training=False, frozen, then fine-tuned) trains from Keras's weights to
//! Keras's weights; a Sequential model holding models loads, saves and loads again.

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
    // A nested model called twice (shared) is refused, naming it.
    let shared = Shared::new(
        Sequential::with_name("twice", [Dense::new(2).input_shape(3).into()]).expect("small"),
    );
    let a = Input::new(3);
    shared.call(&a).expect("first call");
    let err = shared.call(&a).expect_err("second call");
    assert!(
        err.to_string()
            .contains("\"twice\" is used as a layer twice"),
        "{err}"
    );
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
