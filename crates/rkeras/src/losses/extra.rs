//! The losses beyond the cross-entropies and the mean errors, one row at a time, with
//! Keras 3's formulas: each returns the row's loss and writes its gradient with respect to
//! the row of predictions (the caller scales it for the batch mean).

use super::{Kind, EPSILON};
use rkeras_kernels::activation::sigmoid;

/// Row loss and gradient of the losses in this file. `t` holds `p.len()` targets.
#[allow(clippy::needless_range_loop)] // index loops mirror the formulas
pub(super) fn row(
    kind: Kind,
    from_logits: bool,
    smoothing: f32,
    p: &[f32],
    t: &[f32],
    mut g: Option<&mut [f32]>,
) -> f64 {
    let c = p.len();
    let inv_c = 1.0 / c.max(1) as f32;
    let mut set = |j: usize, v: f32| {
        if let Some(g) = g.as_deref_mut() {
            g[j] = v;
        }
    };
    match kind {
        Kind::Huber { delta } => {
            let mut s = 0.0f64;
            for j in 0..c {
                let e = p[j] - t[j];
                if e.abs() <= delta {
                    s += f64::from(0.5 * e * e);
                    set(j, e * inv_c);
                } else {
                    s += f64::from(delta * e.abs() - 0.5 * delta * delta);
                    set(j, delta * e.signum() * inv_c);
                }
            }
            s / c as f64
        }
        Kind::LogCosh => {
            let mut s = 0.0f64;
            for j in 0..c {
                let x = f64::from(p[j] - t[j]);
                // x + softplus(-2x) - log 2, stable for large |x|.
                let sp = (-2.0 * x).max(0.0) + (-(2.0 * x).abs()).exp().ln_1p();
                s += x + sp - std::f64::consts::LN_2;
                set(j, (x.tanh() as f32) * inv_c);
            }
            s / c as f64
        }
        Kind::MeanAbsolutePercentageError => {
            let mut s = 0.0f64;
            for j in 0..c {
                let den = t[j].abs().max(EPSILON);
                let d = (t[j] - p[j]) / den;
                s += f64::from(d.abs());
                let sign = (p[j] - t[j]).signum() * if p[j] == t[j] { 0.0 } else { 1.0 };
                set(j, 100.0 * sign / den * inv_c);
            }
            100.0 * s / c as f64
        }
        Kind::MeanSquaredLogarithmicError => {
            let mut s = 0.0f64;
            for j in 0..c {
                let a = (p[j].max(EPSILON) + 1.0).ln();
                let b = (t[j].max(EPSILON) + 1.0).ln();
                s += f64::from((a - b) * (a - b));
                let da = if p[j] > EPSILON {
                    1.0 / (p[j] + 1.0)
                } else {
                    0.0
                };
                set(j, 2.0 * (a - b) * da * inv_c);
            }
            s / c as f64
        }
        Kind::Poisson => {
            let mut s = 0.0f64;
            for j in 0..c {
                s += f64::from(p[j]) - f64::from(t[j]) * f64::from(p[j] + EPSILON).ln();
                set(j, (1.0 - t[j] / (p[j] + EPSILON)) * inv_c);
            }
            s / c as f64
        }
        Kind::Hinge | Kind::SquaredHinge => {
            let binary = t.iter().all(|&y| y == 0.0 || y == 1.0);
            let mut s = 0.0f64;
            for j in 0..c {
                let y = if binary { 2.0 * t[j] - 1.0 } else { t[j] };
                let m = (1.0 - y * p[j]).max(0.0);
                if kind == Kind::Hinge {
                    s += f64::from(m);
                    set(j, if m > 0.0 { -y * inv_c } else { 0.0 });
                } else {
                    s += f64::from(m * m);
                    set(j, -2.0 * y * m * inv_c);
                }
            }
            s / c as f64
        }
        Kind::CategoricalHinge => {
            let pos: f32 = (0..c).map(|j| t[j] * p[j]).sum();
            let (mut neg, mut arg) = (f32::NEG_INFINITY, 0);
            for j in 0..c {
                let v = (1.0 - t[j]) * p[j];
                if v > neg {
                    neg = v;
                    arg = j;
                }
            }
            let l = (neg - pos + 1.0).max(0.0);
            for j in 0..c {
                let d = if l > 0.0 {
                    -t[j] + if j == arg { 1.0 - t[j] } else { 0.0 }
                } else {
                    0.0
                };
                set(j, d);
            }
            f64::from(l)
        }
        Kind::KLDivergence => {
            let mut s = 0.0f64;
            for j in 0..c {
                let y = t[j].clamp(EPSILON, 1.0);
                let q = p[j].clamp(EPSILON, 1.0);
                s += f64::from(y) * (f64::from(y) / f64::from(q)).ln();
                set(
                    j,
                    if (EPSILON..=1.0).contains(&p[j]) {
                        -y / q
                    } else {
                        0.0
                    },
                );
            }
            s
        }
        Kind::CosineSimilarity => {
            let norm = |x: &[f32]| {
                x.iter()
                    .map(|v| f64::from(*v) * f64::from(*v))
                    .sum::<f64>()
                    .max(1e-12)
                    .sqrt()
            };
            let (np, nt) = (norm(p), norm(t));
            let dot: f64 = (0..c)
                .map(|j| f64::from(p[j]) * f64::from(t[j]))
                .sum::<f64>()
                / (np * nt);
            for j in 0..c {
                let u = f64::from(p[j]) / np;
                let v = f64::from(t[j]) / nt;
                set(j, (-(v - dot * u) / np) as f32);
            }
            -dot
        }
        Kind::BinaryFocalCrossentropy {
            alpha,
            gamma,
            balancing,
        } => {
            let mut s = 0.0f64;
            for j in 0..c {
                let y = if smoothing > 0.0 {
                    t[j] * (1.0 - smoothing) + 0.5 * smoothing
                } else {
                    t[j]
                };
                let pr = if from_logits { sigmoid(p[j]) } else { p[j] };
                let (pr64, y64) = (f64::from(pr), f64::from(y));
                let q = pr64.clamp(f64::from(EPSILON), 1.0 - f64::from(EPSILON));
                let bce = -(y64 * q.ln() + (1.0 - y64) * (1.0 - q).ln());
                let dbce = if (f64::from(EPSILON)..=1.0 - f64::from(EPSILON)).contains(&pr64) {
                    -y64 / q + (1.0 - y64) / (1.0 - q)
                } else {
                    0.0
                };
                let pt = y64 * pr64 + (1.0 - y64) * (1.0 - pr64);
                let gm = f64::from(gamma);
                let ff = (1.0 - pt).max(0.0).powf(gm);
                let dff = if gm == 0.0 {
                    0.0
                } else {
                    -gm * (1.0 - pt).max(0.0).powf(gm - 1.0) * (2.0 * y64 - 1.0)
                };
                let w = if balancing {
                    y64 * f64::from(alpha) + (1.0 - y64) * (1.0 - f64::from(alpha))
                } else {
                    1.0
                };
                s += w * ff * bce;
                let mut d = w * (dff * bce + ff * dbce);
                if from_logits {
                    d *= pr64 * (1.0 - pr64);
                }
                set(j, (d as f32) * inv_c);
            }
            s / c as f64
        }
        Kind::CategoricalFocalCrossentropy { alpha, gamma } => {
            // Probabilities (softmax of logits), renormalised, clipped.
            let mut q = vec![0.0f64; c];
            if from_logits {
                let m = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f64> = p.iter().map(|z| f64::from(z - m).exp()).collect();
                let z: f64 = e.iter().sum();
                q.iter_mut().zip(&e).for_each(|(q, e)| *q = e / z);
            } else {
                q.iter_mut().zip(p).for_each(|(q, p)| *q = f64::from(*p));
            }
            let sum: f64 = q.iter().sum();
            let (a, gm) = (f64::from(alpha), f64::from(gamma));
            let mut loss = 0.0;
            let mut dq = vec![0.0f64; c];
            for j in 0..c {
                let raw = q[j] / sum;
                let o = raw.clamp(f64::from(EPSILON), 1.0 - f64::from(EPSILON));
                let y = f64::from(if smoothing > 0.0 {
                    t[j] * (1.0 - smoothing) + smoothing / c as f32
                } else {
                    t[j]
                });
                let ce = -y * o.ln();
                let mf = (1.0 - o).powf(gm);
                loss += a * mf * ce;
                if (f64::from(EPSILON)..=1.0 - f64::from(EPSILON)).contains(&raw) {
                    let dmf = if gm == 0.0 {
                        0.0
                    } else {
                        -gm * (1.0 - o).powf(gm - 1.0)
                    };
                    dq[j] = a * (dmf * ce + mf * (-y / o));
                }
            }
            // Through the renormalisation o = q / sum(q), then the softmax.
            let dot: f64 = (0..c).map(|j| dq[j] * q[j] / sum).sum();
            let gq: Vec<f64> = (0..c).map(|j| (dq[j] - dot) / sum).collect();
            let gdot: f64 = (0..c).map(|k| gq[k] * q[k]).sum();
            for j in 0..c {
                let d = if from_logits {
                    q[j] * (gq[j] - gdot)
                } else {
                    gq[j]
                };
                set(j, d as f32);
            }
            loss
        }
        _ => 0.0,
    }
}

