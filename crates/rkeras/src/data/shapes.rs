//! Synthetic coloured-shape images (the data `rkeras demo` trains on): each image shows one
//! shape of a random colour, size and position on a noisy background; the class is the shape.

use crate::rng::Rng;
use crate::tensor::Tensor;

/// The classes, in label order.
pub const CLASS_NAMES: [&str; 4] = ["circle", "square", "triangle", "cross"];

/// `n` images of `size x size x 3` in `[0, 1]` and their class indices `(n,)`.
///
/// ```
/// let (x, y) = rkeras::data::shapes::generate(8, 32, 1);
/// assert_eq!(x.shape(), &[8, 32, 32, 3]);
/// assert_eq!(y.shape(), &[8]);
/// ```
pub fn generate(n: usize, size: usize, seed: u64) -> (Tensor, Tensor) {
    let mut rng = Rng::new(seed);
    let per = size * size * 3;
    let mut x = vec![0.0f32; n * per];
    let mut y = vec![0.0f32; n];
    let s = size as f32;
    for i in 0..n {
        let class = i % CLASS_NAMES.len();
        y[i] = class as f32;
        let img = &mut x[i * per..(i + 1) * per];
        let bg = [
            rng.uniform() * 0.4,
            rng.uniform() * 0.4,
            rng.uniform() * 0.4,
        ];
        for (j, v) in img.iter_mut().enumerate() {
            *v = (bg[j % 3] + 0.1 * rng.uniform()).min(1.0);
        }
        let color = [
            0.5 + 0.5 * rng.uniform(),
            0.5 + 0.5 * rng.uniform(),
            0.5 + 0.5 * rng.uniform(),
        ];
        let r = s * (0.18 + 0.14 * rng.uniform());
        let cx = r + (s - 2.0 * r) * rng.uniform();
        let cy = r + (s - 2.0 * r) * rng.uniform();
        for py in 0..size {
            for px in 0..size {
                let (dx, dy) = (px as f32 + 0.5 - cx, py as f32 + 0.5 - cy);
                let inside = match class {
                    0 => dx * dx + dy * dy <= r * r,
                    1 => dx.abs() <= r * 0.8 && dy.abs() <= r * 0.8,
                    2 => dy <= r * 0.8 && dy >= -r && dx.abs() <= (dy + r) * 0.55,
                    _ => {
                        (dx.abs() <= r * 0.25 || dy.abs() <= r * 0.25)
                            && dx.abs() <= r
                            && dy.abs() <= r
                    }
                };
                if inside {
                    let o = (py * size + px) * 3;
                    img[o..o + 3].copy_from_slice(&color);
                }
            }
        }
    }
    // Interleave classes randomly so any split has every class.
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let mut xs = vec![0.0f32; n * per];
    let mut ys = vec![0.0f32; n];
    for (dst, &src) in order.iter().enumerate() {
        xs[dst * per..(dst + 1) * per].copy_from_slice(&x[src * per..(src + 1) * per]);
        ys[dst] = y[src];
    }
    let x = Tensor::new(vec![n, size, size, 3], xs)
        .unwrap_or_else(|_| Tensor::zeros(vec![0, size, size, 3]));
    let y = Tensor::new(vec![n], ys).unwrap_or_else(|_| Tensor::zeros(vec![0]));
    (x, y)
}
