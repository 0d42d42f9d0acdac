//! MixUp and CutMix, Keras 3's formulation: each image of a batch is mixed with another
//! image of the same batch (a random permutation), by a weight drawn from
//! `Beta(alpha, alpha)` (MixUp: a blend; CutMix: a pasted box whose share of the area sets
//! the weight), and the labels are mixed by the same weights.

use crate::rng::Rng;

/// A `Gamma(shape, 1)` draw (Marsaglia and Tsang; shapes below 1 boosted by `U^(1/shape)`).
pub(crate) fn gamma(rng: &mut Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = f64::from(rng.uniform()).max(f64::MIN_POSITIVE);
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = f64::from(rng.normal());
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = f64::from(rng.uniform()).max(f64::MIN_POSITIVE);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A `Beta(a, a)` draw.
pub(crate) fn beta(rng: &mut Rng, a: f64) -> f32 {
    let x = gamma(rng, a);
    let y = gamma(rng, a);
    if x + y == 0.0 {
        0.5
    } else {
        (x / (x + y)) as f32
    }
}

/// How a batch is mixed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mix {
    /// Keras's `MixUp(alpha)`: `w x + (1 - w) x[perm]`, `w ~ Beta(alpha, alpha)`.
    MixUp {
        /// Keras's `alpha` (default 0.2).
        alpha: f32,
    },
    /// Keras's `CutMix(factor)`: a box of the permuted image pasted in, `alpha = U(factor)`
    /// per batch, the box's side ratio `sqrt(1 - Beta(alpha, alpha))`.
    CutMix {
        /// Keras's `factor` bounds (default `(0, 1)`).
        factor: (f32, f32),
    },
}

/// One batch's draws: the permutation, the weight of each sample's own image and label, and
/// CutMix's boxes (`x0, x1, y0, y1` in pixels, fractional).
#[derive(Clone, Debug, Default)]
pub(crate) struct MixDraw {
    pub perm: Vec<usize>,
    pub weight: Vec<f32>,
    pub boxes: Vec<[f32; 4]>,
}

impl MixDraw {
    /// Room for batches of `max` samples (no allocation per batch afterwards).
    pub fn with_capacity(max: usize) -> Self {
        MixDraw {
            perm: Vec::with_capacity(max),
            weight: Vec::with_capacity(max),
            boxes: Vec::with_capacity(max),
        }
    }

    /// Draws for a batch of `n` images of `h x w` pixels.
    pub fn draw(&mut self, mix: Mix, rng: &mut Rng, n: usize, h: usize, w: usize) {
        self.perm.clear();
        self.perm.extend(0..n);
        rng.shuffle(&mut self.perm);
        self.weight.clear();
        self.boxes.clear();
        match mix {
            Mix::MixUp { alpha } => {
                for _ in 0..n {
                    self.weight.push(beta(rng, f64::from(alpha)));
                }
            }
            Mix::CutMix { factor } => {
                let a = if factor.0 == factor.1 {
                    factor.0
                } else {
                    rng.uniform_range(factor.0, factor.1)
                } + 1e-6;
                let (hf, wf) = (h as f32, w as f32);
                for _ in 0..n {
                    let ratio = (1.0 - beta(rng, f64::from(a))).max(0.0).sqrt();
                    let (cw, ch) = (ratio * wf, ratio * hf);
                    let x0 = rng.uniform() * (wf - cw);
                    let y0 = rng.uniform() * (hf - ch);
                    let b = [x0, x0 + cw, y0, y0 + ch];
                    self.weight
                        .push(1.0 - (b[1] - b[0]) * (b[3] - b[2]) / (wf * hf));
                    self.boxes.push(b);
                }
            }
        }
    }

    /// Whether pixel `(r, c)` of image `i` comes from the permuted image (CutMix).
    fn in_box(&self, i: usize, r: usize, c: usize) -> bool {
        let [x0, x1, y0, y1] = self.boxes[i];
        let (x, y) = (c as f32, r as f32);
        x >= x0 && x < x1 && y >= y0 && y < y1
    }

    /// Mixes `n` images of `[h, w, ch]` from `x` into `out`.
    pub fn mix_images(&self, mix: Mix, x: &[f32], out: &mut [f32], [h, w, ch]: [usize; 3]) {
        let len = h * w * ch;
        for (i, o) in out.chunks_exact_mut(len).enumerate().take(self.perm.len()) {
            let (a, b) = (
                &x[i * len..(i + 1) * len],
                &x[self.perm[i] * len..(self.perm[i] + 1) * len],
            );
            match mix {
                Mix::MixUp { .. } => {
                    let wt = self.weight[i];
                    for ((o, a), b) in o.iter_mut().zip(a).zip(b) {
                        *o = wt * a + (1.0 - wt) * b;
                    }
                }
                Mix::CutMix { .. } => {
                    for r in 0..h {
                        for c in 0..w {
                            let src = if self.in_box(i, r, c) { b } else { a };
                            let p = (r * w + c) * ch;
                            o[p..p + ch].copy_from_slice(&src[p..p + ch]);
                        }
                    }
                }
            }
        }
    }

