"""Golden files for the activation layer classes and activations of issue 19, made by real
Keras.

Run (Keras 3.15.1, JAX backend; `pip install keras jax scipy h5py` in a venv):
  KERAS_BACKEND=jax /tmp/kenv/bin/python crates/rkeras/tests/golden/activations/make_golden.py

Outputs (committed, next to this script):
- activations.keras: a Sequential model using ReLU (plain, max_value=6 as MobileNet's, and
  threshold + negative_slope + max_value), LeakyReLU, ELU, PReLU (shared over the image
  axes, and one slope per value), Softmax, and the activations hard_silu and mish, compiled with SGD(0.1) and categorical cross-entropy; Keras's initial
  weights (biases random).
- activations.json: `model.predict` on fixed inputs; training data; and every weight after
  one epoch of `fit(batch_size=8, shuffle=False)` from those initial weights.
- activations_summary_76.txt: `model.summary()` with stdout not a terminal.
- broadcast.keras, broadcast.json, broadcast_summary_76.txt: the same for a functional model
  whose merge layers broadcast: a squeeze-and-excite block (GlobalAveragePooling2D with
  keepdims, 1x1 convolutions, hard_sigmoid via ReLU(6) as MobileNetV3, Multiply of
  (h, w, c) by (1, 1, c)), an Add of (h, w, c) and (1, w, c), a Subtract and a Maximum of
  (h, w, c) and (1, 1, c).
- apps_layers.keras, apps_layers.json, apps_layers_summary_76.txt: the same for a model with
  keras.applications' own layers, ConvNeXt's LayerScale and InceptionResNetV2's
  CustomScaleLayer.
- normalizations.keras, normalizations.json, normalizations_summary_76.txt: the same for
  GroupNormalization (3 groups with random gamma and beta; 4 groups of one channel, as
  instance normalization) and UnitNormalization.
"""
import contextlib
import io
import json
import os

import numpy as np
import keras
from keras import layers

HERE = os.path.dirname(os.path.abspath(__file__))
keras.utils.set_random_seed(19)
B = "random_normal"

seq = keras.Sequential(
    [
        keras.Input((6, 6, 2)),
        layers.Conv2D(4, 3, padding="same", bias_initializer=B),
        layers.ReLU(max_value=6.0),
        layers.Conv2D(4, 3, bias_initializer=B),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(6, 1, bias_initializer=B),
        layers.ELU(alpha=0.7),
        layers.Conv2D(6, 1, bias_initializer=B),
        layers.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2),
        layers.Conv2D(6, 1, bias_initializer=B, activation="hard_silu"),
        layers.PReLU(alpha_initializer="random_uniform", shared_axes=[1, 2]),
        layers.Conv2D(6, 1, bias_initializer=B, activation="mish"),
        layers.ReLU(),
        layers.Flatten(),
        layers.Dense(5, bias_initializer=B),
        layers.PReLU(alpha_initializer="random_normal"),
        layers.Dense(3, bias_initializer=B),
        layers.Softmax(),
    ],
    name="activations",
)

inp = keras.Input((6, 6, 2))
x = layers.Conv2D(4, 3, padding="same", bias_initializer=B)(inp)
x = layers.PReLU(alpha_initializer="random_uniform", shared_axes=[1, 2])(x)
se = layers.GlobalAveragePooling2D(keepdims=True)(x)
se = layers.Conv2D(2, 1, activation="relu", bias_initializer=B)(se)
se = layers.Conv2D(4, 1, bias_initializer=B)(se)
se = layers.ReLU(6.0)(layers.Rescaling(1.0, offset=3.0)(se))
se = layers.Rescaling(1.0 / 6.0)(se)
x = layers.Multiply()([x, se])
row = layers.AveragePooling2D((6, 1))(x)
x = layers.Add()([x, row])
x = layers.Subtract()([x, se])
x = layers.Maximum()([x, layers.Conv2D(4, 1, bias_initializer=B)(se)])
x = layers.ELU()(x)
x = layers.Flatten()(x)
out = layers.Dense(3, activation="softmax", bias_initializer=B)(x)
fun = keras.Model(inp, out, name="broadcast")

# keras.applications' own layers: ConvNeXt's LayerScale, InceptionResNetV2's CustomScaleLayer.
from keras.src.applications.convnext import LayerScale  # noqa: E402
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer  # noqa: E402

inp = keras.Input((6, 6, 2))
a = layers.Conv2D(4, 3, padding="same", bias_initializer=B)(inp)
b = layers.Conv2D(4, 1, activation="relu", bias_initializer=B)(a)
b = LayerScale(0.5, 4)(b)
x = CustomScaleLayer(0.17)([a, b])
x = layers.GlobalAveragePooling2D()(x)
out = layers.Dense(3, activation="softmax", bias_initializer=B)(x)
apps = keras.Model(inp, out, name="apps_layers")

norms = keras.Sequential(
    [
        keras.Input((6, 6, 2)),
        layers.Conv2D(6, 3, padding="same", bias_initializer=B),
        layers.GroupNormalization(3, gamma_initializer="random_uniform", beta_initializer=B),
        layers.Conv2D(4, 1, bias_initializer=B),
        layers.GroupNormalization(4, epsilon=0.01),
        layers.Flatten(),
        layers.Dense(5, bias_initializer=B),
        layers.UnitNormalization(),
        layers.Dense(3, activation="softmax", bias_initializer=B),
    ],
    name="normalizations",
)


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [round(float(v), 8) for v in a.reshape(-1)]}


rng = np.random.RandomState(5)
x = rng.uniform(-1.5, 1.5, (4, 6, 6, 2)).astype("float32")
xt = rng.uniform(-1.5, 1.5, (24, 6, 6, 2)).astype("float32")
yt = np.eye(3, dtype="float32")[rng.randint(0, 3, 24)]
for name, m in [
    ("activations", seq),
    ("broadcast", fun),
    ("apps_layers", apps),
    ("normalizations", norms),
]:
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    m.save(os.path.join(HERE, f"{name}.keras"))
    os.environ.pop("COLUMNS", None)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        m.summary()
    with open(os.path.join(HERE, f"{name}_summary_76.txt"), "w", encoding="utf-8") as f:
        f.write(buf.getvalue())
    print(buf.getvalue())
    out = {"inputs": arr(x), "outputs": arr(m.predict(x, verbose=0)), "x": arr(xt), "y": arr(yt)}
    h = m.fit(xt, yt, epochs=1, batch_size=8, shuffle=False, verbose=0)
    out["loss"] = float(h.history["loss"][0])
    out["final"] = [arr(w) for w in m.get_weights()]
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump(out, f)
