"""Golden files for rkeras's own `applications::MobileNetV2` builder, made by real Keras in a
fresh session per model (so the automatic names are the first ones): the summary and the
outputs with the formula weights of `make_applications_golden.py`, at two input sizes.

Run (Keras 3.15.1, JAX backend):
  KERAS_BACKEND=jax /tmp/kenv/bin/python crates/rkeras/tests/golden/applications/make_builder_golden.py

Outputs: builder_mobilenetv2_ALPHA_SIZE.json ({"inputs", "outputs", "weights"}) and
builder_mobilenetv2_ALPHA_SIZE_summary_76.txt.
"""
import contextlib
import io
import json
import os
import sys

import numpy as np
import keras

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_applications_golden import arr, formula  # noqa: E402

for alpha, size in [(0.35, 32), (0.5, 48)]:
    keras.backend.clear_session()
    m = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), alpha=alpha, weights=None, classes=10,
        classifier_activation=None,
    )
    k = 0
    for layer in m.layers:
        for var in layer.weights:
            var.assign(formula(layer, var, k))
            k += 1
    x = np.random.RandomState(9).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    name = f"builder_mobilenetv2_{alpha}_{size}"
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump({"weights": k, "inputs": arr(x), "outputs": arr(m.predict(x, verbose=0))}, f)
    os.environ.pop("COLUMNS", None)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        m.summary()
    with open(os.path.join(HERE, f"{name}_summary_76.txt"), "w", encoding="utf-8") as f:
        f.write(buf.getvalue())
    print(name, k)
