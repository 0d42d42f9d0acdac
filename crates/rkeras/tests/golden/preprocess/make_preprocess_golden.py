"""Golden files for keras.applications' `preprocess_input` called on a symbolic tensor inside a
functional model, made by real Keras. Keras records the preprocessing as operations of the
graph: "caffe" mode (ResNet50/101/152, VGG16/19) as three `GetItem` (`x[..., 2]`,
`x[..., 1]`, `x[..., 0]`), a `Stack(axis=-1)` and an `Add` of a (1, 1, 1, 3) constant tensor
(minus the ImageNet means); "torch" mode (DenseNet) as divisions and additions by numbers
and constant tensors; "tf" mode (ResNetV2, MobileNet, ...) as a division and a subtraction
by numbers.

Run (Keras 3.15.1, JAX backend), from the repository root:
  KERAS_BACKEND=jax /tmp/kenv/bin/python crates/rkeras/tests/golden/preprocess/make_preprocess_golden.py

Outputs, next to this script, for NAME in caffe, torch, tf (the mode), each a small model
Input(8, 8, 3) -> preprocess_input -> Conv2D(4, 3, relu, kernel drawn from N(0, std)) -> GlobalAveragePooling2D ->
Dense(3, softmax), compiled with Adam(1e-3) and categorical cross-entropy:
- NAME.keras: the model with Keras's initial weights (biases random).
- NAME.json: `predict` on fixed pixels in 0..255; training data; the loss of one epoch of
  `fit(batch_size=8, shuffle=False)` and every weight after it.
- NAME_summary_76.txt: `model.summary()` with stdout not a terminal.
"""
import contextlib
import io
import json
import os

import numpy as np
import keras
from keras import layers

HERE = os.path.dirname(os.path.abspath(__file__))
# The mode's function, and the deviation of the convolution's initial weights: small for
# "caffe", whose outputs are pixels minus a mean (about +-128), so that the softmax does not
# saturate (Keras's cross-entropy clips saturated probabilities, and its gradient is then 0).
MODES = {
    "caffe": (keras.applications.resnet50.preprocess_input, 0.003),
    "torch": (keras.applications.densenet.preprocess_input, 0.2),
    "tf": (keras.applications.resnet_v2.preprocess_input, 0.2),
}


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [round(float(v), 8) for v in a.reshape(-1)]}


def model(name, prep, std):
    keras.backend.clear_session()
    keras.utils.set_random_seed(19)
    inp = keras.Input((8, 8, 3))
    x = prep(inp)
    k = keras.initializers.RandomNormal(stddev=std)
    x = layers.Conv2D(4, 3, activation="relu", kernel_initializer=k,
                      bias_initializer="random_normal")(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(3, activation="softmax", bias_initializer="random_normal")(x)
    return keras.Model(inp, out, name=name)


rng = np.random.RandomState(7)
x = np.round(rng.uniform(0, 255, (4, 8, 8, 3))).astype("float32")
xt = np.round(rng.uniform(0, 255, (16, 8, 8, 3))).astype("float32")
yt = np.eye(3, dtype="float32")[rng.randint(0, 3, 16)]
for name, (prep, std) in MODES.items():
    m = model(name, prep, std)
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
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
