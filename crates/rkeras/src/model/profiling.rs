//! Per-layer timing, shared by the executor and its sample groups
//! ([`Model::set_profiling`](crate::Model::set_profiling)).

use crate::layers::{Backward, Layer};

/// Adds the time since `t` to layer `i`'s forward (`which = 0`) or backward total.
pub(crate) fn add_timing(
    timings: &mut Option<Vec<(f64, f64)>>,
    t: Option<std::time::Instant>,
    i: usize,
    backward: bool,
) {
    if let (Some(t), Some(tm)) = (t, timings.as_mut()) {
        if let Some(e) = tm.get_mut(i) {
            if backward {
                e.1 += t.elapsed().as_secs_f64();
            } else {
                e.0 += t.elapsed().as_secs_f64();
            }
        }
    }
}

/// Profiling only: times layer `i`'s weight gradients alone (a backward call without the
/// input gradient, on a copy of `dy`) into `secs[i]`, then puts `dy` and the weight
/// gradients back for the real call.
pub(crate) fn time_weight_grads(
    (secs, saved): &mut (Vec<f64>, Vec<f32>),
    i: usize,
    layer: &mut dyn Layer,
    (x, y): (&[f32], &[f32]),
    dy: &mut [f32],
    ctx: Backward,
) {
    saved.clear();
    saved.extend_from_slice(dy);
    let t = std::time::Instant::now();
    layer.backward(x, y, dy, None, ctx);
    if let Some(e) = secs.get_mut(i) {
        *e += t.elapsed().as_secs_f64();
    }
    dy.copy_from_slice(saved);
    for p in layer.params_mut() {
        p.grad.fill(0.0);
    }
}
