"""Golden files for rkeras's `applications::Xception`, `InceptionV3`, `ConvNeXt`,
`InceptionResNetV2` and `EfficientNetV2` builders, made by real Keras in a fresh session per model (so the
automatic names, such as `conv2d_3` and `add_1`, are the first ones), with every weight set
by the formula of `make_applications_golden.py` and one input image.

Run (Keras 3.15.1, JAX backend), from the repository root:
  KERAS_BACKEND=jax /tmp/kenv/bin/python crates/rkeras/tests/golden/applications/make_more_apps_golden.py [FAMILY ...]

FAMILY: xception, inceptionv3, convnext, inceptionresnetv2, efficientnetv2 (default all).

Outputs, next to this script (weights=None, classes=10, classifier_activation=None):
- builder_NAME_SIZE.json: {"weights": count of weight variables, "layers": len(model.layers)
  (the InputLayer included), "total": the summary's "Total params" line, "inputs", "outputs"}
- builder_NAME_SIZE_summary_76.txt: `model.summary()` with stdout not a terminal, for the
  smallest model of each family at its two sizes (InceptionResNetV2's at 75 only; the
  others by their JSON alone).
- builder_NAME_features_SIZE.json (for the models of `FEATURE_MODELS`, at their smallest
  size; the input of builder_NAME_SIZE.json): {"channels": 8, "features": {layer name: its
  output's first 8 channels}} for a few inner layers, as with the formula weights the final outputs hardly depend on the input.
- NAME_config.json: {"config": model.to_json(), slimmed (see `slim`)} at the smallest size,
  for the config checks (the models of `CONFIGS`).
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
from make_applications_golden import arr  # noqa: E402
from make_efficientnet_golden import set_formula  # noqa: E402

# (family, keras function, file name, extra arguments, sizes, with summary, input range)
# Xception and InceptionV3/InceptionResNetV2 take preprocessed pixels in -1..1; ConvNeXt
# takes 0..255 (it normalizes them itself).
MODELS = [
    ("xception", "Xception", "xception", {}, [71, 80], True, (-1, 1)),
    ("inceptionv3", "InceptionV3", "inceptionv3", {}, [75, 80], True, (-1, 1)),
    ("convnext", "ConvNeXtTiny", "convnexttiny", {}, [32, 48], True, (0, 255)),
    ("convnext", "ConvNeXtSmall", "convnextsmall", {}, [32], False, (0, 255)),
    ("convnext", "ConvNeXtBase", "convnextbase", {}, [32], False, (0, 255)),
    ("convnext", "ConvNeXtLarge", "convnextlarge", {}, [32], False, (0, 255)),
    ("convnext", "ConvNeXtXLarge", "convnextxlarge", {}, [32], False, (0, 255)),
    ("inceptionresnetv2", "InceptionResNetV2", "inceptionresnetv2", {}, [75, 80], True,
     (-1, 1)),
    # EfficientNetV2 takes 0..255 (it rescales, and the B models normalize, themselves).
    ("efficientnetv2", "EfficientNetV2B0", "efficientnetv2b0", {}, [32, 48], True, (0, 255)),
] + [
    ("efficientnetv2", f"EfficientNetV2{v}", f"efficientnetv2{v.lower()}", {}, [32], False,
     (0, 255))
    for v in ["B1", "B2", "B3", "S", "M", "L"]
]
# Summaries of one size only (300 KB each).
ONE_SUMMARY = {"inceptionresnetv2": 75}

FEATURES = {
    "xception": ["block2_pool", "add_3"],
    "inceptionv3": ["mixed0", "mixed3", "mixed4"],
    "convnext": ["convnext_tiny_stage_0_block_1_identity", "convnext_tiny_downsampling_block_0"],
    "inceptionresnetv2": ["mixed_5b", "block35_1_ac", "block17_1_ac"],
    # A fused block without and with expansion, a residual add, an MBConv block's excite.
    "efficientnetv2b0": ["block1a_project_activation", "block2b_add", "block4a_se_excite"],
    # Rescaling(1/128, offset=-1) rather than B0's Normalization; fused blocks' adds.
    "efficientnetv2s": ["block1b_add", "block3a_project_bn"],
}

# The features keep their first channels only (the files stay small).
CHANNELS = 8

CONFIGS = {"xception", "inceptionv3", "convnexttiny", "inceptionresnetv2", "efficientnetv2b0"}
# The models with inner-layer files: FEATURES by family, or by name.
FEATURE_MODELS = CONFIGS | {"efficientnetv2s"}


def build(app, size, extra):
    keras.backend.clear_session()
    return getattr(keras.applications, app)(
        input_shape=(size, size, 3), weights=None, classes=10, classifier_activation=None,
        **extra,
    )


def image(size, lo_hi, seed=9):
    """One image, rounded to 3 decimals (so the file stays small)."""
    lo, hi = lo_hi
    x = np.random.RandomState(seed).uniform(lo, hi, (1, size, size, 3))
    return np.round(x, 3).astype("float32")


def short(a):
    """`arr` with the values as the shortest decimals that read back as the same float32."""
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape),
            "data": [float(np.format_float_positional(v, unique=True)) for v in a.reshape(-1)]}


# The config entries the Rust test compares (the files stay small).
KEYS = ["kernel_initializer", "depthwise_initializer", "activation", "rate", "noise_shape",
        "axis", "epsilon", "momentum", "padding", "strides", "use_bias", "target_shape",
        "keepdims", "max_value", "scale", "offset", "kernel_size", "groups", "filters",
        "units", "center", "init_values", "projection_dim", "name"]


def slim(config):
    """`model.to_json()` with each layer's class, module, name and the `KEYS` of its config
    (the inbound nodes of Keras's operations, whose arguments the test compares)."""
    layers = []
    for layer in config["config"]["layers"]:
        entry = {k: layer[k] for k in ("module", "class_name", "name") if k in layer}
        entry["config"] = {k: v for k, v in layer["config"].items() if k in KEYS}
        if layer.get("module", "").startswith("keras.src.ops"):
            entry["inbound_nodes"] = layer["inbound_nodes"]
        layers.append(entry)
    config["config"]["layers"] = layers
    return config


def make(family, app, name, extra, size, with_summary, lo_hi):
    m = build(app, size, extra)
    k = set_formula(m)
    x = image(size, lo_hi)
    fname = f"builder_{name}_{size}"
    os.environ.pop("COLUMNS", None)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        m.summary()
    total = [ln for ln in buf.getvalue().splitlines() if "Total params" in ln][0]
    with open(os.path.join(HERE, f"{fname}.json"), "w") as f:
        json.dump({"weights": k, "layers": len(m.layers), "total": total,
                   "inputs": short(x), "outputs": arr(m.predict(x, verbose=0))}, f)
    if with_summary and ONE_SUMMARY.get(name, size) == size:
        with open(os.path.join(HERE, f"{fname}_summary_76.txt"), "w", encoding="utf-8") as f:
            f.write(buf.getvalue())
    print(fname, k, len(m.layers), total)
    smallest = size == min(s for f_, a, n, e, ss, w, r in MODELS if n == name for s in ss)
    if name in CONFIGS and smallest:
        with open(os.path.join(HERE, f"{name}_config.json"), "w") as f:
            json.dump({"config": slim(json.loads(m.to_json()))}, f)
    if name in FEATURE_MODELS and smallest:
        out = {}
        x2 = image(size, lo_hi, seed=1)
        for layer_name in FEATURES.get(name) or FEATURES[family]:
            sub = keras.Model(m.input, m.get_layer(layer_name).output)
            y = sub.predict(x, verbose=0)
            moved = np.abs(sub.predict(x2, verbose=0) - y).max() / np.abs(y).max()
            print(" ", layer_name, y.shape, "relative change with another input:", moved)
            out[layer_name] = short(y[..., :CHANNELS])
        with open(os.path.join(HERE, f"builder_{name}_features_{size}.json"), "w") as f:
            json.dump({"channels": CHANNELS, "features": out}, f)


if __name__ == "__main__":
    which = sys.argv[1:] or sorted({m[0] for m in MODELS})
    for family, app, name, extra, sizes, with_summary, lo_hi in MODELS:
        if family in which:
            for size in sizes:
                make(family, app, name, extra, size, with_summary, lo_hi)
