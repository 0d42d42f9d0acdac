//! `Dense`: `y = act(x . kernel + bias)` over the last axis.

use super::registry::{Cfg, FromConfig};
use super::{common_builders, Backward, Layer, LayerBase, Mode, Param};
use crate::error::{Error, Result};
use crate::init::Initializer;
use crate::rng::Rng;
use rkeras_kernels::activation::{self, ELEMWISE_CHUNK};
use rkeras_kernels::gemm::{par_sgemm, MatRef};
use rkeras_kernels::parallel::{self, for_each_chunk_mut};
use rkeras_kernels::{conv2d::epilogue, narrow, reduce, Act};
use serde_json::{json, Map, Value};

/// Densely connected layer (Keras `Dense`). Applies to the last axis of its input.
///
/// # Shapes
/// Input `(batch, ..., in)`; output `(batch, ..., units)`. Kernel `(in, units)`.
///
/// ```
/// use rkeras::prelude::*;
/// let model = Sequential::new([Dense::new(10).activation("softmax").input_shape(784).into()])?;
/// assert_eq!(model.count_params(), 7850);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Dense {
    base: LayerBase,
    units: usize,
    activation: String,
    use_bias: bool,
    kernel_initializer: crate::init::InitArg,
    bias_initializer: crate::init::InitArg,
    weights: super::weight_options::WeightOptions,
    act: Act,
    input_dim: usize,
    out_len: usize,
    params: Vec<Param>,
    preact: Vec<f32>,
}

impl Dense {
    /// A dense layer with `units` outputs.
    pub fn new(units: usize) -> Self {
        Dense {
            base: LayerBase::default(),
            units,
            activation: "linear".into(),
            use_bias: true,
            kernel_initializer: "glorot_uniform".into(),
            bias_initializer: "zeros".into(),
            weights: Default::default(),
            act: Act::Linear,
            input_dim: 0,
            out_len: 0,
            params: Vec::new(),
            preact: Vec::new(),
        }
    }
    super::field_setters! {
        /// Activation name (default none).
        activation(a): str,
        /// Whether to add a bias (default `true`).
        use_bias(b): bool,
        /// Kernel initializer name (default `"glorot_uniform"`).
        kernel_initializer(i): init,
        /// Bias initializer name (default `"zeros"`).
        bias_initializer(i): init,
    }
}
common_builders!(Dense);
super::weight_options::weight_option_builders!(Dense:
    "kernel" => kernel_regularizer, kernel_constraint;
    "bias" => bias_regularizer, bias_constraint;
);

