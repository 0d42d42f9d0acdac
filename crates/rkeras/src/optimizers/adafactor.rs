//! Adafactor: second moments kept as row and column factors for weights of two or more
//! dimensions, Keras's formulation.

use super::{base_config, wrap, Optimizer};
use serde_json::{json, Value};

/// Adafactor (Keras defaults: `learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30,
/// epsilon_2=1e-3, clip_threshold=1.0, relative_step=true`).
///
/// With `t = iterations + 1`, `rho = min(lr, 1/sqrt(t))`, `beta = 1 - t^beta_2_decay` and
/// `s = g^2 + epsilon_1`: a weight of two or more dimensions keeps the row means `r` and
/// column means `c` of `s` over its last two axes (`r = beta r + (1 - beta) mean_-1(s)`,
/// likewise `c` over axis -2) and `v = r / mean(r) * c`; any other weight keeps `v` itself.
/// Then `u = g / sqrt(v)`, clipped to an RMS of `clip_threshold`, and
/// `w -= max(epsilon_2, rms(w)) * rho * u`.
///
/// ```
/// use rkeras::optimizers::{Adafactor, Optimizer};
/// let opt = Adafactor::new().learning_rate(0.01).clip_threshold(0.5);
/// assert_eq!(opt.class_name(), "Adafactor");
/// assert_eq!(Optimizer::learning_rate(&opt), 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct Adafactor {
    lr: f32,
    beta_2_decay: f32,
    epsilon_1: f32,
    epsilon_2: f32,
    clip_threshold: f32,
    relative_step: bool,
    iterations: u64,
    /// Per weight: (outer, rows, cols) of its last two axes, or `None` for one dimension.
    dims: Vec<Option<(usize, usize, usize)>>,
    /// Per weight: `r` and `c` (empty for one dimension), then `v`.
    r: Vec<Vec<f32>>,
    c: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    built: bool,
    opts: super::Options,
}

super::options_builders!(Adafactor);
super::hyperparameter_builders!(Adafactor: beta_2_decay, epsilon_1, epsilon_2, clip_threshold);

impl Default for Adafactor {
    fn default() -> Self {
        Adafactor {
            lr: 0.001,
            beta_2_decay: -0.8,
            epsilon_1: 1e-30,
            epsilon_2: 1e-3,
            clip_threshold: 1.0,
            relative_step: true,
            iterations: 0,
            dims: Vec::new(),
            r: Vec::new(),
            c: Vec::new(),
            v: Vec::new(),
            built: false,
            opts: super::Options::default(),
        }
    }
}

impl Adafactor {
    /// Caps the learning rate at `1/sqrt(t)` (Keras's `relative_step`, on by default; a
    /// schedule is never capped).
    pub fn relative_step(mut self, on: bool) -> Self {
        self.relative_step = on;
        self
    }
}

fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    let s: f64 = x.iter().map(|v| f64::from(*v) * f64::from(*v)).sum();
    ((s / x.len() as f64) as f32).sqrt()
}

