"""Golden for RandomShear, RandomPerspective, RandomErasing and RandomGaussianBlur.

Run with Keras 3.15 (any backend; made with JAX):

    KERAS_BACKEND=jax python make_geometry_golden.py

Writes, next to this file:
  * geometry.keras: Input(6, 7, 3) -> the four augmentation layers -> Conv2D(2, 3),
    saved by `model.save`;
  * geometry_golden.json: an input batch, Keras's inference prediction (the augmentation
    layers are the identity there) and each augmentation layer's `get_config()`.

RandomShear gets a non-negative x_factor pair: Keras 3.15 cannot reload its own config
of a number factor (it writes (-f, f) and then refuses the negative bound).
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

keras.utils.set_random_seed(7)
layers = [
    keras.layers.RandomShear(
        x_factor=(0.1, 0.3), y_factor=0.0, fill_mode="constant", seed=1
    ),
    keras.layers.RandomPerspective(factor=(0.2, 0.9), scale=0.4, seed=2),
    keras.layers.RandomErasing(factor=0.5, scale=(0.1, 0.2), fill_value=3.0, seed=3),
    keras.layers.RandomGaussianBlur(
        factor=0.7, kernel_size=5, sigma=(0.3, 0.9), value_range=(0, 1), seed=4
    ),
]
model = keras.Sequential(
    [keras.Input((6, 7, 3))] + layers + [keras.layers.Conv2D(2, 3, name="conv")]
)
model.save(os.path.join(HERE, "geometry.keras"))

x = np.random.RandomState(0).uniform(0, 1, (2, 6, 7, 3)).astype("float32")
y = np.asarray(model.predict(x, verbose=0))
back = keras.saving.load_model(os.path.join(HERE, "geometry.keras"))
assert np.allclose(np.asarray(back.predict(x, verbose=0)), y)


def plain(v):
    if isinstance(v, (tuple, list)):
        return [plain(i) for i in v]
    return v


out = {
    "keras_version": keras.__version__,
    "input": {"shape": list(x.shape), "data": x.reshape(-1).tolist()},
    "output": {"shape": list(y.shape), "data": y.reshape(-1).tolist()},
    "configs": {
        type(l).__name__: {k: plain(v) for k, v in l.get_config().items() if k != "dtype"}
        for l in layers
    },
}
with open(os.path.join(HERE, "geometry_golden.json"), "w") as f:
    json.dump(out, f, indent=1)
