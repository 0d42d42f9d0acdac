//! Reductions: column sums (bias gradients), row argmax.

/// Adds the column sums of `data` (rows of `acc.len()` values) to `acc`, row order fixed.
pub fn add_col_sums(data: &[f32], acc: &mut [f32]) {
    let cols = acc.len();
    if cols == 0 {
        return;
    }
    for row in data.chunks_exact(cols) {
        for (a, v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

/// Index of the largest value of `row` (first one on ties; NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn col_sums_and_argmax() {
        let mut acc = [1.0f32, 0.0];
        add_col_sums(&[1.0, 2.0, 3.0, 4.0], &mut acc);
        assert_eq!(acc, [5.0, 6.0]);
        assert_eq!(argmax(&[0.1, 0.7, 0.7, 0.2]), 1);
    }
}
