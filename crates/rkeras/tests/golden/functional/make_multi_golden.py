"""Golden files for a functional model with two inputs, two outputs and a shared layer,
made by real Keras.

Run (Keras 3.15.1, JAX backend):
  KERAS_BACKEND=jax /tmp/kvenv/bin/python crates/rkeras/tests/golden/functional/make_multi_golden.py

The graph: an image input through Conv2D and Flatten; a vector input through a Dense and
through a *shared* Dense (called on the input and on the first Dense's output); all three
concatenated; two heads, `cls` (softmax, sparse categorical cross-entropy, accuracy) and
`reg` (linear, mean squared error with loss weight 0.5, mae). Outputs (committed):
- multi_summary_76.txt: `model.summary()` with stdout not a terminal.
- multi_initial.weights.h5, multi_final.weights.h5: weights before and after two epochs of
  SGD (batch 8, no shuffle) on multi_data.json; multi_history.json: that fit's history and
  `evaluate(return_dict=True)` after it.
- multi_predictions.json: `model.predict` after training, both outputs.
- multi.keras: the trained model (its config.json has two inputs, two outputs and a layer
  with two inbound nodes); multi_legacy.h5: the same in the legacy HDF5 format.
"""
import contextlib
import io
import json
import os

import numpy as np
import keras
from keras import layers

HERE = os.path.dirname(os.path.abspath(__file__))
keras.utils.set_random_seed(5)

img = keras.Input((8, 8, 1), name="img")
meta = keras.Input((4,), name="meta")
x = layers.Conv2D(4, 3, activation="relu")(img)
x = layers.Flatten()(x)
shared = layers.Dense(4, activation="tanh", name="shared")
m1 = shared(meta)
m2 = shared(layers.Dense(4)(meta))
h = layers.Concatenate()([x, m1, m2])
cls = layers.Dense(3, activation="softmax", name="cls")(h)
reg = layers.Dense(1, name="reg")(h)
model = keras.Model([img, meta], [cls, reg], name="multi")


def arr(v):
    v = np.asarray(v, dtype=np.float32)
    return {"shape": list(v.shape), "data": [float(e) for e in v.reshape(-1)]}


rng = np.random.RandomState(3)
x1 = rng.uniform(0, 1, (24, 8, 8, 1)).astype("float32")
x2 = rng.uniform(-1, 1, (24, 4)).astype("float32")
y1 = rng.randint(0, 3, 24).astype("float32")
y2 = rng.uniform(-1, 1, (24, 1)).astype("float32")

model.compile(
    optimizer=keras.optimizers.SGD(0.05),
    loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
    loss_weights={"cls": 1.0, "reg": 0.5},
    metrics={"cls": ["accuracy"], "reg": ["mae"]},
)
os.environ.pop("COLUMNS", None)
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    model.summary()
with open(os.path.join(HERE, "multi_summary_76.txt"), "w", encoding="utf-8") as f:
    f.write(buf.getvalue())
model.save_weights(os.path.join(HERE, "multi_initial.weights.h5"))
hist = model.fit(
    [x1[:16], x2[:16]],
    [y1[:16], y2[:16]],
    validation_data=([x1[16:], x2[16:]], [y1[16:], y2[16:]]),
    epochs=2,
    batch_size=8,
    shuffle=False,
    verbose=0,
)
model.save_weights(os.path.join(HERE, "multi_final.weights.h5"))
ev = model.evaluate([x1, x2], [y1, y2], verbose=0, return_dict=True)
with open(os.path.join(HERE, "multi_data.json"), "w") as f:
    json.dump({"x1": arr(x1), "x2": arr(x2), "y1": arr(y1), "y2": arr(y2)}, f)
with open(os.path.join(HERE, "multi_history.json"), "w") as f:
    json.dump(
        {
            "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()},
            "keys": list(hist.history.keys()),
            "evaluate": {k: float(v) for k, v in ev.items()},
        },
        f,
        indent=1,
    )
p1, p2 = model.predict([x1[:4], x2[:4]], verbose=0)
with open(os.path.join(HERE, "multi_predictions.json"), "w") as f:
    json.dump({"cls": arr(p1), "reg": arr(p2)}, f)
model.save(os.path.join(HERE, "multi.keras"))
model.save(os.path.join(HERE, "multi_legacy.h5"))
print(buf.getvalue())
print(json.dumps(hist.history))
print(ev)
