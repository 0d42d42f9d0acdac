//! Element-wise activations (forward, and backward from the saved output or input).
//!
//! Softmax is row-wise over the last axis and lives in [`crate::softmax`]; it is listed here
//! so a layer can hold any activation in one enum.

use crate::parallel::for_each_chunk_mut;
use crate::softmax;

/// Elements per parallel task for element-wise work (fixed, thread-count independent).
pub const ELEMWISE_CHUNK: usize = 1 << 14;

const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;

/// An activation function, with its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// Identity.
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `relu6(x + 3) / 6` (Keras 3 definition).
    HardSigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// `x` if `x > 0` else `alpha * (exp(x) - 1)`.
    Elu(f32),
    /// Scaled ELU with the fixed Keras constants.
    Selu,
    /// `x` if `x >= 0` else `negative_slope * x`.
    LeakyRelu(f32),
    /// Gaussian error linear unit; `true` = tanh approximation.
    Gelu(bool),
    /// `x * sigmoid(x)` (also called silu).
    Swish,
    /// `ln(1 + exp(x))`.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `exp(x)`.
    Exponential,
    /// Softmax over the last axis.
    Softmax,
    /// `x * relu6(x + 3) / 6` (Keras 3 `hard_silu`, also named `hard_swish`).
    HardSilu,
    /// `x * tanh(softplus(x))`.
    Mish,
    /// Keras's `ReLU` layer with its arguments: values above `threshold` pass (below it, 0),
    /// clipped to `[0, max_value]` when `max_value` is finite, minus
    /// `negative_slope * max(threshold - x, 0)`.
    ReluWith {
        /// Upper clip (infinity: none).
        max_value: f32,
        /// Slope below the threshold.
        negative_slope: f32,
        /// Values at or below it are cut.
        threshold: f32,
    },
}

impl Act {
    /// True when the backward pass needs the pre-activation input (not only the output).
    pub fn backward_needs_input(&self) -> bool {
        matches!(
            self,
            Act::Gelu(_) | Act::Swish | Act::HardSilu | Act::Mish | Act::ReluWith { .. }
        )
    }

    /// True for the identity.
    pub fn is_linear(&self) -> bool {
        matches!(self, Act::Linear)
    }

