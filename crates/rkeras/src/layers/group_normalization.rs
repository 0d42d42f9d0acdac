//! `GroupNormalization`: normalizes each sample over groups of channels.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode, Param};
use crate::error::{Error, Result};
use crate::init::{InitArg, Initializer};
use crate::rng::Rng;
use serde_json::{json, Map, Value};

/// Keras `GroupNormalization(groups=32, axis=-1, epsilon=1e-3, center=True, scale=True)`:
/// the channels (last axis) split into `groups`; each sample's values of a group are
/// normalized by their mean and variance, then scaled by `gamma` and shifted by `beta` per
/// channel. `groups` = channels is instance normalization, `groups = 1` layer normalization
/// over the whole sample.
///
/// ```
/// use rkeras::prelude::*;
/// let m = Sequential::new([GroupNormalization::new(2).input_shape((4, 4, 6)).into()])?;
/// assert_eq!(m.layers()[0].params().len(), 2); // gamma, beta
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct GroupNormalization {
    base: LayerBase,
    groups: usize,
    axis: i64,
    epsilon: f32,
    center: bool,
    scale: bool,
    gamma_initializer: InitArg,
    beta_initializer: InitArg,
    params: Vec<Param>,
    weights: super::weight_options::WeightOptions,
    channels: usize,
    len: usize,
    /// Per sample and group, from the last forward pass: the inverse standard deviation.
    rstd: Vec<f32>,
    /// The normalized inputs of the last forward pass.
    xhat: Vec<f32>,
}

impl GroupNormalization {
    /// `groups` groups of channels (they must divide the channel count).
    pub fn new(groups: usize) -> Self {
        GroupNormalization {
            base: LayerBase::default(),
            groups,
            axis: -1,
            epsilon: 1e-3,
            center: true,
            scale: true,
            gamma_initializer: "ones".into(),
            beta_initializer: "zeros".into(),
            params: Vec::new(),
            weights: super::weight_options::WeightOptions::new(super::weight_options::GAMMA_BETA),
            channels: 1,
            len: 1,
            rstd: Vec::new(),
            xhat: Vec::new(),
        }
    }
    super::field_setters! {
        /// The channel axis: the last one (`-1` or the rank); rkeras implements no other.
        axis(a): i64,
        /// Added to the variance (default 1e-3).
        epsilon(e): f32,
        /// Whether to add `beta` (default `true`).
        center(c): bool,
        /// Whether to multiply by `gamma` (default `true`).
        scale(s): bool,
        /// `gamma`'s initializer (default `"ones"`).
        gamma_initializer(i): init,
        /// `beta`'s initializer (default `"zeros"`).
        beta_initializer(i): init,
    }

    fn gamma(&self) -> Option<&[f32]> {
        self.params
            .iter()
            .find(|p| p.name == "gamma")
            .map(|p| p.value.as_slice())
    }
}
common_builders!(GroupNormalization);
super::weight_options::weight_option_builders!(GroupNormalization:
    "gamma" => gamma_regularizer, gamma_constraint;
    "beta" => beta_regularizer, beta_constraint;
);

