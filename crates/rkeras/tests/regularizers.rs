//! Kernel regularizers: the penalty joins the loss `fit` and `evaluate` report, and its
//! gradient joins the weights' (one SGD step checked against the formula).

use rkeras::prelude::*;
use rkeras::regularizers::Regularizer;

fn model(reg: Option<Regularizer>) -> Model {
    rkeras::set_random_seed(3);
    let mut d = Dense::new(2).activation("softmax").input_shape(3);
    if let Some(r) = reg {
        d = d.kernel_regularizer(r);
    }
    let mut m = Sequential::new([d.into()]).expect("model");
    m.compile(
        SGD::default().learning_rate(0.1),
        "categorical_crossentropy",
        &[],
    )
    .expect("compile");
    m
}

#[test]
fn the_penalty_is_in_the_loss_and_in_the_gradient() {
    let x = Tensor::new(vec![4, 3], (0..12).map(|v| v as f32 / 10.0).collect()).expect("x");
    let y = Tensor::one_hot(&[0, 1, 1, 0], 2).expect("y");
    let mut plain = model(None);
    let mut reg = model(Some(Regularizer::L2(0.5)));
    reg.set_weights(&plain.get_weights()).expect("same weights");
    let k0 = plain.get_weights()[0].clone();
    let penalty: f64 = k0.data().iter().map(|v| 0.5 * (*v as f64).powi(2)).sum();
    let (lp, lr) = (
        plain.evaluate(&x, &y).expect("eval").loss(),
        reg.evaluate(&x, &y).expect("eval").loss(),
    );
    assert!((lr - lp - penalty).abs() < 1e-5, "{lr} - {lp} != {penalty}");

    let hp = plain
        .fit(&x, &y)
        .epochs(1)
        .batch_size(4)
        .shuffle(false)
        .verbose(0)
        .run();
    let hr = reg
        .fit(&x, &y)
        .epochs(1)
        .batch_size(4)
        .shuffle(false)
        .verbose(0)
        .run();
    let (hp, hr) = (hp.expect("fit"), hr.expect("fit"));
    let (a, b) = (
        hp.last("loss").expect("loss"),
        hr.last("loss").expect("loss"),
    );
    assert!(
        (b - a - penalty).abs() < 1e-5,
        "fit loss {b} - {a} != {penalty}"
    );
    // One SGD step: the regularized kernel moved by an extra -lr * 2 * l2 * k0.
    let (kp, kr) = (&plain.get_weights()[0], &reg.get_weights()[0]);
    for ((p, r), k) in kp.data().iter().zip(kr.data()).zip(k0.data()) {
        let extra = -0.1 * 2.0 * 0.5 * k;
        assert!((r - p - extra).abs() < 1e-6, "{r} - {p} != {extra}");
    }
}

/// Constraints hold after every update: MaxNorm caps each unit's incoming norm, NonNeg
/// keeps the bias non-negative; a bad axis is an error when the layer is built.
#[test]
fn constraints_hold_after_training() {
    use rkeras::constraints::Constraint;
    rkeras::set_random_seed(4);
    let mut m = Sequential::new([Dense::new(3)
        .activation("softmax")
        .kernel_constraint(Constraint::MaxNorm {
            max_value: 0.5,
            axis: vec![0],
        })
        .bias_constraint(Constraint::NonNeg)
        .input_shape(4)
        .into()])
    .expect("model");
    m.compile(
        SGD::default().learning_rate(1.0),
        "categorical_crossentropy",
        &[],
    )
    .expect("compile");
    let x = Tensor::new(
        vec![6, 4],
        (0..24).map(|v| (v as f32).sin() * 3.0).collect(),
    )
    .expect("x");
    let y = Tensor::one_hot(&[0, 1, 2, 0, 1, 2], 3).expect("y");
    m.fit(&x, &y)
        .epochs(3)
        .batch_size(2)
        .verbose(0)
        .run()
        .expect("fit");
    let w = m.get_weights();
    for unit in 0..3 {
        let norm: f32 = (0..4)
            .map(|i| w[0].data()[i * 3 + unit].powi(2))
            .sum::<f32>()
            .sqrt();
        assert!(norm <= 0.5 + 1e-5, "unit {unit}: norm {norm}");
    }
    assert!(w[1].data().iter().all(|b| *b >= 0.0), "{:?}", w[1].data());
    let e = Sequential::new([Dense::new(3)
        .kernel_constraint(Constraint::UnitNorm { axis: vec![3] })
        .input_shape(4)
        .into()])
    .expect_err("axis 3 of a 2-D kernel");
    assert!(e.to_string().contains("kernel_constraint"), "{e}");
}

/// Keras 3 counts the penalties of trainable weights only: freezing a regularized layer
/// takes its penalty out of the loss `evaluate` and `fit` report (Keras: 27.77 trainable,
/// 2.40 frozen for the same model and data).
#[test]
fn a_frozen_layers_penalty_is_not_in_the_loss() {
    let x = Tensor::new(vec![4, 3], (0..12).map(|v| v as f32 / 10.0).collect()).expect("x");
    let y = Tensor::one_hot(&[0, 1, 1, 0], 2).expect("y");
    let frozen = |reg: Option<Regularizer>| {
        let mut d = Dense::new(2)
            .activation("softmax")
            .input_shape(3)
            .trainable(false);
        if let Some(r) = reg {
            d = d.kernel_regularizer(r);
        }
        let mut m = Sequential::new([d.into()]).expect("model");
        m.compile(SGD::default(), "categorical_crossentropy", &[])
            .expect("compile");
        m
    };
    let (mut plain, mut reg) = (frozen(None), frozen(Some(Regularizer::L2(0.5))));
    reg.set_weights(&plain.get_weights()).expect("same weights");
    let (lp, lr) = (
        plain.evaluate(&x, &y).expect("eval").loss(),
        reg.evaluate(&x, &y).expect("eval").loss(),
    );
    assert!((lr - lp).abs() < 1e-9, "frozen: {lr} vs {lp}");
    let h = reg
        .fit(&x, &y)
        .epochs(1)
        .batch_size(4)
        .verbose(0)
        .run()
        .expect("fit");
    let fit_loss = h.last("loss").expect("loss");
    assert!(
        (fit_loss - lp).abs() < 1e-6,
        "frozen fit: {fit_loss} vs {lp}"
    );
}