    /// Scalar forward.
    #[inline]
    pub fn apply(&self, x: f32) -> f32 {
        match *self {
            Act::Linear | Act::Softmax => x,
            Act::Relu => x.max(0.0),
            Act::Relu6 => x.clamp(0.0, 6.0),
            Act::Sigmoid => sigmoid(x),
            Act::HardSigmoid => ((x + 3.0).clamp(0.0, 6.0)) / 6.0,
            Act::Tanh => x.tanh(),
            Act::Elu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a * x.exp_m1()
                }
            }
            Act::Selu => {
                if x > 0.0 {
                    SELU_SCALE * x
                } else {
                    SELU_SCALE * SELU_ALPHA * x.exp_m1()
                }
            }
            Act::LeakyRelu(s) => {
                if x >= 0.0 {
                    x
                } else {
                    s * x
                }
            }
            Act::Gelu(false) => 0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2)),
            Act::Gelu(true) => {
                let c = (2.0 / std::f32::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            }
            Act::Swish => x * sigmoid(x),
            Act::Softplus => {
                // Stable: max(x,0) + ln(1 + exp(-|x|)).
                x.max(0.0) + (-x.abs()).exp().ln_1p()
            }
            Act::Softsign => x / (1.0 + x.abs()),
            Act::Exponential => x.exp(),
            Act::HardSilu => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            Act::Mish => x * (x.max(0.0) + (-x.abs()).exp().ln_1p()).tanh(),
            Act::ReluWith {
                max_value,
                negative_slope,
                threshold,
            } => {
                let pass = relu_with_pass(x, max_value, threshold);
                pass - negative_slope * (threshold - x).max(0.0)
            }
        }
    }

    /// Scalar derivative `dy/dx`, from the output `y` and (when needed) the input `x`.
    #[inline]
    pub fn derivative(&self, x: f32, y: f32) -> f32 {
        match *self {
            Act::Linear | Act::Softmax => 1.0,
            Act::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Act::Relu6 => {
                if y > 0.0 && y < 6.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Act::Sigmoid => y * (1.0 - y),
            Act::HardSigmoid => {
                if y > 0.0 && y < 1.0 {
                    1.0 / 6.0
                } else {
                    0.0
                }
            }
            Act::Tanh => 1.0 - y * y,
            Act::Elu(a) => {
                if y > 0.0 {
                    1.0
                } else {
                    y + a
                }
            }
            Act::Selu => {
                if y > 0.0 {
                    SELU_SCALE
                } else {
                    y + SELU_SCALE * SELU_ALPHA
                }
            }
            Act::LeakyRelu(s) => {
                if y >= 0.0 {
                    1.0
                } else {
                    s
                }
            }
            Act::Gelu(false) => {
                let cdf = 0.5 * (1.0 + erf(x / std::f32::consts::SQRT_2));
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f32::consts::PI).sqrt();
                cdf + x * pdf
            }
            Act::Gelu(true) => {
                let c = (2.0 / std::f32::consts::PI).sqrt();
                let u = c * (x + 0.044715 * x * x * x);
                let t = u.tanh();
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x)
            }
            Act::Swish => {
                let s = sigmoid(x);
                s + x * s * (1.0 - s)
            }
            Act::Softplus => 1.0 - (-y).exp(),
            Act::Softsign => {
                let t = 1.0 - y.abs();
                t * t
            }
            Act::Exponential => y,
            Act::HardSilu => {
                if x <= -3.0 {
                    0.0
                } else if x >= 3.0 {
                    1.0
                } else {
                    (2.0 * x + 3.0) / 6.0
                }
            }
            Act::Mish => {
                let sp = x.max(0.0) + (-x.abs()).exp().ln_1p();
                let t = sp.tanh();
                t + x * (1.0 - t * t) * sigmoid(x)
            }
            Act::ReluWith {
                max_value,
                negative_slope,
                threshold,
            } => {
                let above = if threshold != 0.0 {
                    x > threshold
                } else {
                    x > 0.0
                };
                let pass = relu_with_pass(x, max_value, threshold);
                let clipped = max_value.is_finite() && !(pass > 0.0 && pass < max_value);
                let d = if above && !clipped { 1.0 } else { 0.0 };
                if x < threshold {
                    d + negative_slope
                } else {
                    d
                }
            }
        }
    }
}

/// The part of Keras's `ReLU` that passes: `x` above the threshold (with a threshold of 0,
/// `max(x, 0)`), clipped to `[0, max_value]` when `max_value` is finite.
#[inline]
fn relu_with_pass(x: f32, max_value: f32, threshold: f32) -> f32 {
    let v = if threshold != 0.0 {
        if x > threshold {
            x
        } else {
            0.0
        }
    } else {
        x.max(0.0)
    };
    if max_value.is_finite() {
        v.clamp(0.0, max_value)
    } else {
        v
    }
}

/// `exp(x)` within 2 ulp for `x` in `[-87, 88]` (clamped outside: 1.6e-38 below, 1.7e38
/// above), branch-free so that loops over slices vectorize: Cephes's `expf` (the argument
/// reduced by `n ln 2`, a degree-6 polynomial, `2^n` built in the exponent bits).
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    // 1.5 * 2^23: adding it rounds `x log2(e)` (|.| < 128) to the nearest integer, ties to
    // even, and leaves that integer in the low mantissa bits. Read back as bits, not by a
    // float-to-int cast: Rust's saturating cast does not vectorize (one lane at a time).
    const SHIFTER: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + SHIFTER;
    let n = t - SHIFTER;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    // The bits of `t` are those of SHIFTER plus `n`: `n + 127` is the exponent field of 2^n
    // (a NaN input gives some bits here, and `e` is NaN anyway).
    e * f32::from_bits(t.to_bits().wrapping_sub(SHIFTER.to_bits() - 127) << 23)
}

/// Logistic sigmoid, stable for large `|x|` (branch-free, through [`exp_approx`]).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_approx(-x))
}

