//! Shapes: per-sample shapes (no batch axis) and the conversions users write them with.

/// Anything that reads as a per-sample shape: `(64, 64, 3)`, `[28, 28, 1]`, `784`, `vec![10]`.
pub trait IntoShape {
    /// The dimensions, without the batch axis.
    fn into_shape(self) -> Vec<usize>;
}

impl IntoShape for usize {
    fn into_shape(self) -> Vec<usize> {
        vec![self]
    }
}
impl IntoShape for (usize,) {
    fn into_shape(self) -> Vec<usize> {
        vec![self.0]
    }
}
impl IntoShape for (usize, usize) {
    fn into_shape(self) -> Vec<usize> {
        vec![self.0, self.1]
    }
}
impl IntoShape for (usize, usize, usize) {
    fn into_shape(self) -> Vec<usize> {
        vec![self.0, self.1, self.2]
    }
}
impl<const N: usize> IntoShape for [usize; N] {
    fn into_shape(self) -> Vec<usize> {
        self.to_vec()
    }
}
impl IntoShape for Vec<usize> {
    fn into_shape(self) -> Vec<usize> {
        self
    }
}
impl IntoShape for &[usize] {
    fn into_shape(self) -> Vec<usize> {
        self.to_vec()
    }
}

/// A 2-D size written as `3` (square) or `(3, 5)` (height, width).
pub trait IntoPair {
    /// `(height, width)`.
    fn into_pair(self) -> (usize, usize);
}
impl IntoPair for usize {
    fn into_pair(self) -> (usize, usize) {
        (self, self)
    }
}
impl IntoPair for (usize, usize) {
    fn into_pair(self) -> (usize, usize) {
        self
    }
}
impl IntoPair for [usize; 2] {
    fn into_pair(self) -> (usize, usize) {
        (self[0], self[1])
    }
}

/// Formats a per-sample shape with the batch axis, Python-tuple style: `(None, 62, 62, 32)`.
pub fn batch_shape_str(shape: &[usize]) -> String {
    let mut s = String::from("(None");
    for d in shape {
        s.push_str(&format!(", {d}"));
    }
    s.push(')');
    s
}

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn formats_like_python() {
        assert_eq!(batch_shape_str(&[62, 62, 32]), "(None, 62, 62, 32)");
        assert_eq!(batch_shape_str(&[10]), "(None, 10)");
        assert_eq!((64, 64, 3).into_shape(), vec![64, 64, 3]);
        assert_eq!(3.into_pair(), (3, 3));
    }
}
