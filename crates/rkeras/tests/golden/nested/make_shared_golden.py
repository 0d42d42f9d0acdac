"""Golden files for a nested model called twice (shared: a siamese network), made by real Keras.

Run (Keras 3.15.1, JAX backend), from the repository root:
  KERAS_BACKEND=jax /tmp/kenv/bin/python crates/rkeras/tests/golden/nested/make_shared_golden.py

- siamese.keras, siamese_summary_76.txt, siamese.json: a Sequential `encoder` (Conv2D with
  ReLU, BatchNormalization with randomised statistics, Flatten, Dense) called on two inputs
  `left` and `right`; `Subtract` of the two codes, then `Dense(1, sigmoid)`. Compiled with
  Adam(1e-2) and binary cross-entropy, saved with Keras's initial weights. siamese.json:
  `predict` on fixed pairs; training pairs and labels; the loss of one epoch of
  `fit(batch_size=8, shuffle=False)` (two steps) and every weight after it (the encoder's
  once: its gradients are summed over both calls, and BatchNormalization's moving statistics
  move once per call, first for `left`, then for `right`).
- siamese_trained.weights.h5: the weights after that epoch.
- twin_tower.keras, twin_tower_summary_76.txt, twin_tower.json: the same for a functional
  `tower` (Dense, a residual Dense + Add, LayerNormalization) called on two inputs, the two
  outputs concatenated, then `Dense(3, softmax)`; Adam(1e-2) and categorical cross-entropy.
- chained.keras, chained_summary_76.txt, chained.json: a Sequential `base` (Dense(3) named
  `d`) called on its own output (`base(base(x))`), then `Dense(2)` named `top`;
  `predict` on fixed inputs.
- unused_first_summary_76.txt: `base` called on an input the model does not take, then on
  the model's input `x2`, then `Dense(2)` named `top2`: the model holds the second call only.
- two_way.keras, two_way_summary_76.txt, two_way.json: a functional `inner` with two inputs
  and two outputs (`s = dd(p) + q`, `t = tt(s)`) called on `(x, y)`, then on `(s1, y)`; the
  model's outputs are `s2` (Keras writes it `["inner", 2, 0]` in `output_layers`: a nested
  functional model's own node counts there) and `Concatenate([t1, t2])` (`t1` is
  `["inner", 0, 1]`); `predict` on fixed inputs (one array per output).
"""
import contextlib
import io
import json
import os

import numpy as np
import keras
from keras import layers

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.pop("COLUMNS", None)


def arr(v):
    v = np.asarray(v, dtype=np.float32)
    return {"shape": list(v.shape), "data": [float(e) for e in v.reshape(-1)]}


def summary(model, name):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        model.summary()
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        f.write(buf.getvalue())
    print(buf.getvalue())


def run(model, name, inputs, xs, ys):
    summary(model, f"{name}_summary_76.txt")
    model.save(os.path.join(HERE, f"{name}.keras"))
    out = {"inputs": [arr(v) for v in inputs],
           "outputs": arr(model.predict(inputs, verbose=0)),
           "x": [arr(v) for v in xs], "y": arr(ys)}
    h = model.fit(xs, ys, epochs=1, batch_size=8, shuffle=False, verbose=0)
    out["loss"] = float(h.history["loss"][0])
    out["final"] = [arr(w) for w in model.get_weights()]
    out["final_outputs"] = arr(model.predict(inputs, verbose=0))
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump(out, f)
    return model


# --- A siamese network: a Sequential encoder called twice ------------------------------
keras.backend.clear_session()
keras.utils.set_random_seed(21)
encoder = keras.Sequential(
    [
        keras.Input((6, 6, 2)),
        layers.Conv2D(3, 3, activation="relu", name="enc_conv"),
        layers.BatchNormalization(name="enc_bn"),
        layers.Flatten(name="enc_flat"),
        layers.Dense(4, name="enc_dense"),
    ],
    name="encoder",
)
rng = np.random.RandomState(22)
bn = encoder.get_layer("enc_bn")
g, b, m, v = bn.get_weights()
bn.set_weights([rng.uniform(0.5, 1.5, g.shape).astype("float32"),
                rng.uniform(-0.2, 0.2, b.shape).astype("float32"),
                rng.uniform(-0.2, 0.2, m.shape).astype("float32"),
                rng.uniform(0.5, 1.5, v.shape).astype("float32")])