/// Error function (Numerical Recipes' erfc Chebyshev fit; relative error below 1.2e-7).
#[inline]
pub fn erf(x: f32) -> f32 {
    const C: [f64; 10] = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    let x = x as f64;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    // Horner evaluation of the polynomial in t, highest degree first.
    let poly = C.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    let y = 1.0 - t * (-x * x + poly).exp();
    (if x >= 0.0 { y } else { -y }) as f32
}

/// Applies `act` in place on `data`, viewed as rows of `cols` (the softmax axis).
pub fn forward_inplace(act: Act, data: &mut [f32], cols: usize) {
    match act {
        Act::Linear => {}
        Act::Softmax => softmax::softmax_rows_inplace(data, cols),
        _ => for_each_chunk_mut(data, ELEMWISE_CHUNK, |_, c| apply_slice(act, c)),
    }
}

/// `y = act(x)` (element-wise activations and softmax), in one parallel pass where the
/// activation allows it.
pub fn forward_into(act: Act, x: &[f32], y: &mut [f32], cols: usize) {
    match act {
        Act::Linear => crate::elementwise::copy(x, y),
        Act::Softmax => {
            crate::elementwise::copy(x, y);
            softmax::softmax_rows_inplace(y, cols)
        }
        _ => for_each_chunk_mut(y, ELEMWISE_CHUNK, |i, c| {
            c.copy_from_slice(&x[i * ELEMWISE_CHUNK..][..c.len()]);
            apply_slice(act, c)
        }),
    }
}

/// Multiplies the output gradient `dy` in place by the activation's derivative, turning it
/// into the gradient of the pre-activation. `y` is the activation output; `x` the input,
/// needed only when [`Act::backward_needs_input`].
pub fn backward_inplace(act: Act, x: Option<&[f32]>, y: &[f32], dy: &mut [f32], cols: usize) {
    debug_assert_eq!(y.len(), dy.len());
    match act {
        Act::Linear => {}
        Act::Softmax => softmax::softmax_rows_backward_inplace(y, dy, cols),
        _ => for_each_chunk_mut(dy, ELEMWISE_CHUNK, |i, c| {
            let off = i * ELEMWISE_CHUNK;
            let xs = x.map(|x| &x[off..][..c.len()]);
            backward_chunk(act, xs, &y[off..][..c.len()], c);
        }),
    }
}

/// `dx = dy * act'`: [`backward_inplace`] written to another buffer in the same pass (each
/// chunk of `dy` copied while in cache), bit for bit its result; `dy` is left as it is.
///
/// ```
/// use rkeras_kernels::{activation::backward_into, Act};
/// let (y, dy) = ([0.0f32, 2.0, 6.0], [1.0f32, 1.0, 1.0]);
/// let mut dx = [9.0f32; 3];
/// backward_into(Act::Relu6, None, &y, &dy, &mut dx, 3);
/// assert_eq!(dx, [0.0, 1.0, 0.0]);
/// ```
pub fn backward_into(
    act: Act,
    x: Option<&[f32]>,
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    cols: usize,
) {
    debug_assert_eq!(dy.len(), dx.len());
    match act {
        Act::Linear => crate::elementwise::copy(dy, dx),
        Act::Softmax => {
            crate::elementwise::copy(dy, dx);
            softmax::softmax_rows_backward_inplace(y, dx, cols)
        }
        _ => for_each_chunk_mut(dx, ELEMWISE_CHUNK, |i, c| {
            let off = i * ELEMWISE_CHUNK;
            c.copy_from_slice(&dy[off..][..c.len()]);
            let xs = x.map(|x| &x[off..][..c.len()]);
            backward_chunk(act, xs, &y[off..][..c.len()], c);
        }),
    }
}

