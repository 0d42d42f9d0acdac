"""Golden files for the layers of issue 6 (BatchNormalization & co.), made by real Keras.

Run (Keras 3.15.1, JAX backend; any backend works):
  KERAS_BACKEND=jax /tmp/kvenv/bin/python crates/rkeras/tests/golden/layers/make_layers_golden.py

Outputs (committed, next to this script):
- blocks.keras: a Sequential model with every new layer, trained for 2 epochs so that the
  BatchNormalization moving statistics are not their initial values.
- blocks_predictions.json: `model.predict` (inference) on fixed inputs.
- blocks_summary_76.txt: `model.summary()` with stdout not a terminal.
- parity_initial.weights.h5 / parity_final.weights.h5 / parity.json: the same architecture
  without SpatialDropout2D, its initial weights, the data, and the weights after one epoch of
  SGD (batch 8, no shuffle), moving statistics included: rkeras trains from the same
  initial weights on the same data and must land on the same weights.
"""
import contextlib
import io
import json
import os

import numpy as np
import keras
from keras import layers

HERE = os.path.dirname(os.path.abspath(__file__))
keras.utils.set_random_seed(7)


def blocks(name, dropout=True):
    body = [
        keras.Input((8, 8, 3)),
        layers.Conv2D(4, 3, padding="same"),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.ZeroPadding2D(((1, 0), (0, 1))),
        layers.Cropping2D(((0, 1), (1, 0))),
        layers.UpSampling2D(2),
        layers.MaxPooling2D(2),
    ]
    if dropout:
        body.append(layers.SpatialDropout2D(0.2))
    body += [
        layers.Conv2D(6, 3),
        layers.BatchNormalization(center=False, momentum=0.9),
        layers.GlobalAveragePooling2D(),
        layers.Reshape((2, 3)),
        layers.Permute((2, 1)),
        layers.LayerNormalization(),
        layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ]
    return keras.Sequential(body, name=name)


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.reshape(-1)]}


rng = np.random.RandomState(0)
x = rng.uniform(0, 1, (32, 8, 8, 3)).astype("float32")
y = keras.utils.to_categorical(rng.randint(0, 3, 32), 3)

m = blocks("blocks")
m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
m.fit(x, y, epochs=2, batch_size=8, verbose=0)
m.save(os.path.join(HERE, "blocks.keras"))
x_test = rng.uniform(0, 1, (4, 8, 8, 3)).astype("float32")
with open(os.path.join(HERE, "blocks_predictions.json"), "w") as f:
    json.dump({"inputs": arr(x_test), "outputs": arr(m.predict(x_test, verbose=0))}, f)
os.environ.pop("COLUMNS", None)
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    m.summary()
with open(os.path.join(HERE, "blocks_summary_76.txt"), "w", encoding="utf-8") as f:
    f.write(buf.getvalue())

p = blocks("parity", dropout=False)
p.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
p.save_weights(os.path.join(HERE, "parity_initial.weights.h5"))
x_train, y_train = x[:16], y[:16]
p.fit(x_train, y_train, epochs=1, batch_size=8, shuffle=False, verbose=0)
p.save_weights(os.path.join(HERE, "parity_final.weights.h5"))
with open(os.path.join(HERE, "parity.json"), "w") as f:
    json.dump({"x": arr(x_train), "y": arr(y_train)}, f)
print("wrote", sorted(os.listdir(HERE)))