/// Dice and Tversky over the whole batch (Keras's `axis=None`): the loss, and with `grad`
/// its gradient with respect to every prediction. Sample weights scale the batch's loss by
/// their mean (Keras broadcasts the one value over the samples, then averages).
pub(super) fn overlap(
    kind: Kind,
    p: &[f32],
    t: &[f32],
    weights: Option<&[f32]>,
    grad: Option<&mut [f32]>,
) -> f64 {
    let (a, b) = match kind {
        Kind::Tversky { alpha, beta } => (f64::from(alpha), f64::from(beta)),
        _ => (0.5, 0.5),
    };
    let dice = matches!(kind, Kind::Dice);
    let (mut i, mut st, mut sp) = (0.0f64, 0.0f64, 0.0f64);
    for (&p, &t) in p.iter().zip(t) {
        i += f64::from(t) * f64::from(p);
        st += f64::from(t);
        sp += f64::from(p);
    }
    let eps = f64::from(EPSILON);
    // Dice: 2I / (St + Sp + eps). Tversky: I / (I + a (St - I) + b (Sp - I) + eps), since
    // sum(t (1 - p)) = St - I and sum(p (1 - t)) = Sp - I.
    let (num, den) = if dice {
        (2.0 * i, st + sp + eps)
    } else {
        (i, i + a * (st - i) + b * (sp - i) + eps)
    };
    let scale = weights.map_or(1.0, |w| {
        w.iter().map(|v| f64::from(*v)).sum::<f64>() / w.len().max(1) as f64
    });
    if let Some(g) = grad {
        for (g, &t) in g.iter_mut().zip(t) {
            let t = f64::from(t);
            // d num / dp and d den / dp for this prediction.
            let (dn, dd) = if dice {
                (2.0 * t, 1.0)
            } else {
                (t, t - a * t + b * (1.0 - t))
            };
            *g = (-(dn * den - num * dd) / (den * den) * scale) as f32;
        }
    }
    (1.0 - num / den) * scale
}
