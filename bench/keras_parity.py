"""Keras side of the parity check (see crates/rkeras/examples/keras_parity.rs): the Keras MNIST
convnet without dropout, seed 7, trained 2 epochs on the first 6400 Fashion-MNIST images in
order (no shuffle); writes the initial and final weights as raw little-endian f32 files.

usage: KERAS_BACKEND=jax /tmp/kvenv/bin/python bench/keras_parity.py /tmp/parity
"""
import os, sys, numpy as np
os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "anchors"))
from common import fashion_mnist
import keras
from keras import layers
keras.utils.set_random_seed(7)
xtr, ytr, xte, yte = fashion_mnist()
x = xtr[:6400, ..., None]; y = keras.utils.to_categorical(ytr[:6400], 10)
model = keras.Sequential([keras.Input((28, 28, 1)),
    layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
    layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
    layers.Flatten(), layers.Dense(10, activation="softmax")])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/parity"
os.makedirs(out, exist_ok=True)
for i, w in enumerate(model.get_weights()):
    w.astype("<f4").tofile(f"{out}/init_{i}.bin")
h = model.fit(x, y, batch_size=128, epochs=2, shuffle=False, verbose=0)
print("keras history", {k: [round(v, 5) for v in vs] for k, vs in h.history.items()})
for i, w in enumerate(model.get_weights()):
    w.astype("<f4").tofile(f"{out}/final_{i}.bin")
print("keras eval", model.evaluate(xte[..., None], keras.utils.to_categorical(yte, 10), verbose=0))