impl Optimizer for Adafactor {
    fn class_name(&self) -> &'static str {
        "Adafactor"
    }
    fn build(&mut self, sizes: &[usize]) {
        let shapes: Vec<Vec<usize>> = sizes.iter().map(|&n| vec![n]).collect();
        self.build_shapes(&shapes);
    }
    fn build_shapes(&mut self, shapes: &[Vec<usize>]) {
        self.dims = shapes
            .iter()
            .map(|s| match s.len() {
                0 | 1 => None,
                k => Some((s[..k - 2].iter().product(), s[k - 2], s[k - 1])),
            })
            .collect();
        self.r = self
            .dims
            .iter()
            .map(|d| d.map_or(Vec::new(), |(o, r, _)| vec![0.0; o * r]))
            .collect();
        self.c = self
            .dims
            .iter()
            .map(|d| d.map_or(Vec::new(), |(o, _, c)| vec![0.0; o * c]))
            .collect();
        self.v = shapes
            .iter()
            .map(|s| vec![0.0; s.iter().product()])
            .collect();
        self.built = true;
    }
    fn is_built(&self) -> bool {
        self.built
    }
    fn begin_step(&mut self) {
        self.iterations += 1;
    }
    fn update(&mut self, slot: usize, value: &mut [f32], grad: &[f32]) {
        let t = self.iterations as f32;
        let mut lr = self.lr;
        if self.relative_step && self.opts.schedule.is_none() {
            lr = lr.min(1.0 / t.sqrt());
        }
        let rho = lr.min(1.0 / t.sqrt());
        let alpha = self.epsilon_2.max(rms(value)) * rho;
        let beta = 1.0 - t.powf(self.beta_2_decay);
        let eps1 = self.epsilon_1;
        let v = &mut self.v[slot];
        match self.dims[slot] {
            Some((outer, rows, cols)) => {
                let (r, c) = (&mut self.r[slot], &mut self.c[slot]);
                for o in 0..outer {
                    let g = &grad[o * rows * cols..(o + 1) * rows * cols];
                    let ro = &mut r[o * rows..(o + 1) * rows];
                    for (i, ri) in ro.iter_mut().enumerate() {
                        let row = &g[i * cols..(i + 1) * cols];
                        let m = row.iter().map(|x| x * x + eps1).sum::<f32>() / cols as f32;
                        *ri = beta * *ri + (1.0 - beta) * m;
                    }
                    let co = &mut c[o * cols..(o + 1) * cols];
                    for (j, cj) in co.iter_mut().enumerate() {
                        let m = (0..rows)
                            .map(|i| g[i * cols + j] * g[i * cols + j] + eps1)
                            .sum::<f32>()
                            / rows as f32;
                        *cj = beta * *cj + (1.0 - beta) * m;
                    }
                    let mean_r = ro.iter().sum::<f32>() / rows as f32;
                    let vo = &mut v[o * rows * cols..(o + 1) * rows * cols];
                    for i in 0..rows {
                        let ri = ro[i] / mean_r;
                        for j in 0..cols {
                            vo[i * cols + j] = ri * co[j];
                        }
                    }
                }
            }
            None => {
                for (vi, g) in v.iter_mut().zip(grad) {
                    *vi = beta * *vi + (1.0 - beta) * (g * g + eps1);
                }
            }
        }
        // u = g / sqrt(v), scaled down to an RMS of clip_threshold.
        let s: f64 = grad
            .iter()
            .zip(v.iter())
            .map(|(g, vi)| {
                let u = f64::from(g / vi.sqrt());
                u * u
            })
            .sum();
        let rms_u = ((s / grad.len().max(1) as f64) as f32).sqrt();
        let scale = alpha / 1f32.max(rms_u / self.clip_threshold);
        for ((w, g), vi) in value.iter_mut().zip(grad).zip(v.iter()) {
            *w -= scale * (g / vi.sqrt());
        }
    }
    fn learning_rate(&self) -> f32 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn iterations(&self) -> u64 {
        self.iterations
    }
    fn set_iterations(&mut self, it: u64) {
        self.iterations = it;
    }
    fn variable_count(&self) -> usize {
        2 + self
            .r
            .iter()
            .chain(&self.c)
            .chain(&self.v)
            .map(Vec::len)
            .sum::<usize>()
    }
    fn config(&self) -> Value {
        let mut m = base_config("adafactor", self.lr, &self.opts);
        m.insert("beta_2_decay".into(), super::py_float(self.beta_2_decay));
        m.insert("epsilon_1".into(), super::py_float(self.epsilon_1));
        m.insert("epsilon_2".into(), super::py_float(self.epsilon_2));
        m.insert(
            "clip_threshold".into(),
            super::py_float(self.clip_threshold),
        );
        m.insert("relative_step".into(), json!(self.relative_step));
        wrap("Adafactor", m)
    }
    fn state(&self) -> Vec<(usize, Vec<f32>)> {
        // Keras: per weight, `r` and `c` (weights of two or more dimensions), then `v`.
        let mut out = Vec::new();
        for i in 0..self.v.len() {
            if self.dims[i].is_some() {
                out.push((i, self.r[i].clone()));
                out.push((i, self.c[i].clone()));
            }
            out.push((i, self.v[i].clone()));
        }
        out
    }
    fn set_state(&mut self, state: &[Vec<f32>]) -> std::result::Result<(), String> {
        let mut dst: Vec<&mut Vec<f32>> = Vec::new();
        for ((d, (r, c)), v) in self
            .dims
            .iter()
            .zip(self.r.iter_mut().zip(self.c.iter_mut()))
            .zip(self.v.iter_mut())
        {
            if d.is_some() {
                dst.push(r);
                dst.push(c);
            }
            dst.push(v);
        }
        super::restore(&mut dst, state)
    }
    fn options(&self) -> &super::Options {
        &self.opts
    }
    fn options_mut(&mut self) -> &mut super::Options {
        &mut self.opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step on a 2x3 weight and a bias against the formulas worked by hand in f64.
    #[test]
    fn first_step_matches_the_formulas() {
        let mut o = Adafactor::new().learning_rate(0.5);
        o.build_shapes(&[vec![2, 3], vec![3]]);
        o.begin_step();
        let g = [0.1f32, -0.2, 0.3, 0.4, -0.5, 0.6];
        let mut w = [1.0f32, 2.0, -1.0, 0.5, 0.0, -2.0];
        let w0 = w;
        o.update(0, &mut w, &g);
        // t = 1: beta = 0, so r = row means of g^2, c = column means, v = r/mean(r) * c.
        let g2: Vec<f64> = g.iter().map(|x| f64::from(*x).powi(2)).collect();
        let r = [(g2[0] + g2[1] + g2[2]) / 3.0, (g2[3] + g2[4] + g2[5]) / 3.0];
        let c = [
            (g2[0] + g2[3]) / 2.0,
            (g2[1] + g2[4]) / 2.0,
            (g2[2] + g2[5]) / 2.0,
        ];
        let mr = (r[0] + r[1]) / 2.0;
        let u: Vec<f64> = (0..6)
            .map(|k| f64::from(g[k]) / (r[k / 3] / mr * c[k % 3]).sqrt())
            .collect();
        let rms_u = (u.iter().map(|x| x * x).sum::<f64>() / 6.0).sqrt();
        let rms_w = (w0.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / 6.0).sqrt();
        let alpha = rms_w.max(1e-3) * 0.5f64.min(1.0);
        for k in 0..6 {
            let want = f64::from(w0[k]) - alpha * u[k] / rms_u.max(1.0);
            assert!(
                (f64::from(w[k]) - want).abs() < 1e-5,
                "{k}: {} vs {want}",
                w[k]
            );
        }
        // State in Keras's order: r, c, v of the matrix, v of the bias.
        let s = o.state();
        assert_eq!(
            s.iter().map(|(i, v)| (*i, v.len())).collect::<Vec<_>>(),
            vec![(0, 2), (0, 3), (0, 6), (1, 3)]
        );
        let arrays: Vec<Vec<f32>> = s.into_iter().map(|(_, v)| v).collect();
        let mut back = Adafactor::new();
        back.build_shapes(&[vec![2, 3], vec![3]]);
        back.set_state(&arrays).expect("restore");
        assert_eq!(back.state().len(), 4);
    }
}
