"""Golden files for keras.applications models that rkeras loads, made by real Keras, small
enough to commit: each model's architecture JSON (`model.to_json()`), its summary, and its
outputs on fixed inputs with weights set by a formula that the Rust test computes too (so no
weight file is committed).

Run (Keras 3.15.1, JAX backend; `pip install keras jax scipy h5py` in a venv):
  KERAS_BACKEND=jax /tmp/kenv/bin/python crates/rkeras/tests/golden/applications/make_applications_golden.py

The weights: the k-th weight variable of the model (in `get_weights()` order), of n values,
is s(i) = sin(0.7 i + 1.3 k + 0.1) for i < n, computed in float64 and stored as float32, then
  moving_variance, variance: 1 + 0.4 s;   gamma: 1 + 0.2 s;
  beta, moving_mean, mean, bias: 0.1 s;   count (Normalization's): 5;
  kernels: s * sqrt(3 / fan_in), fan_in = kh * kw for a depthwise kernel, else the product
  of all but the last dimension.
Outputs (next to this script), for each NAME:
- NAME.json: {"config": model.to_json(), "inputs": ..., "outputs": ...} (logits:
  classifier_activation=None).
- NAME_summary_76.txt: `model.summary()` with stdout not a terminal.
"""
import contextlib
import io
import json
import os

import numpy as np
import keras

HERE = os.path.dirname(os.path.abspath(__file__))

MODELS = [
    ("mobilenet", keras.applications.MobileNet, dict(alpha=0.25)),
    ("mobilenetv2", keras.applications.MobileNetV2, dict(alpha=0.35)),
    ("efficientnetb0", keras.applications.EfficientNetB0, dict()),
    ("mobilenetv3small", keras.applications.MobileNetV3Small, dict(alpha=0.75)),
]


def formula(layer, var, k):
    shape = tuple(var.shape)
    n = int(np.prod(shape)) if shape else 1
    s = np.sin(0.7 * np.arange(n, dtype=np.float64) + 1.3 * k + 0.1)
    name = var.path.split("/")[-1]
    if name == "count":
        return np.array(5, dtype=var.dtype)
    if name in ("moving_variance", "variance"):
        v = 1.0 + 0.4 * s
    elif name == "gamma":
        v = 1.0 + 0.2 * s
    elif name in ("beta", "moving_mean", "mean", "bias"):
        v = 0.1 * s
    else:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            fan_in = shape[0] * shape[1]
        else:
            fan_in = int(np.prod(shape[:-1]))
        v = s * np.sqrt(3.0 / fan_in)
    return v.astype(np.float32).reshape(shape)


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


if __name__ == "__main__":
    for name, ctor, kw in MODELS:
        m = ctor(input_shape=(32, 32, 3), weights=None, classes=10, classifier_activation=None, **kw)
        k = 0
        for layer in m.layers:
            for var in layer.weights:
                var.assign(formula(layer, var, k))
                k += 1
            # Keras's Normalization reads assigned variables only once finalized (loading a
            # file does this); without it, it would keep normalizing by mean 0, variance 1.
            if isinstance(layer, keras.layers.Normalization):
                layer.finalize_state()
        x = np.random.RandomState(7).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
        y = m.predict(x, verbose=0)
        with open(os.path.join(HERE, f"{name}.json"), "w") as f:
            json.dump({"config": json.loads(m.to_json()), "weights": k, "inputs": arr(x),
                       "outputs": arr(y)}, f)
        os.environ.pop("COLUMNS", None)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            m.summary()
        with open(os.path.join(HERE, f"{name}_summary_76.txt"), "w", encoding="utf-8") as f:
            f.write(buf.getvalue())
        print(name, "weights:", k, "max |y|:", float(np.abs(y).max()))
