//! Freezing and unfreezing layers of a built or loaded model, as the keras.io transfer
//! learning guide does: frozen layers keep their weights (a frozen BatchNormalization its
//! moving statistics too), the others train; unfreezing lets them train again.

use rkeras::prelude::*;

mod common;
use common::TempDir;

fn model() -> Model {
    rkeras::set_random_seed(3);
    let mut m = Sequential::new([
        Conv2D::new(4, 3)
            .name("base_conv")
            .input_shape((6, 6, 2))
            .into(),
        BatchNormalization::new().name("base_bn").into(),
        GlobalAveragePooling2D::new().into(),
        Dense::new(3).activation("softmax").name("head").into(),
    ])
    .expect("model");
    m.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])
        .expect("compile");
    m
}

fn weights_of(m: &Model, name: &str) -> Vec<Vec<f32>> {
    m.get_layer(name)
        .expect("layer")
        .params()
        .iter()
        .map(|p| p.value.clone())
        .collect()
}

fn data() -> (Tensor, Tensor) {
    let mut r = 1u32;
    let mut next = || {
        r = r.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (r >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
    };
    let x: Vec<f32> = (0..64 * 72).map(|_| next()).collect();
    let y: Vec<f32> = (0..64).map(|i| (i % 3) as f32).collect();
    (
        Tensor::new(vec![64, 6, 6, 2], x).expect("x"),
        Tensor::new(vec![64], y).expect("y"),
    )
}

fn train(m: &mut Model) {
    let (x, y) = data();
    m.fit(&x, &y)
        .epochs(2)
        .batch_size(8)
        .verbose(0)
        .run()
        .expect("fit");
}

#[test]
fn frozen_layers_keep_their_weights_and_unfrozen_ones_train_again() {
    let mut m = model();
    train(&mut m);
    m.set_trainable("base_conv", false).expect("freeze");
    m.set_trainable("base_bn", false).expect("freeze");
    let (conv, bn, head) = (
        weights_of(&m, "base_conv"),
        weights_of(&m, "base_bn"),
        weights_of(&m, "head"),
    );
    train(&mut m);
    assert_eq!(
        weights_of(&m, "base_conv"),
        conv,
        "a frozen layer keeps its weights"
    );
    assert_eq!(
        weights_of(&m, "base_bn"),
        bn,
        "and a frozen BN its moving statistics"
    );
    assert_ne!(weights_of(&m, "head"), head, "the head trains");

    // Unfreeze everything (Keras's `model.trainable = True`): the base trains again.
    m.set_trainable_from(None, true).expect("unfreeze");
    train(&mut m);
    assert_ne!(weights_of(&m, "base_conv"), conv);
    assert_ne!(weights_of(&m, "base_bn"), bn);

    // Only the top from `head` on: the base is frozen again.
    m.set_trainable_from(Some("head"), true).expect("top only");
    let conv = weights_of(&m, "base_conv");
    train(&mut m);
    assert_eq!(weights_of(&m, "base_conv"), conv);

    let e = m
        .set_trainable("nope", false)
        .expect_err("no such layer")
        .to_string();
    assert!(e.contains("nope") && e.contains("base_conv"), "{e}");
}

#[test]
fn layers_of_a_loaded_model_freeze_too() {
    let tmp = TempDir::new("fine-tune");
    let path = tmp.0.join("m.keras");
    let mut m = model();
    train(&mut m);
    m.save(&path).expect("save");
    let mut back = rkeras::saving::load_model(&path).expect("load");
    back.set_trainable_from(Some("head"), true)
        .expect("freeze the base");
    let conv = weights_of(&back, "base_conv");
    let head = weights_of(&back, "head");
    train(&mut back);
    assert_eq!(weights_of(&back, "base_conv"), conv);
    assert_ne!(weights_of(&back, "head"), head);
    // The frozen flags are saved: Keras and rkeras read them back.
    back.save(&path).expect("save again");
    let again = rkeras::saving::load_model(&path).expect("load again");
    assert!(
        !again
            .get_layer("base_conv")
            .expect("layer")
            .base()
            .trainable
    );
    assert!(again.get_layer("head").expect("layer").base().trainable);
}

#[test]
fn transfer_learning_the_keras_way_on_keras_mobilenetv2() {
    // Keras's MobileNetV2 (alpha 0.35, 32x32, its "predictions" head), built from Keras's
    // JSON, with "pretrained" weights (the applications golden's formula).
    let g = common::golden_json("applications", "mobilenetv2.json");
    let mut m = rkeras::saving::from_config(&g["config"]).expect("Keras's config builds");
    let weights = common::formula_weights(&m);
    m.set_weights(&weights).expect("set weights");
    let names: Vec<String> = m.layers().iter().map(|l| l.name().to_string()).collect();
    let (mut r, n) = (7u32, 24);
    let mut next = || {
        r = r.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (r >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
    };
    let x = Tensor::new(
        vec![n, 32, 32, 3],
        (0..n * 32 * 32 * 3).map(|_| next()).collect(),
    )
    .expect("x");
    let y = Tensor::new(vec![n], (0..n).map(|i| (i % 10) as f32).collect()).expect("y");
    let snapshot = |m: &Model| -> Vec<Vec<f32>> {
        m.layers()
            .iter()
            .flat_map(|l| l.params().iter().map(|p| p.value.clone()))
            .collect()
    };
    let changed = |before: &[Vec<f32>], m: &Model| -> Vec<String> {
        let mut k = 0;
        let mut out = Vec::new();
        for l in m.layers() {
            for p in l.params() {
                if p.value != before[k] {
                    out.push(format!("{}/{}", l.name(), p.name));
                }
                k += 1;
            }
        }
        out
    };

    // 1. Feature extraction: the base frozen (its BatchNormalizations in inference), only
    // the head trains.
    m.set_trainable_from(Some("predictions"), true)
        .expect("freeze the base");
    m.compile(
        Adam::default().learning_rate(1e-3),
        "sparse_categorical_crossentropy",
        &["accuracy"],
    )
    .expect("compile");
    let before = snapshot(&m);
    m.fit(&x, &y)
        .epochs(1)
        .batch_size(8)
        .verbose(0)
        .run()
        .expect("fit");
    assert_eq!(
        changed(&before, &m),
        ["predictions/kernel", "predictions/bias"]
    );

    // 2. Fine-tuning: unfreeze the top from block_16_expand, recompile with a lower rate.
    m.set_trainable_from(Some("block_16_expand"), true)
        .expect("unfreeze the top");
    m.compile(
        Adam::default().learning_rate(1e-5),
        "sparse_categorical_crossentropy",
        &["accuracy"],
    )
    .expect("recompile");
    let before = snapshot(&m);
    m.fit(&x, &y)
        .epochs(1)
        .batch_size(8)
        .verbose(0)
        .run()
        .expect("fine-tune");
    let moved = changed(&before, &m);
    let top = names
        .iter()
        .position(|n| n == "block_16_expand")
        .expect("layer");
    for name in &moved {
        let layer = name.split('/').next().expect("layer name");
        let at = names.iter().position(|n| n == layer).expect("known layer");
        assert!(at >= top, "{name} is below block_16_expand but changed");
    }
    assert!(
        moved.iter().any(|n| n.starts_with("block_16_expand/")),
        "{moved:?}"
    );
    // The moving statistics of the unfrozen BatchNormalizations move too (training mode).
    assert!(
        moved.iter().any(|n| n.ends_with("moving_mean")),
        "{moved:?}"
    );
}
