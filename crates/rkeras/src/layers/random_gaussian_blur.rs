//! `RandomGaussianBlur`: blurs training images with a random Gaussian kernel.

use super::random_image::{
    delegate_to_core, f32_pair, number, parse_factor, seed_builder, FactorArg, RandomCore,
};
use super::registry::seeded;
use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode};
use crate::error::{Error, Result};
use crate::preprocessing::{RandomOp, MAX_BLUR_KERNEL};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Random Gaussian blur (Keras `RandomGaussianBlur`): with probability `p = U(factor)` per
/// image (a number `f` means `(0, f)`, so the default `1.0` blurs about half the images;
/// `(1.0, 1.0)` blurs all), each channel is convolved with Keras's separable Gaussian of
/// `kernel_size` taps (odd, default 3) and standard deviations `U(sigma) + 1e-6` along x
/// and y, zero-padded to the same size; as in Keras the two deviations are drawn once per
/// batch, and every training image is then clipped to `value_range` (default `(0, 255)`).
/// A number `sigma` means `(0, sigma)` (default 1). The identity in inference.
///
/// ```
/// use rkeras::prelude::*;
/// let layer = RandomGaussianBlur::new(0.5).kernel_size(5).sigma((0.5, 1.5));
/// let m = Sequential::new([layer.input_shape((32, 32, 3)).into()])?;
/// assert_eq!(m.output_shape(), Some(&[32, 32, 3][..]));
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct RandomGaussianBlur {
    base: LayerBase,
    factor: FactorArg,
    kernel_size: (usize, usize),
    sigma: FactorArg,
    value_range: (f64, f64),
    core: RandomCore,
}

impl RandomGaussianBlur {
    /// Probability range: `f` for `(0, f)` or `(lower, upper)`, in [0, 1].
    pub fn new(factor: impl Into<FactorArg>) -> Self {
        RandomGaussianBlur {
            base: LayerBase::default(),
            factor: factor.into(),
            kernel_size: (3, 3),
            sigma: FactorArg::Scalar(1.0),
            value_range: (0.0, 255.0),
            core: RandomCore::new(),
        }
    }
    /// Kernel taps, odd: one number for both axes, or `(x, y)`.
    pub fn kernel_size(mut self, k: impl Into<KernelSize>) -> Self {
        self.kernel_size = k.into().0;
        self
    }
    /// Standard deviation range: `s` for `(0, s)` (in [0, 1]) or `(lower, upper)`.
    pub fn sigma(mut self, sigma: impl Into<FactorArg>) -> Self {
        self.sigma = sigma.into();
        self
    }
    /// Range the output is clipped to (default `(0, 255)`).
    pub fn value_range(mut self, range: (f64, f64)) -> Self {
        self.value_range = range;
        self
    }
    fn parsed(&self, name: &str) -> Result<((f64, f64), (f64, f64))> {
        Ok((
            parse_factor(self.factor, (0.0, 1.0), true, "factor", name)?,
            parse_factor(self.sigma, (0.0, 1.0), true, "sigma", name)?,
        ))
    }
}
impl Default for RandomGaussianBlur {
    /// Keras's defaults: `factor=1.0`, `kernel_size=3`, `sigma=1.0`.
    fn default() -> Self {
        RandomGaussianBlur::new(1.0)
    }
}
common_builders!(RandomGaussianBlur);
seed_builder!(RandomGaussianBlur);

/// A kernel size: one number for both axes or `(x, y)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSize(pub (usize, usize));
impl From<usize> for KernelSize {
    fn from(k: usize) -> Self {
        KernelSize((k, k))
    }
}
impl From<(usize, usize)> for KernelSize {
    fn from(k: (usize, usize)) -> Self {
        KernelSize(k)
    }
}

/// Keras writes a parsed `(0, f)` with an integer zero.
fn zero_low_json(r: Result<(f64, f64)>, given: FactorArg) -> Value {
    match r {
        Ok((0.0, hi)) => json!([0, hi]),
        Ok((lo, hi)) => json!([lo, hi]),
        Err(_) => given.json(),
    }
}

impl Layer for RandomGaussianBlur {
    fn class_name(&self) -> &'static str {
        "RandomGaussianBlur"
    }
    delegate_to_core!();
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let (factor, sigma) = self.parsed(&name)?;
        let (kx, ky) = self.kernel_size;
        if kx % 2 == 0 || ky % 2 == 0 || kx > MAX_BLUR_KERNEL || ky > MAX_BLUR_KERNEL {
            return Err(Error::arg(
                "kernel_size",
                &name,
                format!("kernel_size must be an odd number up to {MAX_BLUR_KERNEL}. Received: kernel_size=({kx}, {ky})"),
            ));
        }
        let op = RandomOp::GaussianBlur {
            factor: f32_pair(factor),
            kernel: (kx, ky),
            sigma: f32_pair(sigma),
            value_range: f32_pair(self.value_range),
        };
        self.core.build(op, input_shape, rng, &name)
    }
    fn config(&self) -> Map<String, Value> {
        super::object(json!({
            "data_format": "channels_last",
            "factor": zero_low_json(parse_factor(self.factor, (0.0, 1.0), true, "factor", ""), self.factor),
            "kernel_size": [self.kernel_size.0, self.kernel_size.1],
            "sigma": zero_low_json(parse_factor(self.sigma, (0.0, 1.0), true, "sigma", ""), self.sigma),
            "value_range": [number(self.value_range.0), number(self.value_range.1)],
            "seed": self.core.seed,
        }))
    }
}