impl Layer for GroupNormalization {
    fn per_sample(&self) -> bool {
        true
    }
    fn class_name(&self) -> &'static str {
        "GroupNormalization"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        let rank = input_shape.len() as i64;
        if self.axis != -1 && self.axis != rank {
            return Err(Error::arg(
                "axis",
                &name,
                format!(
                    "rkeras normalizes groups of the last axis only (-1 or {rank}); received {}",
                    self.axis
                ),
            ));
        }
        let c = input_shape.last().copied().unwrap_or(0);
        if self.groups == 0 || c == 0 || c % self.groups != 0 {
            return Err(Error::arg(
                "groups",
                &name,
                format!(
                    "Number of groups ({}) must be a multiple of the number of channels ({c}).",
                    self.groups
                ),
            ));
        }
        self.channels = c;
        self.len = crate::shape::numel(input_shape);
        self.params.clear();
        let init = |arg: &InitArg, what: &str| {
            arg.resolve()
                .map_err(|e| Error::arg(what, &name, e.to_string()))
        };
        if self.scale {
            let i = init(&self.gamma_initializer, "gamma_initializer")?;
            self.params
                .push(Param::init(&name, "gamma", vec![c], &i, rng)?);
        }
        if self.center {
            let i = init(&self.beta_initializer, "beta_initializer")?;
            self.params
                .push(Param::init(&name, "beta", vec![c], &i, rng)?);
        }
        self.weights.check(&name, &self.params)?;
        Ok(input_shape.to_vec())
    }
    fn allocate(&mut self, max_batch: usize) {
        if self.xhat.len() < max_batch * self.len {
            self.xhat.resize(max_batch * self.len, 0.0);
            self.rstd.resize(max_batch * self.groups, 0.0);
        }
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, _mode: Mode) {
        let (c, g) = (self.channels, self.groups);
        let cg = c / g;
        let m = (self.len / g) as f64;
        if self.xhat.len() < n * self.len {
            self.allocate(n);
        }
        for s in 0..n {
            let xs = &x[s * self.len..(s + 1) * self.len];
            for k in 0..g {
                let (mut sum, mut sq) = (0.0f64, 0.0f64);
                for pixel in xs.chunks(c) {
                    for v in &pixel[k * cg..(k + 1) * cg] {
                        sum += f64::from(*v);
                        sq += f64::from(*v) * f64::from(*v);
                    }
                }
                let mean = sum / m;
                let var = (sq / m - mean * mean).max(0.0);
                let r = (1.0 / (var + f64::from(self.epsilon)).sqrt()) as f32;
                self.rstd[s * g + k] = r;
                let mean = mean as f32;
                let out = &mut self.xhat[s * self.len..(s + 1) * self.len];
                for (pixel, o) in xs.chunks(c).zip(out.chunks_mut(c)) {
                    let range = k * cg..(k + 1) * cg;
                    for (h, v) in o[range.clone()].iter_mut().zip(&pixel[range]) {
                        *h = (v - mean) * r;
                    }
                }
            }
        }
        let gamma = self.params.iter().find(|p| p.name == "gamma");
        let beta = self.params.iter().find(|p| p.name == "beta");
        for (o, (i, h)) in y
            .iter_mut()
            .zip(self.xhat[..n * self.len].iter().enumerate())
        {
            let ch = i % c;
            *o = h * gamma.map_or(1.0, |p| p.value[ch]) + beta.map_or(0.0, |p| p.value[ch]);
        }
    }
    fn backward(
        &mut self,
        _x: &[f32],
        _y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        ctx: Backward,
    ) {
        let (c, g, n) = (self.channels, self.groups, ctx.n);
        let cg = c / g;
        let m = (self.len / g) as f32;
        let xhat = &self.xhat[..n * self.len];
        for p in self.params.iter_mut().filter(|p| p.trainable) {
            let is_gamma = p.name == "gamma";
            for (i, gr) in dy.iter().enumerate() {
                p.grad[i % c] += if is_gamma { gr * xhat[i] } else { *gr };
            }
        }
        let Some(dx) = dx else { return };
        let gamma = self.gamma();
        for s in 0..n {
            let base = s * self.len;
            for k in 0..g {
                let (mut sum_d, mut sum_dx) = (0.0f32, 0.0f32);
                for p in 0..self.len / c {
                    for j in k * cg..(k + 1) * cg {
                        let i = base + p * c + j;
                        let d = dy[i] * gamma.map_or(1.0, |w| w[j]);
                        sum_d += d;
                        sum_dx += d * xhat[i];
                    }
                }
                let r = self.rstd[s * g + k];
                for p in 0..self.len / c {
                    for j in k * cg..(k + 1) * cg {
                        let i = base + p * c + j;
                        let d = dy[i] * gamma.map_or(1.0, |w| w[j]);
                        dx[i] = r / m * (m * d - sum_d - xhat[i] * sum_dx);
                    }
                }
            }
        }
    }
    fn params(&self) -> &[Param] {
        &self.params
    }
    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }
    super::weight_option_methods!(weights);
    fn config(&self) -> Map<String, Value> {
        let init = super::initializer_config;
        self.weights.with_config(super::object(json!({
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": init(&self.beta_initializer, Initializer::Zeros),
            "gamma_initializer": init(&self.gamma_initializer, Initializer::Ones),
            "beta_regularizer": null,
            "gamma_regularizer": null,
            "beta_constraint": null,
            "gamma_constraint": null,
        })))
    }
}

impl FromConfig for GroupNormalization {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        Ok(GroupNormalization::new(g.usize("groups")?)
            .axis(g.axis()?)
            .epsilon(g.f64_or("epsilon", 1e-3)? as f32)
            .center(g.bool_or("center", true)?)
            .scale(g.bool_or("scale", true)?)
            .gamma_initializer(g.initializer("gamma_initializer", "ones")?)
            .beta_initializer(g.initializer("beta_initializer", "zeros")?)
            .with_weight_options(g.weight_options(super::weight_options::GAMMA_BETA)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradients_for_groups_instance_and_layer_norm() {
        for (groups, shape) in [(2, vec![3, 4]), (4, vec![2, 2, 4]), (1, vec![5, 2])] {
            let l = GroupNormalization::new(groups)
                .gamma_initializer("random_uniform")
                .beta_initializer("random_normal");
            check_layer(Box::new(l), &shape);
        }
        check_layer(
            Box::new(GroupNormalization::new(2).center(false).scale(false)),
            &[3, 4],
        );
        let e = GroupNormalization::new(3)
            .build(&[2, 4], &mut Rng::new(0))
            .expect_err("3 does not divide 4");
        assert!(e.to_string().contains("groups"), "{e}");
    }
}
