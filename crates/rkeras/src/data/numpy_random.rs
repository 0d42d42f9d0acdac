//! numpy's legacy `RandomState(seed).shuffle(list)`, reproduced bit for bit, so a folder
//! dataset's file order and train/validation split are exactly Keras's for the same seed.

use rand_mt::Mt;

/// Shuffles `items` in place exactly as `numpy.random.RandomState(seed).shuffle(items)` does
/// (MT19937 seeded with `init_genrand(seed)`, Fisher-Yates from the end, bounded draws by
/// masked rejection).
///
/// ```
/// let mut v: Vec<u32> = (0..13).collect();
/// rkeras::data::numpy_random::shuffle(&mut v, 123);
/// assert_eq!(v, [7, 10, 4, 0, 5, 9, 8, 11, 3, 1, 6, 12, 2]);
/// ```
pub fn shuffle<T>(items: &mut [T], seed: u32) {
    let mut mt = Mt::new(seed);
    for i in (1..items.len()).rev() {
        let j = bounded(&mut mt, i as u32) as usize;
        items.swap(i, j);
    }
}

/// A uniform integer in `[0, max]` the way numpy's legacy `random_interval` draws it.
fn bounded(mt: &mut Mt, max: u32) -> u32 {
    if max == 0 {
        return 0;
    }
    let mut mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    loop {
        let v = mt.next_u32() & mask;
        if v <= max {
            return v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_check_value() {
        let mut v: Vec<usize> = (0..13).collect();
        shuffle(&mut v, 123);
        assert_eq!(v, [7, 10, 4, 0, 5, 9, 8, 11, 3, 1, 6, 12, 2]);
    }

    #[test]
    fn short_lists_are_left_alone_or_permuted() {
        let mut empty: Vec<u8> = vec![];
        shuffle(&mut empty, 1);
        let mut one = vec![5];
        shuffle(&mut one, 1);
        assert_eq!(one, [5]);
        let mut v: Vec<usize> = (0..100).collect();
        shuffle(&mut v, 7);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(v, sorted);
    }
}
