//! Regularizers and constraints beyond Dense/Conv2D: the depthwise, separable and
//! normalization layers add their penalties to the loss (Keras's formulas: l2 * sum(w^2),
//! l1 * sum(|w|)) and their gradients to the weights', and keep their constraints.

use rkeras::constraints::Constraint;
use rkeras::prelude::*;
use rkeras::regularizers::Regularizer;

/// `(penalty, expected)` for a model of `layer` then `Flatten`: the penalty is the loss
/// `evaluate` reports (mse against zeros) less the data term computed from `predict`; the
/// expected penalty is `f` of the weights.
fn penalty(layer: Box<dyn Layer>, f: impl Fn(&[Tensor]) -> f64) -> (f64, f64) {
    rkeras::set_random_seed(5);
    let mut m = Sequential::new([layer, Flatten::new().into()]).expect("model");
    m.compile(SGD::default(), "mse", &[]).expect("compile");
    let x = Tensor::new(
        vec![2, 4, 4, 2],
        (0..64).map(|v| (v as f32 * 0.37).sin()).collect(),
    )
    .expect("x");
    let out: usize = m.output_shape().expect("shape").iter().product();
    let y = Tensor::zeros(vec![2, out]);
    let with = m.evaluate(&x, &y).expect("eval").loss();
    let pred = m.predict(&x).expect("predict");
    let data: f64 =
        pred.data().iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / pred.data().len() as f64;
    (with - data, f(&m.get_weights()))
}

fn sum_sq(t: &Tensor) -> f64 {
    t.data().iter().map(|v| (*v as f64).powi(2)).sum()
}
fn sum_abs(t: &Tensor) -> f64 {
    t.data().iter().map(|v| (*v as f64).abs()).sum()
}

#[test]
fn depthwise_separable_and_normalization_penalties_join_the_loss() {
    let (got, want) = penalty(
        DepthwiseConv2D::new(3)
            .depthwise_regularizer(Regularizer::L2(0.5))
            .input_shape((4, 4, 2))
            .into(),
        |w| 0.5 * sum_sq(&w[0]),
    );
    assert!((got - want).abs() < 1e-5, "depthwise: {got} vs {want}");
    let (got, want) = penalty(
        SeparableConv2D::new(3, 3)
            .depthwise_regularizer(Regularizer::L2(0.5))
            .pointwise_regularizer(Regularizer::L1(0.25))
            .bias_initializer("ones")
            .bias_regularizer(Regularizer::L2(2.0))
            .input_shape((4, 4, 2))
            .into(),
        |w| 0.5 * sum_sq(&w[0]) + 0.25 * sum_abs(&w[1]) + 2.0 * sum_sq(&w[2]),
    );
    assert!((got - want).abs() < 1e-5, "separable: {got} vs {want}");
    let (got, want) = penalty(
        BatchNormalization::new()
            .gamma_regularizer(Regularizer::L2(0.1))
            .input_shape((4, 4, 2))
            .into(),
        |w| 0.1 * sum_sq(&w[0]),
    );
    assert!((got - want).abs() < 1e-5, "batch norm: {got} vs {want}");
}

/// One SGD step on a separable convolution: the regularized pointwise kernel moves by an
/// extra `-lr * 2 * l2 * w`; a NonNeg depthwise constraint holds after training.
#[test]
fn separable_penalty_gradient_and_constraint() {
    let build = |reg: bool| {
        rkeras::set_random_seed(8);
        let mut l = SeparableConv2D::new(2, 3)
            .depthwise_constraint(Constraint::NonNeg)
            .input_shape((4, 4, 2));
        if reg {
            l = l.pointwise_regularizer(Regularizer::L2(0.5));
        }
        let mut m = Sequential::new([l.into(), Flatten::new().into()]).expect("model");
        m.compile(SGD::default().learning_rate(0.1), "mse", &[])
            .expect("compile");
        m
    };
    let (mut plain, mut reg) = (build(false), build(true));
    let x = Tensor::new(
        vec![2, 4, 4, 2],
        (0..64).map(|v| (v as f32 * 0.37).sin()).collect(),
    )
    .expect("x");
    let y = Tensor::new(vec![2, 8], (0..16).map(|v| v as f32 / 16.0).collect()).expect("y");
    // The first step from the same weights (constraints apply after it, to both alike).
    let w0 = plain.get_weights();
    reg.set_weights(&w0).expect("same weights");
    for m in [&mut plain, &mut reg] {
        m.fit(&x, &y)
            .epochs(1)
            .batch_size(2)
            .shuffle(false)
            .verbose(0)
            .run()
            .expect("fit");
    }
    let (p, r) = (plain.get_weights(), reg.get_weights());
    for ((a, b), w) in p[1].data().iter().zip(r[1].data()).zip(w0[1].data()) {
        let extra = -0.1 * 2.0 * 0.5 * w;
        assert!((b - a - extra).abs() < 1e-6, "{b} - {a} != {extra}");
    }
    assert!(
        r[0].data().iter().all(|v| *v >= 0.0),
        "NonNeg depthwise kernel"
    );
}
