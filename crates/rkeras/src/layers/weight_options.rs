//! The regularizers and constraints of a layer's kernel and bias, shared by the layers that
//! have them (`Conv2D`, `Dense`): the builder methods, the penalty and its gradient, and the
//! constraints applied after each update.

use super::Param;
use crate::constraints::Constraint;
use crate::error::{Error, Result};
use crate::regularizers::Regularizer;

/// Keras's `kernel_regularizer`, `bias_regularizer`, `kernel_constraint`, `bias_constraint`
/// (the kernel is a layer's first weight, the bias its second).
#[derive(Clone, Debug, Default)]
pub(crate) struct WeightOptions {
    pub kernel_regularizer: Option<Regularizer>,
    pub bias_regularizer: Option<Regularizer>,
    pub kernel_constraint: Option<Constraint>,
    pub bias_constraint: Option<Constraint>,
}

impl WeightOptions {
    fn regularizers(&self) -> [Option<Regularizer>; 2] {
        [self.kernel_regularizer, self.bias_regularizer]
    }
    fn constraints(&self) -> [&Option<Constraint>; 2] {
        [&self.kernel_constraint, &self.bias_constraint]
    }

    /// Checks the constraints' axes against the weights, naming the layer and argument.
    pub fn check(&self, layer: &str, params: &[Param]) -> Result<()> {
        let args = ["kernel_constraint", "bias_constraint"];
        for ((c, p), arg) in self.constraints().iter().zip(params).zip(args) {
            if let Some(c) = c {
                c.check(&p.shape)
                    .map_err(|e| Error::arg(arg, layer, e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Adds the penalties' gradients to the weights' and returns the penalty.
    pub fn regularize(&self, params: &mut [Param]) -> f64 {
        let mut total = 0.0;
        for (r, p) in self.regularizers().iter().zip(params.iter_mut()) {
            if let Some(r) = r {
                r.add_grad(&p.value, &mut p.grad);
                total += r.penalty(&p.value);
            }
        }
        total
    }

    /// The penalty alone.
    pub fn penalty(&self, params: &[Param]) -> f64 {
        self.regularizers()
            .iter()
            .zip(params)
            .map(|(r, p)| r.map_or(0.0, |r| r.penalty(&p.value)))
            .sum()
    }

    /// Applies the constraints in place.
    pub fn constrain(&self, params: &mut [Param]) {
        for (c, p) in self.constraints().iter().zip(params.iter_mut()) {
            if let Some(c) = c {
                c.apply(&mut p.value, &p.shape);
            }
        }
    }
}

/// The four builder methods of a layer with a `weights: WeightOptions` field.
macro_rules! weight_option_builders {
    ($t:ty) => {
        impl $t {
            /// A penalty on the kernel added to the loss (Keras `kernel_regularizer`).
            pub fn kernel_regularizer(mut self, r: $crate::regularizers::Regularizer) -> Self {
                self.weights.kernel_regularizer = Some(r);
                self
            }
            /// A penalty on the bias added to the loss (Keras `bias_regularizer`).
            pub fn bias_regularizer(mut self, r: $crate::regularizers::Regularizer) -> Self {
                self.weights.bias_regularizer = Some(r);
                self
            }
            /// A constraint applied to the kernel after each update (Keras
            /// `kernel_constraint`).
            pub fn kernel_constraint(mut self, c: $crate::constraints::Constraint) -> Self {
                self.weights.kernel_constraint = Some(c);
                self
            }
            /// A constraint applied to the bias after each update (Keras `bias_constraint`).
            pub fn bias_constraint(mut self, c: $crate::constraints::Constraint) -> Self {
                self.weights.bias_constraint = Some(c);
                self
            }
        }
    };
}
pub(crate) use weight_option_builders;
