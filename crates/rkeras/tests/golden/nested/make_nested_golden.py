"""Golden files for nested models (a model used as a layer of another), made by real Keras.

Run (Keras 3.15.1, JAX backend):
  KERAS_BACKEND=jax python crates/rkeras/tests/golden/nested/make_nested_golden.py

- scratch.keras, scratch_summary_76.txt, scratch_predictions.json: the keras.io "Image
  classification from scratch" model, narrower and at 32x32: a Sequential augmentation
  block nested in a functional model, residual SeparableConv2D blocks; BatchNormalization
  statistics randomised so that inference exercises them.
- transfer_*: the keras.io transfer-learning recipe on a small backbone. A Sequential
  preprocessing block and a functional `base` (Conv2D, BatchNormalization, ReLU twice)
  called with training=False, then GlobalAveragePooling2D and Dense. Phase 1 freezes the
  base (base.trainable = False) and trains one epoch with Adam(1e-2); phase 2 unfreezes it
  and trains one epoch with Adam(1e-3) (BatchNormalization stays in inference mode).
  transfer_initial/phase1/phase2.weights.h5, transfer_data.json, transfer_summary_76.txt,
  transfer.keras (after phase 2), transfer_predictions.json.
- holder.keras, holder_summary_76.txt, holder_predictions.json: a Sequential model whose
  entries are a Sequential and a functional model, then Flatten and Dense.
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


def randomise_bn(model, rng):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            randomise_bn(layer, rng)
        elif isinstance(layer, layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, g.shape).astype("float32"),
                rng.uniform(-0.2, 0.2, b.shape).astype("float32"),
                rng.uniform(-0.2, 0.2, m.shape).astype("float32"),
                rng.uniform(0.5, 1.5, v.shape).astype("float32"),
            ])


# --- The keras.io "Image classification from scratch" model ---------------------------
keras.utils.set_random_seed(5)
data_augmentation = keras.Sequential(
    [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)], name="data_augmentation"
)
inputs = keras.Input(shape=(32, 32, 3))
x = data_augmentation(inputs)
x = layers.Rescaling(1.0 / 255)(x)
x = layers.Conv2D(8, 3, strides=2, padding="same")(x)
x = layers.BatchNormalization()(x)
x = layers.Activation("relu")(x)
previous_block_activation = x
for size in [16, 24]:
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(size, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(size, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous_block_activation)
    x = layers.add([x, residual])
    previous_block_activation = x
x = layers.SeparableConv2D(32, 3, padding="same")(x)
x = layers.BatchNormalization()(x)
x = layers.Activation("relu")(x)
x = layers.GlobalAveragePooling2D()(x)
x = layers.Dropout(0.25)(x)
outputs = layers.Dense(1, activation=None)(x)
scratch = keras.Model(inputs, outputs, name="scratch")
rng = np.random.RandomState(3)
randomise_bn(scratch, rng)
scratch.compile(keras.optimizers.Adam(3e-4), keras.losses.BinaryCrossentropy(from_logits=True),
                metrics=[keras.metrics.BinaryAccuracy(name="acc")])
summary(scratch, "scratch_summary_76.txt")
xs = rng.uniform(0, 255, (3, 32, 32, 3)).astype("float32")
with open(os.path.join(HERE, "scratch_predictions.json"), "w") as f:
    json.dump({"inputs": arr(xs), "outputs": arr(scratch.predict(xs, verbose=0))}, f)
scratch.save(os.path.join(HERE, "scratch.keras"))

# --- Transfer learning, frozen base then fine-tuning -----------------------------------
keras.utils.set_random_seed(7)
prep = keras.Sequential([keras.Input((8, 8, 3)), layers.Rescaling(0.5, offset=-0.25)], name="prep")
binp = keras.Input((8, 8, 3))
b = layers.Conv2D(4, 3, padding="same", name="b_conv1")(binp)
b = layers.BatchNormalization(name="b_bn1")(b)
b = layers.ReLU(name="b_relu1")(b)
b = layers.Conv2D(6, 3, strides=2, name="b_conv2")(b)
b = layers.BatchNormalization(name="b_bn2")(b)
b = layers.ReLU(name="b_relu2")(b)
base = keras.Model(binp, b, name="base")
randomise_bn(base, np.random.RandomState(4))
inp = keras.Input((8, 8, 3), name="image")
x = prep(inp)
x = base(x, training=False)
x = layers.GlobalAveragePooling2D(name="pool")(x)
out = layers.Dense(3, name="head")(x)
transfer = keras.Model(inp, out, name="transfer")
rng = np.random.RandomState(8)
x_train = rng.uniform(0, 1, (16, 8, 8, 3)).astype("float32")
y_train = rng.randint(0, 3, 16).astype("float32")
with open(os.path.join(HERE, "transfer_data.json"), "w") as f:
    json.dump({"x": arr(x_train), "y": arr(y_train)}, f)
transfer.save_weights(os.path.join(HERE, "transfer_initial.weights.h5"))
base.trainable = False
transfer.compile(keras.optimizers.Adam(1e-2),
                 keras.losses.SparseCategoricalCrossentropy(from_logits=True))
summary(transfer, "transfer_summary_76.txt")
h1 = transfer.fit(x_train, y_train, epochs=1, batch_size=8, shuffle=False, verbose=0)
transfer.save_weights(os.path.join(HERE, "transfer_phase1.weights.h5"))
base.trainable = True
transfer.compile(keras.optimizers.Adam(1e-3),
                 keras.losses.SparseCategoricalCrossentropy(from_logits=True))
h2 = transfer.fit(x_train, y_train, epochs=1, batch_size=8, shuffle=False, verbose=0)
transfer.save_weights(os.path.join(HERE, "transfer_phase2.weights.h5"))
transfer.save(os.path.join(HERE, "transfer.keras"))
with open(os.path.join(HERE, "transfer_predictions.json"), "w") as f:
    json.dump({"inputs": arr(x_train[:4]), "outputs": arr(transfer.predict(x_train[:4], verbose=0)),
               "loss1": h1.history["loss"][0], "loss2": h2.history["loss"][0]}, f)

# --- A Sequential model holding models --------------------------------------------------
keras.utils.set_random_seed(9)
inner = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(3, 3, padding="same", name="s_conv")],
                         name="inner_seq")
finp = keras.Input((8, 8, 3))
f = layers.Conv2D(4, 3, name="f_conv")(finp)
f = layers.BatchNormalization(name="f_bn")(f)
feat = keras.Model(finp, f, name="features")
randomise_bn(feat, np.random.RandomState(10))
holder = keras.Sequential([keras.Input((8, 8, 3)), inner, feat, layers.Flatten(name="flat"),
                           layers.Dense(2, activation="softmax", name="out")], name="holder")
summary(holder, "holder_summary_76.txt")
xs = np.random.RandomState(11).uniform(0, 1, (3, 8, 8, 3)).astype("float32")
with open(os.path.join(HERE, "holder_predictions.json"), "w") as f:
    json.dump({"inputs": arr(xs), "outputs": arr(holder.predict(xs, verbose=0))}, f)
holder.save(os.path.join(HERE, "holder.keras"))