impl Layer for Dense {
    fn class_name(&self) -> &'static str {
        "Dense"
    }
    fn base(&self) -> &LayerBase {
        &self.base
    }
    fn base_mut(&mut self) -> &mut LayerBase {
        &mut self.base
    }

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let name = self.base.label().to_string();
        if self.units == 0 {
            return Err(Error::arg(
                "units",
                &name,
                "expected a positive integer, received 0",
            ));
        }
        let (act, kinit, binit) = super::resolve_kernel_options(
            &name,
            &self.activation,
            &self.kernel_initializer,
            &self.bias_initializer,
        )?;
        self.act = act;
        let Some(&last) = input_shape.last() else {
            return Err(super::rank_error(&name, "min_ndim=2", input_shape));
        };
        if last == 0 {
            return Err(super::rank_error(
                &name,
                "a non-empty last axis",
                input_shape,
            ));
        }
        self.input_dim = last;
        self.params = vec![Param::init(
            &name,
            "kernel",
            vec![last, self.units],
            &kinit,
            rng,
        )?];
        if self.use_bias {
            self.params
                .push(Param::init(&name, "bias", vec![self.units], &binit, rng)?);
        }
        let mut out = input_shape.to_vec();
        if let Some(l) = out.last_mut() {
            *l = self.units;
        }
        self.out_len = crate::shape::numel(&out);
        self.weights.check(self.base.label(), &self.params)?;
        Ok(out)
    }

    fn allocate(&mut self, max_batch: usize) {
        if self.act.backward_needs_input() && self.preact.len() < max_batch * self.out_len {
            self.preact.resize(max_batch * self.out_len, 0.0);
        }
    }

    fn forward(&mut self, x: &[f32], y: &mut [f32], _n: usize, _mode: Mode) {
        let (k, u) = (self.input_dim, self.units);
        let rows = x.len() / k.max(1);
        if narrow::fits(u) {
            narrow::forward(rows, k, u, x, &self.params[0].value, y);
        } else {
            par_sgemm(
                rows,
                u,
                k,
                MatRef::row_major(x, k),
                MatRef::row_major(&self.params[0].value, u),
                y,
                false,
            );
        }
        let bias = self.params.get(1).map(|p| &p.value[..]);
        if self.act.backward_needs_input() {
            if self.preact.len() < y.len() {
                self.preact.resize(y.len(), 0.0);
            }
            if let Some(b) = bias {
                rkeras_kernels::elementwise::add_bias_rows(y, b);
            }
            self.preact[..y.len()].copy_from_slice(y);
            activation::forward_inplace(self.act, y, u);
        } else {
            let act = self.act;
            for_each_chunk_mut(y, (ELEMWISE_CHUNK / u).max(1) * u, |_, c| {
                epilogue(c, bias.into(), act, u)
            });
        }
    }

    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        ctx: Backward,
    ) {
        let (k, u) = (self.input_dim, self.units);
        let rows = x.len() / k.max(1);
        if !ctx.skip_activation {
            let pre = self
                .act
                .backward_needs_input()
                .then(|| &self.preact[..y.len()]);
            activation::backward_inplace(self.act, pre, y, dy, u);
        }
        let (kp, rest) = self.params.split_at_mut(1);
        let kernel = &mut kp[0];
        let (w, dw) = (&kernel.value, &mut kernel.grad);
        let dy = &*dy;
        // The kernel and bias gradients, and the input gradient, side by side: they write
        // different buffers, and the input gradient is one GEMM task when the batch is
        // small, which would leave the other cores idle.
        let grads = || {
            // dW (k x u) += x^T (k x rows) . dy (rows x u)
            if narrow::fits(u) {
                narrow::kernel_grad(rows, k, u, x, dy, dw);
            } else {
                par_sgemm(
                    k,
                    u,
                    rows,
                    MatRef::row_major_t(x, k),
                    MatRef::row_major(dy, u),
                    dw,
                    true,
                );
            }
            if let Some(b) = rest.first_mut() {
                reduce::add_col_sums(dy, &mut b.grad);
            }
        };
        let input = || {
            if let Some(dx) = dx {
                // dx (rows x k) = dy (rows x u) . W^T (u x k)
                par_sgemm(
                    rows,
                    k,
                    u,
                    MatRef::row_major(dy, u),
                    MatRef::row_major_t(w, u),
                    dx,
                    false,
                );
            }
        };
        parallel::join(grads, input);
    }

    super::kernel_layer_methods!(weights);
    fn config(&self) -> Map<String, Value> {
        let init = super::initializer_config;
        self.weights.with_config(super::object(json!({
            "units": self.units,
            "activation": super::activation_name(&self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": init(&self.kernel_initializer, Initializer::GlorotUniform),
            "bias_initializer": init(&self.bias_initializer, Initializer::Zeros),
            "kernel_regularizer": null,
            "bias_regularizer": null,
            "kernel_constraint": null,
            "bias_constraint": null,
            "quantization_config": null
        })))
    }
}

impl FromConfig for Dense {
    fn from_config(g: &Cfg<'_>) -> Result<Self> {
        let dense = Dense::new(g.usize("units")?)
            .activation(&g.activation()?)
            .use_bias(g.bool_or("use_bias", true)?)
            .kernel_initializer(g.initializer("kernel_initializer", "glorot_uniform")?)
            .bias_initializer(g.initializer("bias_initializer", "zeros")?);
        Ok(dense.with_weight_options(g.weight_options(super::weight_options::KERNEL_BIAS)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::testing::check_layer;

    #[test]
    fn gradients_for_every_activation() {
        for act in crate::activations::known() {
            let l = Dense::new(4)
                .activation(act)
                .bias_initializer("random_uniform");
            check_layer(Box::new(l), &[5]);
        }
        // Rank-3 input: applied on the last axis.
        assert_eq!(check_layer(Box::new(Dense::new(3)), &[2, 4]), vec![2, 3]);
    }

    #[test]
    fn gradients_on_both_product_paths() {
        // Up to 16 units take the narrow kernels, more take the GEMM; 16 and 17 sit on the
        // edge, 37 inputs cross the narrow kernels' 16-wide blocks.
        for units in [1, 16, 17, 40] {
            let l = Dense::new(units)
                .activation("tanh")
                .bias_initializer("random_uniform");
            assert_eq!(check_layer(Box::new(l), &[37]), vec![units]);
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let mut rng = Rng::new(0);
        assert!(Dense::new(0).build(&[4], &mut rng).is_err());
        let e = Dense::new(2)
            .activation("nope")
            .name("d")
            .build(&[4], &mut rng)
            .expect_err("act");
        assert!(e.to_string().contains("\"d\""));
    }
}