impl FromConfig for RandomGaussianBlur {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let factor = match g.c.get("factor") {
            None | Some(Value::Null) => FactorArg::Scalar(1.0),
            Some(_) => g.factor("factor")?,
        };
        let mut l = RandomGaussianBlur::new(factor)
            .kernel_size(g.pair_or("kernel_size", (3, 3))?)
            .value_range(g.range_or("value_range", (0.0, 255.0))?);
        if !matches!(g.c.get("sigma"), None | Some(Value::Null)) {
            l = l.sigma(g.factor("sigma")?);
        }
        l = seeded!(l, g);
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::{check_layer, SameDraws};
    use crate::layers::{full_config, registry};
    use crate::preprocessing::gaussian_kernel;

    fn run(l: RandomGaussianBlur, x: &[f32], dims: [usize; 3], n: usize) -> Vec<f32> {
        let mut l = l.name("b");
        l.build(&dims, &mut Rng::new(0)).expect("build");
        l.allocate(n);
        let mut y = vec![0.0; x.len()];
        l.forward(x, &mut y, n, Mode::Train);
        y
    }

    #[test]
    fn config_matches_keras_and_reads_back() {
        // keras.layers.RandomGaussianBlur().get_config()
        let c = RandomGaussianBlur::default().name("b").config();
        assert_eq!(c["factor"], json!([0, 1.0]));
        assert_eq!(c["kernel_size"], json!([3, 3]));
        assert_eq!(c["sigma"], json!([0, 1.0]));
        assert_eq!(c["value_range"], json!([0, 255]));
        assert_eq!(c["seed"], Value::Null);
        assert_eq!(c["data_format"], "channels_last");
        // RandomGaussianBlur(0.5, kernel_size=5, sigma=(0.2, 2.0), value_range=(0, 1), seed=4)
        let l = RandomGaussianBlur::new(0.5)
            .kernel_size(5)
            .sigma((0.2, 2.0))
            .value_range((0.0, 1.0))
            .seed(4)
            .name("c");
        let c = l.config();
        assert_eq!(c["factor"], json!([0, 0.5]));
        assert_eq!(c["kernel_size"], json!([5, 5]));
        assert_eq!(c["sigma"], json!([0.2, 2.0]));
        assert_eq!(c["value_range"], json!([0, 1]));
        assert_eq!(c["seed"], json!(4));
        for layer in [l.into(), RandomGaussianBlur::default().name("d").into()] {
            let layer: Box<dyn Layer> = layer;
            let entry =
                json!({"class_name": "RandomGaussianBlur", "config": full_config(layer.as_ref())});
            let back = registry::from_config(&entry).expect("read");
            assert_eq!(back.config(), layer.config());
        }
    }

    #[test]
    fn blur_matches_keras_gaussian_blur() {
        // keras.ops.image.gaussian_blur(arange(20).reshape(4, 5, 1), kernel_size=(3, 5),
        // sigma=(0.7, 1.3), data_format="channels_last") (the layer passes its data format;
        // without it the JAX op reads a 3-D image as channels-first): x has 3 taps of
        // sigma 0.7, y 5 taps of sigma 1.3, zero padding.
        let keras: [f32; 20] = [
            1.86781, 2.84876, 3.51004, 4.17131, 3.68188, 4.53192, 6.39510, 7.29632, 8.19755,
            7.00423, 6.53250, 8.92572, 9.82695, 10.72817, 9.00481, 6.25076, 8.39296, 9.05423,
            9.71551, 8.06483,
        ];
        let x: Vec<f32> = (0..20).map(|v| v as f32).collect();
        // sigma = U(s, s) + 1e-6 is s + 1e-6; kernels of 3 (x) and 5 (y) taps.
        let l = RandomGaussianBlur::new((1.0, 1.0)).kernel_size((3, 5));
        let (kx, ky) = (gaussian_kernel(3, 0.7), gaussian_kernel(5, 1.3));
        let mut want = [0.0f32; 20];
        for r in 0..4i32 {
            for c in 0..5i32 {
                for (a, wy) in ky[..5].iter().enumerate() {
                    for (b, wx) in kx[..3].iter().enumerate() {
                        let (sr, sc) = (r + a as i32 - 2, c + b as i32 - 1);
                        if (0..4).contains(&sr) && (0..5).contains(&sc) {
                            want[(r * 5 + c) as usize] += wy * wx * x[(sr * 5 + sc) as usize];
                        }
                    }
                }
            }
        }
        for (a, b) in want.iter().zip(keras) {
            assert!((a - b).abs() < 1e-4, "{want:?}");
        }
        // Through the layer, with the sigmas fixed by degenerate ranges per axis (sigma
        // draws x then y from one range, so use equal sigmas here).
        let y = run(l.sigma((0.7, 0.7)), &x, [4, 5, 1], 1);
        let (kx, ky) = (
            gaussian_kernel(3, 0.7 + 1e-6),
            gaussian_kernel(5, 0.7 + 1e-6),
        );
        // Output (2, 2) reads rows 0..4 (row 4 is padding) and columns 1..=3.
        let centre = (0..4)
            .flat_map(|a| (0..3).map(move |b| (a, b)))
            .map(|(a, b)| ky[a] * kx[b] * x[a * 5 + b + 1])
            .sum::<f32>();
        assert!(
            (y[2 * 5 + 2] - centre).abs() < 1e-4,
            "{} vs {centre}",
            y[12]
        );
    }

