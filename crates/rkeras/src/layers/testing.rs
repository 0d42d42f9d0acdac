//! The shared layer check: build, output shape, and central finite-difference gradients of
//! a random linear functional of the output, with respect to the input and every weight.

use super::{Backward, Layer, Mode};
use crate::rng::Rng;
use crate::shape::numel;

fn objective(layer: &mut dyn Layer, x: &[f32], y: &mut [f32], w: &[f32], n: usize) -> f64 {
    layer.forward(x, y, n, Mode::Train);
    y.iter().zip(w).map(|(a, b)| *a as f64 * *b as f64).sum()
}

/// Central difference at two step sizes; `None` near a kink (the two disagree).
fn numeric(f: &mut dyn FnMut(f32) -> f64) -> Option<f64> {
    let d1 = (f(1e-2) - f(-1e-2)) / 2e-2;
    let d2 = (f(5e-3) - f(-5e-3)) / 1e-2;
    if (d1 - d2).abs() > 1e-2 * d1.abs().max(d2.abs()).max(0.1) {
        None
    } else {
        Some(d2)
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-2 * a.abs().max(b.abs()) + 2e-3
}

/// Checks a layer on a batch of 2 with per-sample `input_shape`; returns the output shape.
///
/// # Panics
/// On any mismatch (it is a test helper).
pub fn check_layer(layer: Box<dyn Layer>, input_shape: &[usize]) -> Vec<usize> {
    check_layer_adjusted(layer, input_shape, &|_, shape| shape)
}

/// Reconfigures a just-built layer and returns the output shape to check.
pub type Adjust<'a> = dyn Fn(&mut dyn Layer, Vec<usize>) -> Vec<usize> + 'a;

/// [`check_layer`] with `adjust` called after the build: it may reconfigure the layer and
/// returns the output shape to check (e.g. after [`Layer::absorb_max_pool`]).
///
/// # Panics
/// On any mismatch (it is a test helper).
pub fn check_layer_adjusted(
    mut layer: Box<dyn Layer>,
    input_shape: &[usize],
    adjust: &Adjust<'_>,
) -> Vec<usize> {
    let n = 2;
    if layer.base().name.is_none() {
        layer.base_mut().name = Some("under_test".into());
    }
    let mut rng = Rng::new(11);
    let out_shape = layer.build(input_shape, &mut rng).expect("build");
    let out_shape = adjust(layer.as_mut(), out_shape);
    layer.allocate(n);
    let (il, ol) = (numel(input_shape), numel(&out_shape));
    let mut x: Vec<f32> = (0..n * il).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let w: Vec<f32> = (0..n * ol).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let mut y = vec![0.0f32; n * ol];
    let _ = objective(layer.as_mut(), &x, &mut y, &w, n);
    let mut dy = w.clone();
    let mut dx = vec![0.0f32; n * il];
    for p in layer.params_mut() {
        p.grad.fill(0.0);
    }
    layer.backward(
        &x,
        &y,
        &mut dy,
        Some(&mut dx),
        Backward {
            n,
            skip_activation: false,
            accumulate: false,
        },
    );
    let (mut checked, mut skipped) = (0, 0);
    let step_x = (n * il / 60).max(1);
    for i in (0..n * il).step_by(step_x) {
        let orig = x[i];
        let got = numeric(&mut |e| {
            x[i] = orig + e;
            let v = objective(layer.as_mut(), &x, &mut y, &w, n);
            x[i] = orig;
            v
        });
        match got {
            Some(num) => {
                assert!(
                    close(dx[i] as f64, num),
                    "{}: d/dx[{i}] analytic {} vs numeric {num}",
                    layer.class_name(),
                    dx[i]
                );
                checked += 1;
            }
            None => skipped += 1,
        }
    }
    let grads: Vec<Vec<f32>> = layer.params().iter().map(|p| p.grad.clone()).collect();
    for (pi, g) in grads.iter().enumerate() {
        let step = (g.len() / 40).max(1);
        for i in (0..g.len()).step_by(step) {
            let orig = layer.params()[pi].value[i];
            let got = numeric(&mut |e| {
                layer.params_mut()[pi].value[i] = orig + e;
                let v = objective(layer.as_mut(), &x, &mut y, &w, n);
                layer.params_mut()[pi].value[i] = orig;
                v
            });
            match got {
                Some(num) => {
                    let name = layer.params()[pi].name;
                    assert!(
                        close(g[i] as f64, num),
                        "{}: d/d{name}[{i}] analytic {} vs numeric {num}",
                        layer.class_name(),
                        g[i]
                    );
                    checked += 1;
                }
                None => skipped += 1,
            }
        }
    }
    assert!(
        checked > 0 && skipped * 4 <= checked,
        "too few checkable points: {checked} checked, {skipped} skipped"
    );
    assert!(layer.config().is_empty() || !layer.config().contains_key("name"));
    out_shape
}

/// Checks a merge layer on a batch of 2 with per-sample input `shapes`: output shape and
/// central finite-difference gradients with respect to every input.
///
/// # Panics
/// On any mismatch (it is a test helper).
pub fn check_merge(mut layer: Box<dyn Layer>, shapes: &[Vec<usize>]) -> Vec<usize> {
    let n = 2;
    if layer.base().name.is_none() {
        layer.base_mut().name = Some("under_test".into());
    }
    let mut rng = Rng::new(5);
    let out_shape = layer.build_merge(shapes, &mut rng).expect("build_merge");
    let ol = numel(&out_shape);
    let mut xs: Vec<Vec<f32>> = shapes
        .iter()
        .map(|s| {
            (0..n * numel(s))
                .map(|_| rng.uniform_range(-1.0, 1.0))
                .collect()
        })
        .collect();
    let w: Vec<f32> = (0..n * ol).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
    let mut y = vec![0.0f32; n * ol];
    let run = |layer: &mut dyn Layer, xs: &[Vec<f32>], y: &mut [f32]| -> f64 {
        let refs: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
        layer.forward_merge(&refs, y, n);
        y.iter().zip(&w).map(|(a, b)| *a as f64 * *b as f64).sum()
    };
    run(layer.as_mut(), &xs, &mut y);
    let mut dxs: Vec<Vec<f32>> = xs.iter().map(|x| vec![0.0; x.len()]).collect();
    {
        let refs: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
        let mut outs: Vec<&mut [f32]> = dxs.iter_mut().map(Vec::as_mut_slice).collect();
        layer.backward_merge(&refs, &y, &w, &mut outs, n);
    }
    let (mut checked, mut skipped) = (0, 0);
    for k in 0..xs.len() {
        for i in 0..xs[k].len() {
            let orig = xs[k][i];
            let got = numeric(&mut |e| {
                xs[k][i] = orig + e;
                let mut yy = vec![0.0f32; n * ol];
                let v = run(layer.as_mut(), &xs, &mut yy);
                xs[k][i] = orig;
                v
            });
            match got {
                Some(num) => {
                    assert!(
                        close(dxs[k][i] as f64, num),
                        "{}: d/dx{k}[{i}] analytic {} vs numeric {num}",
                        layer.class_name(),
                        dxs[k][i]
                    );
                    checked += 1;
                }
                None => skipped += 1,
            }
        }
    }
    assert!(
        checked > 0 && skipped * 4 <= checked,
        "{checked} checked, {skipped} skipped"
    );
    out_shape
}

/// A random layer that restarts its stream (`reseed(0)`) before every forward, so that the
/// repeated forwards of [`check_layer`] see the same draws (random positions, coins).
#[derive(Clone, Debug)]
pub struct SameDraws<L>(pub L);

impl<L: Layer + Clone + 'static> Layer for SameDraws<L> {
    fn class_name(&self) -> &'static str {
        self.0.class_name()
    }
    fn base(&self) -> &super::LayerBase {
        self.0.base()
    }
    fn base_mut(&mut self) -> &mut super::LayerBase {
        self.0.base_mut()
    }
    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> crate::error::Result<Vec<usize>> {
        self.0.build(input_shape, rng)
    }
    fn allocate(&mut self, max_batch: usize) {
        self.0.allocate(max_batch);
    }
    fn share_scratch(&mut self, pool: &rkeras_kernels::Scratch) {
        self.0.share_scratch(pool);
    }
    fn forward(&mut self, x: &[f32], y: &mut [f32], n: usize, mode: Mode) {
        self.0.reseed(0);
        self.0.forward(x, y, n, mode);
    }
    fn backward(
        &mut self,
        x: &[f32],
        y: &[f32],
        dy: &mut [f32],
        dx: Option<&mut [f32]>,
        ctx: Backward,
    ) {
        self.0.backward(x, y, dy, dx, ctx);
    }
    fn config(&self) -> serde_json::Map<String, serde_json::Value> {
        self.0.config()
    }
}
