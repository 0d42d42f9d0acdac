"""Golden files for rkeras's `applications::NASNet` builder (NASNetMobile, NASNetLarge), made
by real Keras in a fresh session per model, with every weight set by the formula of
`make_applications_golden.py` and one input image in -1..1 (NASNet's "tf" preprocessing), in
the formats of `make_more_apps_golden.py` (whose helpers this reuses).

Run (Keras 3.15.1, JAX backend), from the repository root (arguments, such as
`nasnetlarge`, make only those models' files):
  KERAS_BACKEND=jax /tmp/kenv/bin/python crates/rkeras/tests/golden/applications/make_nasnet_golden.py

Outputs, next to this script (weights=None, classes=10, classifier_activation=None):
- builder_NAME_SIZE.json: {"weights", "layers", "total", "inputs", "outputs"} for
  NASNetMobile at 32x32 (the smallest Keras accepts) and 33x47 (odd and uneven sides, so
  `correct_pad` pads each side its own way), and NASNetLarge at 32x32.
- builder_nasnetmobile_32_summary_76.txt: NASNetMobile's `model.summary()` at 32x32 (320 KB),
  and builder_nasnetlarge_32_summary_76.txt.gz: NASNetLarge's at 32x32 (the smallest Keras
  accepts without weights), gzipped (over 400 KB plain).
- builder_nasnetmobile_features_32.json: the first 8 channels of a few inner layers (the
  first reduction cell, the first normal cell, an adjust block's projection and the first
  reduction of the second stack), on the 32x32 input.
- nasnetmobile_config.json: the slimmed `model.to_json()` of NASNetMobile at 32x32.
No weight file: the published NASNet files are 23 MB (Mobile) and 359 MB (Large).
"""
import contextlib
import gzip
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
from make_more_apps_golden import short, slim  # noqa: E402

# (keras function, file name, (height, width), with config and features, with summary)
MODELS = [
    ("NASNetMobile", "nasnetmobile", (32, 32), True, True),
    ("NASNetMobile", "nasnetmobile", (33, 47), False, False),
    ("NASNetLarge", "nasnetlarge", (32, 32), False, True),
]
FEATURES = [
    "reduction_concat_stem_1",
    "adjust_bn_0",
    "normal_concat_0",
    "adjust_bn_1",
    "reduction_concat_reduce_4",
]
CHANNELS = 8


def image(h, w, seed=9):
    """One image in -1..1, rounded to 3 decimals (so the file stays small)."""
    x = np.random.RandomState(seed).uniform(-1, 1, (1, h, w, 3))
    return np.round(x, 3).astype("float32")


def make(app, name, hw, full, with_summary):
    h, w = hw
    keras.backend.clear_session()
    m = getattr(keras.applications, app)(
        input_shape=(h, w, 3), weights=None, classes=10, classifier_activation=None
    )
    k = set_formula(m)
    x = image(h, w)
    size = f"{h}" if h == w else f"{h}x{w}"
    fname = f"builder_{name}_{size}"
    os.environ.pop("COLUMNS", None)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        m.summary()
    total = [ln for ln in buf.getvalue().splitlines() if "Total params" in ln][0]
    with open(os.path.join(HERE, f"{fname}.json"), "w") as f:
        json.dump({"weights": k, "layers": len(m.layers), "total": total,
                   "inputs": short(x), "outputs": arr(m.predict(x, verbose=0))}, f)
    print(fname, k, len(m.layers), total)
    if with_summary:
        text = buf.getvalue().encode("utf-8")
        if len(text) < 400_000:
            with open(os.path.join(HERE, f"{fname}_summary_76.txt"), "wb") as f:
                f.write(text)
        else:
            # gzip without a timestamp, so that the file is the same on every run.
            path = os.path.join(HERE, f"{fname}_summary_76.txt.gz")
            with open(path, "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
                    f.write(text)
    if not full:
        return
    with open(os.path.join(HERE, f"{name}_config.json"), "w") as f:
        json.dump({"config": slim(json.loads(m.to_json()))}, f)
    out = {}
    x2 = image(h, w, seed=1)
    for layer_name in FEATURES:
        sub = keras.Model(m.input, m.get_layer(layer_name).output)
        y = sub.predict(x, verbose=0)
        moved = np.abs(sub.predict(x2, verbose=0) - y).max() / np.abs(y).max()
        print(" ", layer_name, y.shape, "relative change with another input:", moved)
        out[layer_name] = short(y[..., :CHANNELS])
    with open(os.path.join(HERE, f"builder_{name}_features_{size}.json"), "w") as f:
        json.dump({"channels": CHANNELS, "features": out}, f)


if __name__ == "__main__":
    # Optional arguments: only these file names (`nasnetlarge`), each at all its sizes.
    only = sys.argv[1:]
    for app, name, hw, full, with_summary in MODELS:
        if not only or name in only:
            make(app, name, hw, full, with_summary)