    #[test]
    fn constant_stays_inside_and_an_impulse_spreads_as_a_normalized_gaussian() {
        let (h, w) = (7, 7);
        let flat = vec![10.0f32; h * w];
        let y = run(
            RandomGaussianBlur::new((1.0, 1.0)).sigma((0.8, 0.8)),
            &flat,
            [h, w, 1],
            1,
        );
        for r in 1..h - 1 {
            for c in 1..w - 1 {
                assert!((y[r * w + c] - 10.0).abs() < 1e-4);
            }
        }
        // Zero padding, as Keras's "SAME" convolution: the corners lose weight.
        assert!(y[0] < 10.0);
        let mut imp = vec![0.0f32; h * w];
        imp[3 * w + 3] = 100.0;
        let y = run(
            RandomGaussianBlur::new((1.0, 1.0))
                .kernel_size(5)
                .sigma((0.8, 0.8)),
            &imp,
            [h, w, 1],
            1,
        );
        let total: f32 = y.iter().sum();
        assert!((total - 100.0).abs() < 1e-3, "{total}");
        let s = 0.8 + 1e-6f32;
        let z: f32 = (-2..=2)
            .map(|d| (-0.5 * (d as f32 / s).powi(2)).exp())
            .sum();
        for dr in -2i32..=2 {
            for dc in -2i32..=2 {
                let g = (-0.5 * ((dr * dr + dc * dc) as f32) / (s * s)).exp() / (z * z);
                let v = y[((3 + dr) * w as i32 + 3 + dc) as usize];
                assert!((v - 100.0 * g).abs() < 1e-3, "{dr} {dc}: {v}");
            }
        }
    }

    #[test]
    fn sigmas_are_drawn_once_per_batch_and_clipping_applies_to_all() {
        let x: Vec<f32> = (0..6 * 25).map(|v| ((v % 25) * 13 % 25) as f32).collect();
        let y = run(
            RandomGaussianBlur::new((1.0, 1.0))
                .sigma((0.3, 1.0))
                .seed(2),
            &x,
            [5, 5, 1],
            6,
        );
        for img in y.chunks(25) {
            assert_eq!(img, &y[..25]);
        }
        let y = run(
            RandomGaussianBlur::new((0.0, 0.0)).value_range((2.0, 20.0)),
            &x,
            [5, 5, 1],
            6,
        );
        let clipped: Vec<f32> = x.iter().map(|v| v.clamp(2.0, 20.0)).collect();
        assert_eq!(y, clipped);
    }

    #[test]
    fn gradient_of_a_blur_draw() {
        let l = RandomGaussianBlur::new((1.0, 1.0))
            .kernel_size((3, 5))
            .sigma((0.3, 1.5))
            .value_range((-10.0, 10.0))
            .seed(3);
        check_layer(Box::new(SameDraws(l)), &[5, 6, 2]);
        // Clipped outputs pass no gradient.
        let l = RandomGaussianBlur::new((1.0, 1.0))
            .sigma((0.5, 0.5))
            .value_range((-0.25, 0.25));
        check_layer(Box::new(SameDraws(l)), &[5, 6, 2]);
    }

    #[test]
    fn inference_is_the_identity() {
        let x: Vec<f32> = (0..48).map(|v| v as f32 * 0.5).collect();
        let mut l = RandomGaussianBlur::new((1.0, 1.0)).name("b");
        l.build(&[3, 4, 4], &mut Rng::new(0)).expect("build");
        l.allocate(1);
        let mut y = vec![0.0; 48];
        l.forward(&x, &mut y, 1, Mode::Infer);
        assert_eq!(x, y);
    }

    #[test]
    fn bad_arguments_are_rejected() {
        for l in [
            RandomGaussianBlur::new(1.5),
            RandomGaussianBlur::new(0.5).kernel_size(4),
            RandomGaussianBlur::new(0.5).kernel_size((3, 2)),
            RandomGaussianBlur::new(0.5).sigma(1.5),
            RandomGaussianBlur::new(0.5).sigma((2.0, 3.0)),
        ] {
            let mut l = l.name("b");
            assert!(l.build(&[4, 4, 1], &mut Rng::new(0)).is_err());
        }
    }
}
