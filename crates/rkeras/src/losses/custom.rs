//! Losses of your own ([`LossFn`]), registered under a name as Keras's
//! `register_keras_serializable`: the name goes into saved files, and a file naming a
//! registered loss loads with it.

use super::Loss;
use std::sync::{Arc, RwLock};

/// A loss of your own, one row at a time: the row's loss and, when asked, its gradient with
/// respect to the row's predictions. `fit` averages the rows of a batch (weighted by the
/// sample weights), as Keras's `sum_over_batch_size`.
///
/// ```
/// use rkeras::losses::{register_loss, LossFn};
/// use rkeras::prelude::*;
/// /// Mean fourth power of the error.
/// struct Quartic;
/// impl LossFn for Quartic {
///     fn row(&self, p: &[f32], t: &[f32], grad: Option<&mut [f32]>) -> f64 {
///         let c = p.len() as f32;
///         if let Some(g) = grad {
///             for j in 0..p.len() {
///                 g[j] = 4.0 * (p[j] - t[j]).powi(3) / c;
///             }
///         }
///         p.iter().zip(t).map(|(a, b)| f64::from((a - b).powi(4))).sum::<f64>() / f64::from(c)
///     }
/// }
/// let quartic = register_loss("quartic", Quartic);
/// let mut m = Sequential::new([Dense::new(1).input_shape(2).into()])?;
/// m.compile("sgd", quartic, &[])?;
/// let x = Tensor::new(vec![2, 2], vec![0.0, 1.0, 1.0, 0.0])?;
/// let y = Tensor::new(vec![2, 1], vec![1.0, 0.0])?;
/// m.fit(&x, &y).epochs(2).verbose(0).run()?;
/// assert_eq!(m.loss().map(|l| l.name()), Some("quartic"));
/// # Ok::<(), rkeras::Error>(())
/// ```
pub trait LossFn: Send + Sync {
    /// The loss of one row (`y_pred` and `y_true` of the output's last axis, or one class
    /// index when [`sparse`](Self::sparse)); with `grad`, writes `d loss / d y_pred`.
    fn row(&self, y_pred: &[f32], y_true: &[f32], grad: Option<&mut [f32]>) -> f64;
    /// Targets are one class index per row.
    fn sparse(&self) -> bool {
        false
    }
}

type Entry = (&'static str, Arc<dyn LossFn>);

fn registry() -> &'static RwLock<Vec<Entry>> {
    static R: std::sync::OnceLock<RwLock<Vec<Entry>>> = std::sync::OnceLock::new();
    R.get_or_init(|| RwLock::new(Vec::new()))
}

/// Registers `f` under `name` (replacing an earlier one of that name) and returns the loss
/// to compile with; `Loss::from_name(name)` and saved files naming it find it too.
pub fn register_loss(name: &str, f: impl LossFn + 'static) -> Loss {
    let mut r = registry().write().unwrap_or_else(|e| e.into_inner());
    let f: Arc<dyn LossFn> = Arc::new(f);
    let id = match r.iter().position(|(n, _)| *n == name) {
        Some(i) => {
            r[i].1 = f;
            i
        }
        None => {
            r.push((Box::leak(name.to_string().into_boxed_str()), f));
            r.len() - 1
        }
    };
    Loss::new(super::Kind::Custom(id as u32))
}

/// The registered loss `id`.
pub(super) fn get(id: u32) -> Option<Entry> {
    let r = registry().read().unwrap_or_else(|e| e.into_inner());
    r.get(id as usize).map(|(n, f)| (*n, f.clone()))
}

/// The id of the loss registered as `name`.
pub(super) fn find(name: &str) -> Option<u32> {
    let r = registry().read().unwrap_or_else(|e| e.into_inner());
    r.iter().position(|(n, _)| *n == name).map(|i| i as u32)
}
