"""Golden files for rkeras's own `applications::MobileNetV2` builder, made by real Keras in a
fresh session per model (so the automatic names are the first ones): the summary and the
outputs with the formula weights of `make_applications_golden.py`, at two input sizes.

Run (Keras 3.15.1, JAX backend):
  KERAS_BACKEND=jax /tmp/kenv/bin/python crates/rkeras/tests/golden/applications/make_builder_golden.py

Outputs: builder_mobilenetv2_ALPHA_SIZE.json ({"inputs", "outputs", "weights"}) and
builder_mobilenetv2_ALPHA_SIZE_summary_76.txt; for ResNet50/101/152, their V2 and VGG16/19:
builder_NAME_SIZE.json (one image; "layers" and "total" too: the layer count and the summary's
"Total params" line), with the summary file for ResNet50, ResNet50V2, VGG16 and MobileNet
(alpha 0.25) at two sizes and DenseNet121 at one (the deeper ones are checked by their JSON
alone, to keep the files small). Likewise DenseNet121/169/201 and MobileNet.
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


FAMILIES = [
    ("ResNet50", [32, 48], True), ("ResNet101", [32], False), ("ResNet152", [32], False),
    ("ResNet50V2", [32, 48], True), ("ResNet101V2", [32], False), ("ResNet152V2", [32], False),
    ("VGG16", [32, 48], True), ("VGG19", [32], False),
    ("DenseNet121", [32], True), ("DenseNet169", [32], False), ("DenseNet201", [32], False),
    ("MobileNet", [32, 48], True),
]
EXTRA = {"MobileNet": {"alpha": 0.25}}
for app, sizes, with_summary in FAMILIES:
    for size in sizes:
        keras.backend.clear_session()
        m = getattr(keras.applications, app)(
            input_shape=(size, size, 3), weights=None, classes=10, classifier_activation=None,
            **EXTRA.get(app, {}),
        )
        k = 0
        for layer in m.layers:
            for var in layer.weights:
                var.assign(formula(layer, var, k))
                k += 1
        x = np.random.RandomState(9).uniform(-1, 1, (1, size, size, 3)).astype("float32")
        name = f"builder_{app.lower()}_{size}"
        os.environ.pop("COLUMNS", None)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            m.summary()
        total = [ln for ln in buf.getvalue().splitlines() if "Total params" in ln][0]
        with open(os.path.join(HERE, f"{name}.json"), "w") as f:
            json.dump({"weights": k, "layers": len(m.layers), "total": total,
                       "inputs": arr(x), "outputs": arr(m.predict(x, verbose=0))}, f)
        if with_summary:
            with open(os.path.join(HERE, f"{name}_summary_76.txt"), "w", encoding="utf-8") as f:
                f.write(buf.getvalue())
        print(name, k, total)
