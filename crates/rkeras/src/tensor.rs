//! A dense, row-major `f32` tensor: the data type of inputs, targets and weights.

use crate::error::{Error, Result};
use crate::shape::numel;

/// A row-major `f32` array with a shape. The first axis is the batch axis for data.
///
/// ```
/// use rkeras::Tensor;
/// let t = Tensor::new(vec![2, 3], vec![0.0; 6])?;
/// assert_eq!(t.shape(), &[2, 3]);
/// # Ok::<(), rkeras::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// A tensor from a shape and its row-major data.
    ///
    /// # Errors
    /// When `data.len()` is not the product of `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        if numel(&shape) != data.len() {
            return Err(Error::Data(format!(
                "shape {:?} needs {} values, received {}",
                shape,
                numel(&shape),
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    /// A tensor of zeros.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = numel(&shape);
        Tensor {
            shape,
            data: vec![0.0; n],
        }
    }

    /// One-hot rows of `num_classes` columns from integer class labels.
    ///
    /// # Errors
    /// When a label is not below `num_classes`.
    pub fn one_hot(labels: &[usize], num_classes: usize) -> Result<Self> {
        let mut t = Tensor::zeros(vec![labels.len(), num_classes]);
        for (i, &l) in labels.iter().enumerate() {
            if l >= num_classes {
                return Err(Error::Data(format!(
                    "label {l} at index {i} is not below num_classes = {num_classes}"
                )));
            }
            t.data[i * num_classes + l] = 1.0;
        }
        Ok(t)
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
    /// The values, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }
    /// Consumes the tensor into its values.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Length of the first (batch) axis; 0 for a scalar.
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }
    /// Values per row (product of all axes but the first).
    pub fn row_len(&self) -> usize {
        numel(self.shape.get(1..).unwrap_or(&[]))
    }
    /// Row `i` (sample `i`).
    pub fn row(&self, i: usize) -> &[f32] {
        let r = self.row_len();
        &self.data[i * r..(i + 1) * r]
    }
    /// A copy of rows `start..end`.
    pub fn slice_rows(&self, start: usize, end: usize) -> Tensor {
        let r = self.row_len();
        let mut shape = self.shape.clone();
        if !shape.is_empty() {
            shape[0] = end - start;
        }
        Tensor {
            shape,
            data: self.data[start * r..end * r].to_vec(),
        }
    }
    /// Index of the largest value of each row (predicted classes).
    pub fn argmax_rows(&self) -> Vec<usize> {
        let r = self.row_len().max(1);
        self.data
            .chunks(r)
            .map(rkeras_kernels::reduce::argmax)
            .collect()
    }
}
