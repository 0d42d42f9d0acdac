"""Check that a model file (e.g. one written by rkeras) loads in real Keras 3 and predicts the
expected outputs.

usage:
  KERAS_BACKEND=jax /tmp/kvenv/bin/python bench/check_keras_load.py MODEL_FILE INPUTS_JSON EXPECTED_JSON [--tol 1e-5] [--no-compile]

MODEL_FILE     `*.keras` or `*.h5` (full model): loaded with keras.saving.load_model.
               `*.weights.h5`: the golden "cnn" architecture (the same Sequential as
               crates/rkeras/tests/golden/saving/make_saving_golden.py builds) is created and
               model.load_weights(MODEL_FILE) is called.
INPUTS_JSON    JSON with the input batch, either {"inputs": {"shape": [...], "data": [...]}} (the
               golden cnn_predictions.json layout) or a bare {"shape": [...], "data": [...]};
               data is flat row-major.
EXPECTED_JSON  JSON with the expected model.predict output, {"outputs": {shape, data}} or a bare
               {shape, data}. INPUTS_JSON and EXPECTED_JSON may be the same file.

Prints `OK max_abs_diff=...` and exits 0 when the maximum absolute difference is below the
tolerance (default 1e-5); otherwise prints the differences and exits 1. Loading failures print
`ERROR: ...` with the exception type and text (plus the traceback on stderr) and exit 2;
malformed JSON / shape mismatches exit 3.

Example (the Keras-made golden files):
  for f in cnn.keras cnn.weights.h5 cnn_legacy.h5; do
    KERAS_BACKEND=jax /tmp/kvenv/bin/python bench/check_keras_load.py \
      crates/rkeras/tests/golden/saving/$f \
      crates/rkeras/tests/golden/saving/cnn_predictions.json \
      crates/rkeras/tests/golden/saving/cnn_predictions.json
  done
Works with any Keras 3 backend (KERAS_BACKEND=tensorflow under the TF env as well).
"""
import argparse
import json
import os
import sys
import traceback

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def build_cnn(keras):
    """The golden "cnn" architecture (keep in sync with make_saving_golden.py)."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Rescaling(1 / 255),
            layers.Conv2D(4, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Conv2D(6, (2, 2), activation="relu", padding="same"),
            layers.AveragePooling2D((2, 2)),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(5, activation="softmax"),
        ],
        name="cnn",
    )


def read_array(path, key):
    with open(path) as fh:
        obj = json.load(fh)
    if isinstance(obj, dict) and key in obj:
        obj = obj[key]
    if not (isinstance(obj, dict) and "shape" in obj and "data" in obj):
        raise ValueError(f"{path}: expected {{'{key}': {{shape, data}}}} or {{shape, data}}")
    shape = [int(d) for d in obj["shape"]]
    data = np.asarray(obj["data"], dtype=np.float64)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {key} has {data.size} values but shape {shape} needs {int(np.prod(shape))}")
    return data.reshape(shape)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_file")
    ap.add_argument("inputs_json")
    ap.add_argument("expected_json")
    ap.add_argument("--tol", type=float, default=1e-5, help="max abs diff allowed (default 1e-5)")
    ap.add_argument("--no-compile", action="store_true", help="load_model(..., compile=False)")
    args = ap.parse_args(argv)

    try:
        x = read_array(args.inputs_json, "inputs").astype("float32")
        expected = read_array(args.expected_json, "outputs")
    except Exception as e:  # noqa: BLE001
        print(f"ERROR: reading JSON failed: {type(e).__name__}: {e}")
        return 3

    import keras

    path = args.model_file
    if not os.path.exists(path):
        print(f"ERROR: {path}: no such file")
        return 2
    try:
        if path.endswith(".weights.h5"):
            how = "build cnn + load_weights"
            model = build_cnn(keras)
            model.load_weights(path)
        else:
            how = "keras.saving.load_model"
            model = keras.saving.load_model(path, compile=not args.no_compile)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        print(f"ERROR: loading {path} ({how}) failed with Keras {keras.__version__} "
              f"({keras.backend.backend()}): {type(e).__name__}: {e}")
        return 2

    try:
        got = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        print(f"ERROR: predict failed on {path}: {type(e).__name__}: {e}")
        return 2
    if got.shape != expected.shape:
        print(f"ERROR: output shape {list(got.shape)} != expected {list(expected.shape)}")
        return 3
    diff = np.abs(got - expected)
    maxd = float(diff.max()) if diff.size else 0.0
    if maxd < args.tol:
        print(f"OK max_abs_diff={maxd:.3g} ({path}, {how}, Keras {keras.__version__} {keras.backend.backend()})")
        return 0
    print(f"MISMATCH max_abs_diff={maxd:.6g} >= tol {args.tol:g} ({path}, {how})")
    worst = np.argsort(diff.reshape(-1))[::-1][:10]
    for i in worst:
        idx = np.unravel_index(i, diff.shape)
        print(f"  at {list(map(int, idx))}: got {got[idx]:.9g} expected {expected[idx]:.9g} diff {diff[idx]:.3g}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
