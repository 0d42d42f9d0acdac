"""Golden files for the convolution-family layers of issue 6 item 2, made by real Keras.

Run (Keras 3.15.1, JAX backend):
  KERAS_BACKEND=jax /tmp/kvenv/bin/python crates/rkeras/tests/golden/layers/make_convs_golden.py

Outputs (committed, next to this script):
- convs.keras: a Sequential model with grouped + dilated Conv2D, bilinear UpSampling2D,
  SeparableConv2D (depth_multiplier 2, strides 2, same), and Conv2DTranspose with strides 2
  (valid; same with an even kernel; same with output_padding) and with dilation 2. Weights
  are Keras's random initial ones, biases random too (nothing here needs training).
- convs_predictions.json: `model.predict` on fixed inputs.
- convs_summary_76.txt: `model.summary()` with stdout not a terminal.
"""
import contextlib
import io
import json
import os

import numpy as np
import keras
from keras import layers

HERE = os.path.dirname(os.path.abspath(__file__))
keras.utils.set_random_seed(11)
B = "random_normal"

m = keras.Sequential(
    [
        keras.Input((5, 5, 4)),
        layers.Conv2D(6, 3, groups=2, dilation_rate=2, padding="same",
                      activation="relu", bias_initializer=B),
        layers.UpSampling2D(2, interpolation="bilinear"),
        layers.SeparableConv2D(8, 3, depth_multiplier=2, strides=2, padding="same",
                               activation="tanh", bias_initializer=B),
        layers.Conv2DTranspose(6, 3, strides=2, padding="valid", bias_initializer=B),
        layers.Conv2D(4, 3, strides=3, groups=2, bias_initializer=B),
        layers.Conv2DTranspose(4, 3, dilation_rate=2, padding="same", bias_initializer=B),
        layers.Conv2DTranspose(4, 4, strides=2, padding="same", activation="elu",
                               bias_initializer=B),
        layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1,
                               bias_initializer=B),
    ],
    name="convs",
)


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [round(float(v), 7) for v in a.reshape(-1)]}


rng = np.random.RandomState(3)
x = rng.uniform(-1, 1, (2, 5, 5, 4)).astype("float32")
m.save(os.path.join(HERE, "convs.keras"))
with open(os.path.join(HERE, "convs_predictions.json"), "w") as f:
    json.dump({"inputs": arr(x), "outputs": arr(m.predict(x, verbose=0))}, f)
os.environ.pop("COLUMNS", None)
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    m.summary()
with open(os.path.join(HERE, "convs_summary_76.txt"), "w", encoding="utf-8") as f:
    f.write(buf.getvalue())
print(buf.getvalue())