    /// The gradient of [`mix_images`](Self::mix_images): `dx` from `dy`.
    pub fn mix_images_backward(
        &self,
        mix: Mix,
        dy: &[f32],
        dx: &mut [f32],
        [h, w, ch]: [usize; 3],
    ) {
        let len = h * w * ch;
        dx.fill(0.0);
        for i in 0..self.perm.len() {
            let j = self.perm[i];
            for r in 0..h {
                for c in 0..w {
                    for k in 0..ch {
                        let p = (r * w + c) * ch + k;
                        let g = dy[i * len + p];
                        let own = match mix {
                            Mix::MixUp { .. } => self.weight[i],
                            Mix::CutMix { .. } => {
                                if self.in_box(i, r, c) {
                                    0.0
                                } else {
                                    1.0
                                }
                            }
                        };
                        dx[i * len + p] += own * g;
                        dx[j * len + p] += (1.0 - own) * g;
                    }
                }
            }
        }
    }

    /// Mixes the label rows (`row` values each) in place by the samples' weights; `tmp`
    /// holds a copy (sized by the caller).
    pub fn mix_labels(&self, y: &mut [f32], row: usize, tmp: &mut [f32]) {
        let n = self.perm.len();
        tmp[..n * row].copy_from_slice(&y[..n * row]);
        for i in 0..n {
            let (wt, j) = (self.weight[i], self.perm[i]);
            for k in 0..row {
                y[i * row + k] = wt * tmp[i * row + k] + (1.0 - wt) * tmp[j * row + k];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_draws_have_the_right_mean_and_spread() {
        let mut rng = Rng::new(3);
        for a in [0.2, 1.0, 2.0] {
            let v: Vec<f64> = (0..20000).map(|_| f64::from(beta(&mut rng, a))).collect();
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
            // Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)).
            assert!((m - 0.5).abs() < 0.01, "{a}: mean {m}");
            let want = 1.0 / (4.0 * (2.0 * a + 1.0));
            assert!(
                (var - want).abs() < 0.1 * want,
                "{a}: variance {var} vs {want}"
            );
        }
    }

    #[test]
    fn cut_mix_weights_are_the_unpasted_share_and_labels_follow() {
        let mut d = MixDraw::with_capacity(4);
        let mut rng = Rng::new(1);
        d.draw(Mix::CutMix { factor: (1.0, 1.0) }, &mut rng, 4, 8, 8);
        let x: Vec<f32> = (0..4).flat_map(|i| vec![i as f32; 64]).collect();
        let mut out = vec![0.0; 256];
        d.mix_images(Mix::CutMix { factor: (1.0, 1.0) }, &x, &mut out, [8, 8, 1]);
        for i in 0..4 {
            let own = out[i * 64..(i + 1) * 64]
                .iter()
                .filter(|&&v| v == i as f32)
                .count();
            let share = own as f32 / 64.0;
            // Whole pixels against Keras's fractional box: within a row and a column.
            if d.perm[i] != i {
                assert!(
                    (share - d.weight[i]).abs() <= 2.0 / 8.0 + 1e-6,
                    "{share} vs {}",
                    d.weight[i]
                );
            }
        }
        let mut y = vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
        let mut tmp = vec![0.0; 8];
        d.mix_labels(&mut y, 2, &mut tmp);
        for r in y.chunks(2) {
            assert!((r[0] + r[1] - 1.0).abs() < 1e-6, "{r:?}");
        }
    }

    #[test]
    fn image_gradients_are_the_transposed_mix() {
        for mix in [
            Mix::MixUp { alpha: 0.5 },
            Mix::CutMix { factor: (1.0, 1.0) },
        ] {
            let mut d = MixDraw::with_capacity(3);
            d.draw(mix, &mut Rng::new(4), 3, 4, 4);
            let dims = [4, 4, 2];
            let len = 3 * 32;
            let x: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let g: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut dx = vec![0.0; len];
            d.mix_images_backward(mix, &g, &mut dx, dims);
            // Linear in x: <g, mix(x)> == <dx, x> for any x.
            let mut y = vec![0.0; len];
            d.mix_images(mix, &x, &mut y, dims);
            let lhs: f32 = g.iter().zip(&y).map(|(a, b)| a * b).sum();
            let rhs: f32 = dx.iter().zip(&x).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-4, "{mix:?}: {lhs} vs {rhs}");
        }
    }
}
