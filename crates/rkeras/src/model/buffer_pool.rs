//! Memory plans: buffers shared by liveness.
//!
//! Training: the gradient of an activation is live from the step of the backward pass that
//! first writes it (its last reader's backward, or the loss for an output) to the step that
//! last reads it (its producer's backward). Entries (activations, plus the scratch buffers
//! of single steps) whose live spans do not overlap share one buffer, as large as the
//! largest entry it serves: a chain needs about two, a graph about as many as gradients are
//! live at once, instead of one buffer per activation.
//!
//! Inference (a model only predicting or evaluating): an activation is live from the call
//! that writes it to the last call that reads it, and the activations share buffers the
//! same way. Training keeps one buffer per activation (the backward pass reads them all).

/// The buffers of a plan and the buffer (slot) of each entry.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    /// Slot of each entry; `None`: it has no gradient (or an empty one).
    slot: Vec<Option<usize>>,
    bufs: Vec<Vec<f32>>,
    /// What one buffer per entry would take (floats).
    #[cfg_attr(not(test), allow(dead_code))]
    unplanned: usize,
}

impl BufferPool {
    /// Plans buffers for entries live over `spans[e] = Some((first, last))` (steps, both
    /// inclusive) that take `sizes[e]` floats. With `share` off, every entry gets a buffer
    /// of its own (tests compare both ways).
    pub fn plan(spans: &[Option<(usize, usize)>], sizes: &[usize], share: bool) -> Self {
        let mut order: Vec<usize> = (0..spans.len())
            .filter(|&e| spans[e].is_some() && sizes[e] > 0)
            .collect();
        order.sort_by_key(|&e| spans[e]);
        let mut slot = vec![None; spans.len()];
        // Per slot: the last step of its latest entry, and its size.
        let mut slots: Vec<(usize, usize)> = Vec::new();
        for &e in &order {
            let Some((start, end)) = spans[e] else {
                continue;
            };
            let need = sizes[e];
            let free = |s: &&(usize, usize)| share && s.0 < start;
            // The smallest free slot that is large enough, else the largest free one (grown).
            let fits = slots
                .iter()
                .enumerate()
                .filter(|(_, s)| free(s) && s.1 >= need)
                .min_by_key(|(_, s)| s.1)
                .map(|(k, _)| k);
            let grown = || {
                slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| free(s))
                    .max_by_key(|(_, s)| s.1)
                    .map(|(k, _)| k)
            };
            let k = match fits.or_else(grown) {
                Some(k) => k,
                None => {
                    slots.push((0, 0));
                    slots.len() - 1
                }
            };
            slots[k] = (end, slots[k].1.max(need));
            slot[e] = Some(k);
        }
        BufferPool {
            slot,
            bufs: slots.iter().map(|&(_, size)| vec![0.0; size]).collect(),
            unplanned: order.iter().map(|&e| sizes[e]).sum(),
        }
    }

    /// The floats the planned buffers take.
    #[cfg(test)]
    pub fn total(&self) -> usize {
        self.bufs.iter().map(Vec::len).sum()
    }

    /// The floats one buffer per entry would take.
    #[cfg(test)]
    pub fn unplanned(&self) -> usize {
        self.unplanned
    }

    /// The buffer of entry `e` (empty when it has none).
    pub fn get(&mut self, e: usize) -> &mut [f32] {
        match self.slot.get(e).copied().flatten() {
            Some(s) => &mut self.bufs[s],
            None => &mut [],
        }
    }

    /// The buffer of entry `e`, to read.
    pub fn get_ref(&self, e: usize) -> &[f32] {
        match self.slot.get(e).copied().flatten() {
            Some(s) => &self.bufs[s],
            None => &[],
        }
    }

    /// The buffer of entry `e` to write, and the others to read (an entry read while `e` is
    /// written is live with it, so in another buffer).
    pub fn split_out(&mut self, e: usize) -> (&mut [f32], Others<'_>) {
        let slot = &self.slot;
        match slot.get(e).copied().flatten() {
            Some(s) => {
                let (lo, hi) = self.bufs.split_at_mut(s);
                let (mine, hi) = hi.split_first_mut().expect("slot");
                (
                    mine,
                    Others {
                        lo,
                        hi,
                        out: s,
                        slot,
                    },
                )
            }
            None => (
                &mut [],
                Others {
                    lo: &self.bufs,
                    hi: &[],
                    out: usize::MAX,
                    slot,
                },
            ),
        }
    }

    /// The buffers of entries `a` and `b`, which the plan keeps apart (live at one step).
    pub fn pair(&mut self, a: usize, b: usize) -> (&mut [f32], &mut [f32]) {
        let (sa, sb) = (self.slot[a], self.slot[b]);
        match (sa, sb) {
            (Some(sa), Some(sb)) => disjoint_pair(&mut self.bufs, sa, sb),
            (Some(sa), None) => (&mut self.bufs[sa], &mut []),
            (None, Some(sb)) => (&mut [], &mut self.bufs[sb]),
            (None, None) => (&mut [], &mut []),
        }
    }

    /// The buffers of `entries` (live at one step, so in distinct slots) into `out`, in order.
    pub fn many<'a>(&'a mut self, entries: &[usize], out: &mut [&'a mut [f32]]) {
        let slot = &self.slot;
        debug_assert!(entries.iter().enumerate().all(|(k, &e)| {
            slot[e].is_none() || entries[..k].iter().all(|&f| slot[f] != slot[e])
        }));
        for (s, b) in self.bufs.iter_mut().enumerate() {
            if let Some(k) = entries.iter().position(|&e| slot[e] == Some(s)) {
                out[k] = b;
            }
        }
    }
}