/// `dx += dy * act'`: [`backward_into`] added to what `dx` holds, in one pass (a merge's
/// input that other layers read too: its gradient joins theirs), bit for bit `dx` plus
/// [`backward_into`]'s result; `dy` is left as it is. For an element-wise activation whose
/// derivative needs only its output `y` (not [`Act::Softmax`]).
///
/// ```
/// use rkeras_kernels::{activation::backward_add_into, Act};
/// let (y, dy) = ([0.0f32, 2.0, 6.0], [1.0f32, 1.0, 1.0]);
/// let mut dx = [0.5f32; 3];
/// backward_add_into(Act::Relu, &y, &dy, &mut dx);
/// assert_eq!(dx, [0.5, 1.5, 1.5]);
/// ```
pub fn backward_add_into(act: Act, y: &[f32], dy: &[f32], dx: &mut [f32]) {
    debug_assert_eq!(dy.len(), dx.len());
    debug_assert!(!act.backward_needs_input() && act != Act::Softmax);
    /// Floats of the derivative taken at a time (on the stack, in L1).
    const PIECE: usize = 1024;
    for_each_chunk_mut(dx, ELEMWISE_CHUNK, |i, c| {
        let off = i * ELEMWISE_CHUNK;
        let mut g = [0.0f32; PIECE];
        for (j, d) in c.chunks_mut(PIECE).enumerate() {
            let at = off + j * PIECE;
            let g = &mut g[..d.len()];
            g.copy_from_slice(&dy[at..at + d.len()]);
            backward_chunk(act, None, &y[at..at + d.len()], g);
            add_slice(g, d);
        }
    });
}

crate::simd_fn! {
    /// `d += g`, element by element, on the calling thread.
    fn add_slice(g: &[f32], d: &mut [f32]) {
        for (d, g) in d.iter_mut().zip(g) {
            *d += g;
        }
    }
}

/// One chunk of [`backward_inplace`] (an element-wise activation): `g *= act'(x, y)`.
pub(crate) fn backward_chunk(act: Act, x: Option<&[f32]>, y: &[f32], g: &mut [f32]) {
    match (act, x) {
        (Act::Relu, _) => relu_mask(y, g),
        (Act::Relu6, _) => relu6_mask(y, g),
        (Act::Sigmoid, _) => sigmoid_grad(y, g),
        (Act::Swish, Some(x)) => swish_grad(x, g),
        _ => {
            let need_x = act.backward_needs_input();
            for (j, gv) in g.iter_mut().enumerate() {
                let xv = if need_x { x.map_or(0.0, |x| x[j]) } else { 0.0 };
                *gv *= act.derivative(xv, y[j]);
            }
        }
    }
}

crate::simd_fn! {
    /// `v = act(v)` over a slice (element-wise activations only), on the calling thread.
    ///
    /// ```
    /// use rkeras_kernels::{activation::apply_slice, Act};
    /// let mut v = [-1.0f32, 2.0, 7.0];
    /// apply_slice(Act::Relu6, &mut v);
    /// assert_eq!(v, [0.0, 2.0, 6.0]);
    /// ```
    pub fn apply_slice(act: Act, c: &mut [f32]) {
        if act == Act::Relu {
            for v in c.iter_mut() {
                *v = v.max(0.0);
            }
        } else if act == Act::Relu6 {
            for v in c.iter_mut() {
                *v = v.clamp(0.0, 6.0);
            }
        } else if act == Act::Sigmoid {
            for v in c.iter_mut() {
                *v = sigmoid(*v);
            }
        } else if act == Act::Swish {
            for v in c.iter_mut() {
                *v *= sigmoid(*v);
            }
        } else {
            for v in c.iter_mut() {
                *v = act.apply(*v);
            }
        }
    }
}

crate::simd_fn! {
    /// Zeroes the gradient where the ReLU output is not positive.
    fn relu_mask(y: &[f32], g: &mut [f32]) {
        for (gv, &o) in g.iter_mut().zip(y) {
            *gv = if o > 0.0 { *gv } else { 0.0 };
        }
    }

}

crate::simd_fn! {
    /// Multiplies the gradient by the sigmoid's derivative `y (1 - y)`.
    fn sigmoid_grad(y: &[f32], g: &mut [f32]) {
        for (gv, &o) in g.iter_mut().zip(y) {
            *gv *= o * (1.0 - o);
        }
    }
}

crate::simd_fn! {
    /// Multiplies the gradient by swish's derivative `s + x s (1 - s)`, `s = sigmoid(x)`.
    fn swish_grad(x: &[f32], g: &mut [f32]) {
        for (gv, &v) in g.iter_mut().zip(x) {
            let s = sigmoid(v);
            *gv *= s + v * s * (1.0 - s);
        }
    }
}

