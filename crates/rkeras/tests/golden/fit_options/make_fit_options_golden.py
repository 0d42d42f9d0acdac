"""Golden files for fit options: class_weight, sample_weight (with validation_split),
validation_freq and steps_per_epoch, run by Keras 3 on small models from the same initial
weights. Run: KERAS_BACKEND=jax python make_fit_options_golden.py (writes cases.json)."""
import json
import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras
import numpy as np

rng = np.random.default_rng(7)


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.ravel()]}


def model(out, act):
    keras.utils.set_random_seed(1)
    m = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(out, activation=act)]
    )
    return m


x = rng.normal(size=(20, 6)).astype("float32")
y3 = rng.integers(0, 3, size=(20,)).astype("float32")
yb = (rng.random(size=(20, 1)) > 0.6).astype("float32")
xv = rng.normal(size=(7, 6)).astype("float32")
yv = rng.integers(0, 3, size=(7,)).astype("float32")
sw = rng.uniform(0.0, 2.0, size=(20,)).astype("float32")

cases = {}


def run(name, out, act, loss, y, fit_kwargs, metrics=("accuracy",)):
    m = model(out, act)
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, metrics=list(metrics))
    initial = [arr(w) for w in m.get_weights()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = m.fit(x, y, verbose=0, shuffle=False, **fit_kwargs)
    ran_out = any("ran out of data" in str(w.message) for w in caught)
    cases[name] = {
        "out": out,
        "activation": act,
        "loss": loss,
        "y": arr(y),
        "initial": initial,
        "final": [arr(w) for w in m.get_weights()],
        "history": {k: [float(v) for v in vs] for k, vs in h.history.items()},
        "ran_out_warning": ran_out,
    }


run("class_weight", 3, "softmax", "sparse_categorical_crossentropy", y3,
    dict(epochs=2, batch_size=8, class_weight={0: 1.0, 1: 3.0, 2: 0.5}))
run("class_weight_binary", 1, "sigmoid", "binary_crossentropy", yb,
    dict(epochs=2, batch_size=8, class_weight={0: 2.0, 1: 0.5}))
run("sample_weight", 3, "softmax", "sparse_categorical_crossentropy", y3,
    dict(epochs=2, batch_size=8, sample_weight=sw, validation_split=0.25))
run("validation_freq", 3, "softmax", "sparse_categorical_crossentropy", y3,
    dict(epochs=4, batch_size=8, validation_data=(xv, yv), validation_freq=2))
run("steps_per_epoch", 3, "softmax", "sparse_categorical_crossentropy", y3,
    dict(epochs=3, batch_size=8, steps_per_epoch=2))

out = {"x": arr(x), "xv": arr(xv), "yv": arr(yv), "sample_weight": arr(sw), "cases": cases,
       "keras": keras.__version__}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json"), "w") as f:
    json.dump(out, f)
print({k: (v["history"], v["ran_out_warning"]) for k, v in cases.items()})
