"""A legacy (Keras 2 layout) weights-only `.h5` file, as keras.applications publishes its
weights, written by Keras 3's own legacy writer.

Run (Keras 3.15.1, JAX backend; `pip install keras jax scipy h5py` in a venv):
  KERAS_BACKEND=jax /tmp/kenv/bin/python crates/rkeras/tests/golden/saving/make_legacy_weights_golden.py

Outputs (next to this script):
- legacy_weights.h5: `save_weights_to_hdf5_group` of a small CNN (Conv2D, BatchNormalization
  with random statistics, Conv2D, GlobalAveragePooling2D, Dense "head") at the file's root.
- legacy_weights.json: {"config": model.to_json(), "inputs": ..., "outputs": ...}.
"""
import json
import os

import h5py
import numpy as np
import keras
from keras import layers
from keras.src.legacy.saving import legacy_h5_format

HERE = os.path.dirname(os.path.abspath(__file__))
keras.utils.set_random_seed(23)
B = "random_normal"
m = keras.Sequential(
    [
        keras.Input((8, 8, 3)),
        layers.Conv2D(4, 3, name="conv_a", bias_initializer=B),
        layers.BatchNormalization(name="bn"),
        layers.ReLU(),
        layers.Conv2D(6, 3, name="conv_b", bias_initializer=B),
        layers.GlobalAveragePooling2D(),
        layers.Dense(5, name="head", bias_initializer=B),
    ],
    name="backbone",
)
rng = np.random.RandomState(1)
bn = m.get_layer("bn")
bn.moving_mean.assign(rng.uniform(-0.5, 0.5, 4).astype("float32"))
bn.moving_variance.assign(rng.uniform(0.5, 1.5, 4).astype("float32"))
bn.gamma.assign(rng.uniform(0.5, 1.5, 4).astype("float32"))
bn.beta.assign(rng.uniform(-0.5, 0.5, 4).astype("float32"))


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


with h5py.File(os.path.join(HERE, "legacy_weights.h5"), "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, m)
x = rng.uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
with open(os.path.join(HERE, "legacy_weights.json"), "w") as f:
    json.dump({"config": json.loads(m.to_json()), "inputs": arr(x),
               "outputs": arr(m.predict(x, verbose=0))}, f)
# Keras's own by_name + skip_mismatch into a model with another head: the base loads.
other = keras.Sequential(
    [keras.Input((8, 8, 3))] + [l.__class__.from_config(l.get_config()) for l in m.layers[:-1]]
    + [layers.Dense(3, name="head")]
)
other.load_weights(os.path.join(HERE, "legacy_weights.h5"), by_name=True, skip_mismatch=True)
assert np.allclose(other.get_layer("conv_b").get_weights()[0], m.get_layer("conv_b").get_weights()[0])
print("written; by_name + skip_mismatch loads the base in Keras too")