crate::simd_fn! {
    /// Keeps the gradient where the relu6 output is strictly between 0 and 6.
    fn relu6_mask(y: &[f32], g: &mut [f32]) {
        for (gv, &o) in g.iter_mut().zip(y) {
            *gv = if o > 0.0 && o < 6.0 { *gv } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Act; 20] = [
        Act::Linear,
        Act::Relu,
        Act::Relu6,
        Act::Sigmoid,
        Act::HardSigmoid,
        Act::Tanh,
        Act::Elu(1.0),
        Act::Selu,
        Act::LeakyRelu(0.2),
        Act::Gelu(false),
        Act::Gelu(true),
        Act::Swish,
        Act::Softplus,
        Act::Softsign,
        Act::Exponential,
        Act::HardSilu,
        Act::Mish,
        Act::ReluWith {
            max_value: 6.0,
            negative_slope: 0.1,
            threshold: 0.5,
        },
        Act::ReluWith {
            max_value: f32::INFINITY,
            negative_slope: 0.2,
            threshold: -0.5,
        },
        Act::ReluWith {
            max_value: 1.5,
            negative_slope: 0.0,
            threshold: 0.0,
        },
    ];

    #[test]
    fn derivative_matches_finite_difference() {
        for act in ALL {
            for &x in &[-2.3f32, -0.7, -0.1, 0.15, 0.9, 2.6, 4.0] {
                let h = 1e-3f64;
                let f = |v: f64| act.apply(v as f32) as f64;
                let fd = (f(x as f64 + h) - f(x as f64 - h)) / (2.0 * h);
                let d = act.derivative(x, act.apply(x)) as f64;
                assert!(
                    (fd - d).abs() <= 1e-2 * fd.abs().max(1.0),
                    "{act:?} at {x}: analytic {d}, numeric {fd}"
                );
            }
        }
    }

    /// The exponent read from the shifter's bits is the rounded-then-cast one: bit for bit
    /// the plain formula over the whole clamped range, and NaN stays NaN.
    #[test]
    fn exp_approx_shifter_is_the_cast_formula() {
        fn plain(x: f32) -> f32 {
            let x = x.clamp(-87.0, 88.0);
            let n = (x * std::f32::consts::LOG2_E).round_ties_even();
            let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
            let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r
                + 4.166_579_6e-2)
                * r
                + 1.666_666_5e-1)
                * r
                + 0.5;
            let e = p * r * r + r + 1.0;
            e * f32::from_bits(((n as i32 + 127) as u32) << 23)
        }
        let mut x = -90.0f32;
        while x < 90.0 {
            assert_eq!(exp_approx(x).to_bits(), plain(x).to_bits(), "at {x}");
            x = if x.abs() < 1e-3 {
                x + 1e-5
            } else {
                x + x.abs() * 3e-4
            };
        }
        // Exact halves of log2 steps (ties) and the clamp's ends.
        for k in -126..=127 {
            let x = (k as f32 + 0.5) / std::f32::consts::LOG2_E;
            assert_eq!(exp_approx(x).to_bits(), plain(x).to_bits(), "at {x}");
        }
        for x in [
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            0.0,
            -0.0,
        ] {
            assert_eq!(exp_approx(x).to_bits(), plain(x).to_bits(), "at {x}");
        }
        assert!(exp_approx(f32::NAN).is_nan());
    }

    /// The vectorizable exp is within 2 ulp of the exact one over the range that matters,
    /// and the slice paths of sigmoid and swish (forward and gradient) are the scalar ones.
    #[test]
    fn exp_approx_is_accurate_and_slices_match_scalars() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            worst = worst.max(((exp_approx(x) as f64) - want).abs() / want);
            x += 0.0137;
        }
        assert!(worst < 2.5e-7, "relative error {worst}");
        assert_eq!(exp_approx(0.0), 1.0);
        assert!(sigmoid(-200.0) >= 0.0 && sigmoid(-200.0) < 1e-30 && sigmoid(200.0) == 1.0);
        let xs: Vec<f32> = (0..257).map(|i| (i as f32 - 128.0) * 0.11).collect();
        for act in [Act::Sigmoid, Act::Swish] {
            let mut v = xs.clone();
            forward_inplace(act, &mut v, 1);
            let y: Vec<f32> = xs.iter().map(|&x| act.apply(x)).collect();
            assert_eq!(v, y, "{act:?} forward");
            let mut g = vec![1.5f32; xs.len()];
            backward_inplace(act, Some(&xs), &y, &mut g, 1);
            for ((gv, &x), &yv) in g.iter().zip(&xs).zip(&y) {
                let d = 1.5 * act.derivative(x, yv);
                assert!(
                    (gv - d).abs() <= 1e-6 * d.abs().max(1.0),
                    "{act:?} gradient at {x}"
                );
            }
        }
    }

    #[test]
    fn erf_is_accurate() {
        for &(x, want) in &[
            (0.0f32, 0.0f32),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (-2.0, -0.995_322_3),
        ] {
            assert!((erf(x) - want).abs() < 1e-6, "erf({x})");
        }
    }

    #[test]
    fn selu_and_elu_match_keras_values() {
        assert!((Act::Selu.apply(1.0) - 1.050_701).abs() < 1e-6);
        assert!((Act::Selu.apply(-1.0) - (-1.111_330_7)).abs() < 1e-5);
        assert!((Act::Elu(1.0).apply(-1.0) - (-0.632_120_6)).abs() < 1e-6);
        assert!((Act::HardSigmoid.apply(0.0) - 0.5).abs() < 1e-7);
    }

    #[test]
    fn inplace_relu_backward_masks() {
        let y = [0.0f32, 1.0, 0.0, 2.0];
        let mut dy = [1.0f32; 4];
        backward_inplace(Act::Relu, None, &y, &mut dy, 4);
        assert_eq!(dy, [0.0, 1.0, 0.0, 1.0]);
    }

    /// `n` inputs spread over -4..4 and `n` output gradients over -1..1.
    fn inputs_and_grads(n: usize) -> (Vec<f32>, Vec<f32>) {
        let x = (0..n)
            .map(|i| ((i * 7919 % 1000) as f32 / 125.0) - 4.0)
            .collect();
        let dy = (0..n)
            .map(|i| ((i * 31 % 97) as f32 / 48.0) - 1.0)
            .collect();
        (x, dy)
    }

    /// `backward_into` is `backward_inplace` then a copy, bit for bit, for every activation
    /// and softmax, over several chunks (the parallel split) and a ragged tail.
    #[test]
    fn backward_into_is_inplace_then_copy() {
        let n = 3 * ELEMWISE_CHUNK + 37;
        let cols = 7 * 11;
        let n = n - n % cols;
        let (x, dy) = inputs_and_grads(n);
        for act in ALL.into_iter().chain([Act::Softmax]) {
            let mut y = vec![0.0; n];
            forward_into(act, &x, &mut y, cols);
            let need_x = act.backward_needs_input().then_some(&x[..]);
            let mut want = dy.clone();
            backward_inplace(act, need_x, &y, &mut want, cols);
            let mut got = vec![f32::NAN; n];
            backward_into(act, need_x, &y, &dy, &mut got, cols);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{act:?}");
        }
    }

    /// `backward_add_into` is `backward_inplace` then an addition, bit for bit, for every
    /// activation whose derivative needs only its output, over several chunks and a tail
    /// that is not a whole piece.
    #[test]
    fn backward_add_into_is_inplace_then_add() {
        let n = 3 * ELEMWISE_CHUNK + 1037;
        let (x, dy) = inputs_and_grads(n);
        let old: Vec<f32> = (0..n).map(|i| ((i * 13 % 29) as f32 / 7.0) - 2.0).collect();
        let mut tried = 0;
        for act in ALL.into_iter().filter(|a| !a.backward_needs_input()) {
            let mut y = vec![0.0; n];
            forward_into(act, &x, &mut y, n);
            let mut g = dy.clone();
            backward_inplace(act, None, &y, &mut g, n);
            let want: Vec<f32> = old.iter().zip(&g).map(|(o, g)| o + g).collect();
            let mut got = old.clone();
            backward_add_into(act, &y, &dy, &mut got);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{act:?}");
            tried += 1;
        }
        assert!(tried >= 3, "ReLU, relu6, sigmoid, ...: {tried}");
    }
}