left = keras.Input((6, 6, 2), name="left")
right = keras.Input((6, 6, 2), name="right")
d = layers.Subtract(name="difference")([encoder(left), encoder(right)])
out = layers.Dense(1, activation="sigmoid", name="same")(d)
siamese = keras.Model([left, right], out, name="siamese")
siamese.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
pairs = [rng.uniform(-1, 1, (4, 6, 6, 2)).astype("float32") for _ in range(2)]
xs = [rng.uniform(-1, 1, (16, 6, 6, 2)).astype("float32") for _ in range(2)]
ys = rng.randint(0, 2, (16, 1)).astype("float32")
run(siamese, "siamese", pairs, xs, ys)
siamese.save_weights(os.path.join(HERE, "siamese_trained.weights.h5"))

# --- A functional tower called twice ---------------------------------------------------
keras.backend.clear_session()
keras.utils.set_random_seed(23)
tin = keras.Input((5,), name="tower_in")
t = layers.Dense(6, activation="tanh", name="t_dense1")(tin)
r = layers.Dense(6, name="t_dense2")(t)
t = layers.Add(name="t_add")([t, r])
t = layers.LayerNormalization(name="t_norm")(t)
tower = keras.Model(tin, t, name="tower")
a = keras.Input((5,), name="a")
b = keras.Input((5,), name="b")
x = layers.Concatenate(name="both")([tower(a), tower(b)])
out = layers.Dense(3, activation="softmax", name="head")(x)
twin = keras.Model([a, b], out, name="twin_tower")
twin.compile(keras.optimizers.Adam(1e-2), "categorical_crossentropy")
rng = np.random.RandomState(24)
pairs = [rng.uniform(-1, 1, (4, 5)).astype("float32") for _ in range(2)]
xs = [rng.uniform(-1, 1, (16, 5)).astype("float32") for _ in range(2)]
ys = np.eye(3, dtype="float32")[rng.randint(0, 3, 16)]
run(twin, "twin_tower", pairs, xs, ys)

# --- A nested model called on its own output; a call outside the model ------------------
keras.backend.clear_session()
keras.utils.set_random_seed(25)
base = keras.Sequential([keras.Input((3,)), layers.Dense(3, name="d")], name="base")
x = keras.Input((3,), name="x")
y = layers.Dense(2, name="top")(base(base(x)))
chained = keras.Model(x, y, name="chained")
summary(chained, "chained_summary_76.txt")
chained.save(os.path.join(HERE, "chained.keras"))
xs = np.random.RandomState(26).uniform(-1, 1, (4, 3)).astype("float32")
with open(os.path.join(HERE, "chained.json"), "w") as f:
    json.dump({"inputs": arr(xs), "outputs": arr(chained.predict(xs, verbose=0))}, f)
base(keras.Input((3,), name="x1"))
x2 = keras.Input((3,), name="x2")
unused = keras.Model(x2, layers.Dense(2, name="top2")(base(x2)), name="unused_first")
summary(unused, "unused_first_summary_76.txt")

# --- A functional model with two inputs and two outputs, called twice --------------------
keras.backend.clear_session()
keras.utils.set_random_seed(27)
p_in = keras.Input((3,), name="p")
q_in = keras.Input((3,), name="q")
s_out = layers.Add(name="plus")([layers.Dense(3, name="dd")(p_in), q_in])
t_out = layers.Dense(2, name="tt")(s_out)
inner = keras.Model([p_in, q_in], [s_out, t_out], name="inner")
x = keras.Input((3,), name="x")
y = keras.Input((3,), name="y")
s1, t1 = inner([x, y])
s2, t2 = inner([s1, y])
both = layers.Concatenate(name="both")([t1, t2])
two_way = keras.Model([x, y], [s2, both], name="two_way")
summary(two_way, "two_way_summary_76.txt")
two_way.save(os.path.join(HERE, "two_way.keras"))
rng = np.random.RandomState(28)
xs = [rng.uniform(-1, 1, (4, 3)).astype("float32") for _ in range(2)]
with open(os.path.join(HERE, "two_way.json"), "w") as f:
    json.dump({"inputs": [arr(v) for v in xs],
               "outputs": [arr(v) for v in two_way.predict(xs, verbose=0)]}, f)
print(json.loads(two_way.to_json())["config"]["output_layers"])
