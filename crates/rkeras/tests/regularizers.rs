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