/// The buffers of a pool other than the one being written (see [`BufferPool::split_out`]).
pub(crate) struct Others<'a> {
    lo: &'a [Vec<f32>],
    hi: &'a [Vec<f32>],
    out: usize,
    slot: &'a [Option<usize>],
}

impl<'a> Others<'a> {
    /// The buffer of entry `e`, to read.
    pub fn get(&self, e: usize) -> &'a [f32] {
        match self.slot.get(e).copied().flatten() {
            Some(s) if s < self.out => &self.lo[s],
            Some(s) => {
                assert!(
                    s != self.out,
                    "a memory plan gave a read buffer to the write"
                );
                &self.hi[s - self.out - 1]
            }
            None => &[],
        }
    }
}

/// Two disjoint mutable buffers of `bufs` by index; `a != b`.
fn disjoint_pair(bufs: &mut [Vec<f32>], a: usize, b: usize) -> (&mut [f32], &mut [f32]) {
    assert_ne!(a, b, "a gradient plan gave two live gradients one buffer");
    if a < b {
        let (lo, hi) = bufs.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    } else {
        let (lo, hi) = bufs.split_at_mut(a);
        (&mut hi[0], &mut lo[b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_spans_never_share_a_buffer() {
        // A chain: entry k live over [k, k + 1]; then a long-lived one beside them.
        let mut spans: Vec<Option<(usize, usize)>> = (0..6).map(|k| Some((k, k + 1))).collect();
        spans.push(Some((0, 6)));
        spans.push(None);
        let sizes = [4, 8, 2, 8, 4, 1, 3, 9];
        let pool = BufferPool::plan(&spans, &sizes, true);
        for a in 0..spans.len() {
            for b in 0..a {
                if let (Some(x), Some(y)) = (spans[a], spans[b]) {
                    if x.0 <= y.1 && y.0 <= x.1 {
                        assert_ne!(pool.slot[a], pool.slot[b], "{a} {b}");
                    }
                }
            }
            if let Some(s) = pool.slot[a] {
                assert!(pool.bufs[s].len() >= sizes[a]);
            }
        }
        assert_eq!(pool.slot[7], None);
        assert_eq!(pool.bufs.len(), 3);
        assert_eq!(pool.total(), 4 + 3 + 8);
        assert_eq!(pool.unplanned(), 4 + 8 + 2 + 8 + 4 + 1 + 3);
        let unshared = BufferPool::plan(&spans, &sizes, false);
        assert_eq!(unshared.bufs.len(), 7);
        assert_eq!(unshared.total(), unshared.unplanned());
    }

    #[test]
    fn pairs_and_groups_of_live_entries_are_disjoint() {
        let spans = [Some((0, 1)), Some((1, 2)), Some((1, 1)), Some((2, 3))];
        let mut pool = BufferPool::plan(&spans, &[2, 3, 4, 5], true);
        let (a, b) = pool.pair(1, 0);
        a.fill(1.0);
        b.fill(2.0);
        assert_eq!(pool.get(1), &[1.0; 3]);
        let mut out: [&mut [f32]; 3] = std::array::from_fn(|_| &mut [][..]);
        pool.many(&[2, 0, 1], &mut out);
        // Entry 3 grew entry 2's buffer to 5.
        assert_eq!(out.map(|s| s.len()), [5, 2, 3]);
        pool.get(0).fill(3.0);
        let (w, others) = pool.split_out(1);
        assert_eq!(
            (w.len(), others.get(0), others.get(3).len()),
            (3, &[3.0; 2][..], 5)
        );
    }
}
