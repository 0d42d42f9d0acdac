"""Golden files for rkeras's own `applications::EfficientNet` (B0..B7) and MobileNetV3
builders, made by real Keras in a fresh session per model (so the automatic names, such as
`input_layer`, `rescaling` and `normalization`, are the first ones), with every weight set by
the formula of `make_applications_golden.py` and one input image.

Run (Keras 3.15.1, JAX backend), from the repository root:
  KERAS_BACKEND=jax /tmp/kenv/bin/python crates/rkeras/tests/golden/applications/make_efficientnet_golden.py

Arguments: `efficientnet` or `mobilenetv3` to make one family only (default both), or
`imagenet` for builder_efficientnetb0_imagenet_32.json alone, `features` for the
builder_NAME_features_32.json files alone.

Outputs, next to this script (weights=None, classes=10, classifier_activation=None):
- builder_NAME_SIZE.json: {"weights": count of weight variables, "layers": len(model.layers)
  (the InputLayer included), "total": the summary's "Total params" line, "inputs", "outputs"}
- builder_NAME_SIZE_summary_76.txt: `model.summary()` with stdout not a terminal, for
  EfficientNetB0 and MobileNetV3Small at sizes 32 and 48 (the other models are checked by
  their JSON alone, to keep the files small).
NAME: efficientnetb0 .. efficientnetb7 (size 32; B0 at 48 too), mobilenetv3small and
mobilenetv3large (alpha 1.0, and mobilenetv3small_0.75_min: alpha 0.75, minimalistic).
- builder_efficientnetb0_imagenet_32.json: EfficientNetB0(weights="imagenet",
  include_top=False, pooling="avg") with the formula weights (see `make_imagenet_b0`), its
  layer names in "names" too.
- builder_efficientnetb0_features_32.json, builder_mobilenetv3small_features_32.json:
  {"inputs", "features": {layer name: its output}} for a few inner layers (`FEATURES`), as
  the final outputs with the formula weights hardly depend on the input.
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

def set_formula(m):
    """Sets every weight of `m` by the formula; returns how many. A Normalization layer is
    then told (`finalize_state`, as loading weights from a file does): assigning its
    variables alone leaves it normalizing by its initial mean 0 and variance 1."""
    k = 0
    for layer in m.layers:
        for var in layer.weights:
            var.assign(formula(layer, var, k))
            k += 1
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()
    return k


EFFICIENTNET = [("EfficientNetB0", "efficientnetb0", {}, [32, 48], True)] + [
    (f"EfficientNetB{i}", f"efficientnetb{i}", {}, [32], False) for i in range(1, 8)
]
MOBILENETV3 = [
    ("MobileNetV3Small", "mobilenetv3small", {}, [32, 48], True),
    ("MobileNetV3Small", "mobilenetv3small_0.75_min", {"alpha": 0.75, "minimalistic": True},
     [32], False),
    ("MobileNetV3Large", "mobilenetv3large", {}, [32], False),
]


def make(app, name, extra, size, with_summary):
    keras.backend.clear_session()
    m = getattr(keras.applications, app)(
        input_shape=(size, size, 3), weights=None, classes=10, classifier_activation=None,
        **extra,
    )
    k = set_formula(m)
    # Pixels in 0..255: these models rescale their input themselves.
    x = np.random.RandomState(9).uniform(0, 255, (1, size, size, 3)).astype("float32")
    fname = f"builder_{name}_{size}"
    os.environ.pop("COLUMNS", None)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        m.summary()
    total = [ln for ln in buf.getvalue().splitlines() if "Total params" in ln][0]
    with open(os.path.join(HERE, f"{fname}.json"), "w") as f:
        json.dump({"weights": k, "layers": len(m.layers), "total": total,
                   "inputs": arr(x), "outputs": arr(m.predict(x, verbose=0))}, f)
    if with_summary:
        with open(os.path.join(HERE, f"{fname}_summary_76.txt"), "w", encoding="utf-8") as f:
            f.write(buf.getvalue())
    print(fname, k, len(m.layers), total)


def make_imagenet_b0(size=32):
    """EfficientNetB0(weights="imagenet") as Keras builds it (one more layer: a per-channel
    Rescaling after the Normalization), without downloading: Keras's download is pointed at a
    weights file of the formula weights. Without the top, average-pooled (Keras refuses
    ImageNet weights with 10 classes)."""
    import tempfile
    from keras.src.applications import efficientnet

    keras.backend.clear_session()
    src = keras.applications.EfficientNetB0(
        input_shape=(size, size, 3), weights=None, include_top=False, pooling="avg")
    k = set_formula(src)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "formula.weights.h5")
        src.save_weights(path)
        keras.backend.clear_session()
        real_get_file = efficientnet.file_utils.get_file
        efficientnet.file_utils.get_file = lambda *a, **kw: path
        try:
            m = keras.applications.EfficientNetB0(
                input_shape=(size, size, 3), weights="imagenet", include_top=False,
                pooling="avg")
        finally:
            efficientnet.file_utils.get_file = real_get_file
    x = np.random.RandomState(9).uniform(0, 255, (1, size, size, 3)).astype("float32")
    os.environ.pop("COLUMNS", None)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        m.summary()
    total = [ln for ln in buf.getvalue().splitlines() if "Total params" in ln][0]
    fname = f"builder_efficientnetb0_imagenet_{size}"
    with open(os.path.join(HERE, f"{fname}.json"), "w") as f:
        json.dump({"weights": k, "layers": len(m.layers), "total": total,
                   "names": [layer.name for layer in m.layers],
                   "inputs": arr(x), "outputs": arr(m.predict(x, verbose=0))}, f)
    print(fname, k, len(m.layers), total)


FEATURES = [
    ("EfficientNetB0", "efficientnetb0", {}, ["block2b_add", "block3b_add"]),
    ("MobileNetV3Small", "mobilenetv3small", {}, ["expanded_conv_2_add",
                                                  "expanded_conv_3_squeeze_excite_mul"]),
]


def make_features(app, name, extra, names, size=32):
    """Outputs of inner layers (the formula weights): with these weights the models' final
    outputs hardly depend on the input (relative 1e-6), so the early blocks are checked
    here, on a sub-model from the input to each layer."""
    keras.backend.clear_session()
    m = getattr(keras.applications, app)(
        input_shape=(size, size, 3), weights=None, classes=10, classifier_activation=None,
        **extra,
    )
    k = set_formula(m)
    x = np.random.RandomState(9).uniform(0, 255, (1, size, size, 3)).astype("float32")
    x2 = np.random.RandomState(1).uniform(0, 255, (1, size, size, 3)).astype("float32")
    out = {}
    for layer_name in names:
        sub = keras.Model(m.input, m.get_layer(layer_name).output)
        y = sub.predict(x, verbose=0)
        moved = np.abs(sub.predict(x2, verbose=0) - y).max() / np.abs(y).max()
        print(" ", layer_name, y.shape, "relative change with another input:", moved)
        out[layer_name] = arr(y)
    fname = f"builder_{name}_features_{size}"
    with open(os.path.join(HERE, f"{fname}.json"), "w") as f:
        json.dump({"inputs": arr(x), "features": out}, f)
    print(fname)


if __name__ == "__main__":
    which = sys.argv[1:] or ["efficientnet", "mobilenetv3"]
    todo = (EFFICIENTNET if "efficientnet" in which else []) + (
        MOBILENETV3 if "mobilenetv3" in which else [])
    for app, name, extra, sizes, with_summary in todo:
        for size in sizes:
            make(app, name, extra, size, with_summary)
    if "efficientnet" in which or "imagenet" in which:
        make_imagenet_b0()
    for app, name, extra, names in FEATURES:
        if any(w in name for w in which) or "features" in which:
            make_features(app, name, extra, names)
