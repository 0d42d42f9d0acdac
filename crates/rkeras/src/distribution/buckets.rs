//! The gradient buckets of a data-parallel step (as PyTorch's DistributedDataParallel
//! buckets them): the trainable weights in the order the backward pass finishes their
//! gradients, cut into buckets of about a fixed size, each all-reduced as soon as the
//! backward pass has finished every gradient in it, while the layers below still compute.
//!
//! The plan is a function of the model alone (the weights, their sizes and where the
//! backward pass finishes them) and of the bucket size, so every rank cuts the same
//! buckets and starts their sums in the same order: a run is reproducible bit for bit for
//! a given number of ranks.

use std::ops::Range;

/// One trainable weight's place in the flattened gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Item {
    /// The layer (index in the model's layers) and the weight (index in its `params()`).
    pub layer: usize,
    pub param: usize,
    /// Where its gradient sits in the flattened buffers, and its length.
    pub off: usize,
    pub len: usize,
}

/// A run of consecutive items summed by one all-reduce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bucket {
    pub items: Range<usize>,
    /// Its span of the flattened buffers.
    pub off: usize,
    pub len: usize,
    /// The backward pass's position from which every gradient in it is final: the bucket
    /// may start once the pass has reported `ready` (positions count down; -1: only at the
    /// end of the pass).
    pub ready: isize,
}

/// The buckets of one model.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub items: Vec<Item>,
    pub buckets: Vec<Bucket>,
    /// Identifies the weights and the bucket size the plan was cut for.
    pub signature: u64,
    /// Floats in all the gradients.
    pub total: usize,
}

/// A trainable weight as the plan sees it: its layer, its index among the layer's
/// weights, its length, and the backward position from which its gradient is final.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Weight {
    pub layer: usize,
    pub param: usize,
    pub len: usize,
    pub key: isize,
}

impl Plan {
    /// Orders `weights` as the backward pass finishes them (the latest layers first; within
    /// a layer, its weights in order) and cuts buckets of at least `cap` floats (the last
    /// one may be smaller; a weight is never split).
    pub fn new(weights: &[Weight], cap: usize, signature: u64) -> Plan {
        let mut order = weights.to_vec();
        order.sort_by(|a, b| {
            b.key
                .cmp(&a.key)
                .then(b.layer.cmp(&a.layer))
                .then(a.param.cmp(&b.param))
        });
        let cap = cap.max(1);
        let mut plan = Plan {
            signature,
            ..Plan::default()
        };
        let mut open: Option<Bucket> = None;
        for w in order {
            let i = plan.items.len();
            plan.items.push(Item {
                layer: w.layer,
                param: w.param,
                off: plan.total,
                len: w.len,
            });
            let b = open.get_or_insert(Bucket {
                items: i..i,
                off: plan.total,
                len: 0,
                ready: w.key,
            });
            b.items.end = i + 1;
            b.len += w.len;
            b.ready = b.ready.min(w.key);
            plan.total += w.len;
            if b.len >= cap {
                plan.buckets.extend(open.take());
            }
        }
        plan.buckets.extend(open);
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(layer: usize, param: usize, len: usize, key: isize) -> Weight {
        Weight {
            layer,
            param,
            len,
            key,
        }
    }

    #[test]
    fn buckets_follow_the_backward_order_and_the_cap() {
        // Layers 0..4 of a chain (key = layer), layer 2 has no weights, layer 1 is shared
        // (its gradient is final only at the end: key -1).
        let weights = [
            w(0, 0, 6, 0),
            w(0, 1, 2, 0),
            w(1, 0, 5, -1),
            w(3, 0, 4, 3),
            w(3, 1, 1, 3),
            w(4, 0, 3, 4),
        ];
        let plan = Plan::new(&weights, 5, 7);
        let order: Vec<(usize, usize, usize)> = plan
            .items
            .iter()
            .map(|i| (i.layer, i.param, i.off))
            .collect();
        assert_eq!(
            order,
            [
                (4, 0, 0),
                (3, 0, 3),
                (3, 1, 7),
                (0, 0, 8),
                (0, 1, 14),
                (1, 0, 16)
            ]
        );
        let cut: Vec<(Range<usize>, usize, usize, isize)> = plan
            .buckets
            .iter()
            .map(|b| (b.items.clone(), b.off, b.len, b.ready))
            .collect();
        // 3 + 4 reaches 5; 1 + 6; then 2 + 5 (ready at the end only).
        assert_eq!(cut, [(0..2, 0, 7, 3), (2..4, 7, 7, 0), (4..6, 14, 7, -1)]);
        assert_eq!(plan.total, 21);
        // Every float in exactly one bucket, in order.
        let mut at = 0;
        for b in &plan.buckets {
            assert_eq!(b.off, at);
            at += b.len;
        }
        assert_eq!(at, plan.total);
        // One bucket when the cap is larger than everything.
        assert_eq!(Plan::new(&weights, 1 << 30, 0).buckets.len(), 1);
        assert!(Plan::new(&[], 4, 0).buckets.is_empty());
    }
}
