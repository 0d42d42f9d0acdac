"""Golden files for the functional API, made by real Keras.

Run (Keras 3.15.1, JAX backend):
  KERAS_BACKEND=jax /tmp/kvenv/bin/python crates/rkeras/tests/golden/functional/make_functional_golden.py

A functional model with a residual block (fan-out + Add), a Concatenate of two branches, two
global poolings merged by Average, Maximum and Subtract. Outputs (committed):
- summary_76.txt: `model.summary()` with stdout not a terminal (the "Connected to" table).
- initial.weights.h5, final.weights.h5: the weights before and after one epoch of SGD
  (batch 8, no shuffle) on data.json; predictions.json: `model.predict` after training.
- residual.keras: the trained model (its config.json is Keras's Functional config).
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

inputs = keras.Input((8, 8, 3))
x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
y = layers.Conv2D(4, 3, padding="same")(x)
y = layers.BatchNormalization()(y)
z = layers.Add()([x, y])
z = layers.Activation("relu")(z)
a = layers.Conv2D(2, 1)(z)
c = layers.Concatenate()([a, z])
p = layers.GlobalAveragePooling2D()(c)
q = layers.GlobalMaxPooling2D()(c)
r = layers.Average()([p, q])
s = layers.Maximum()([p, q])
t = layers.Subtract()([r, s])
u = layers.Concatenate()([r, t])
outputs = layers.Dense(3, activation="softmax")(u)
model = keras.Model(inputs, outputs, name="residual")


def arr(v):
    v = np.asarray(v, dtype=np.float32)
    return {"shape": list(v.shape), "data": [float(e) for e in v.reshape(-1)]}


rng = np.random.RandomState(1)
x_train = rng.uniform(0, 1, (16, 8, 8, 3)).astype("float32")
y_train = keras.utils.to_categorical(rng.randint(0, 3, 16), 3)
x_test = rng.uniform(0, 1, (4, 8, 8, 3)).astype("float32")

model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
os.environ.pop("COLUMNS", None)
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    model.summary()
with open(os.path.join(HERE, "summary_76.txt"), "w", encoding="utf-8") as f:
    f.write(buf.getvalue())
model.save_weights(os.path.join(HERE, "initial.weights.h5"))
model.fit(x_train, y_train, epochs=1, batch_size=8, shuffle=False, verbose=0)
model.save_weights(os.path.join(HERE, "final.weights.h5"))
with open(os.path.join(HERE, "data.json"), "w") as f:
    json.dump({"x": arr(x_train), "y": arr(y_train)}, f)
with open(os.path.join(HERE, "predictions.json"), "w") as f:
    json.dump({"inputs": arr(x_test), "outputs": arr(model.predict(x_test, verbose=0))}, f)
model.save(os.path.join(HERE, "residual.keras"))
print(buf.getvalue())
