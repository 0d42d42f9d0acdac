"""Generates the Keras 3 golden files the Rust tests compare against.

Run with real Keras (no TensorFlow needed):
    python3 -m venv /tmp/kvenv && /tmp/kvenv/bin/pip install keras==3.15.1 jax scipy h5py pillow
    KERAS_BACKEND=jax /tmp/kvenv/bin/python make_golden.py
Outputs (committed): seed_summary_76.txt (non-TTY default, after one training step so the
"Optimizer params" line appears), seed_summary_cols200.txt / _cols100.txt (COLUMNS set),
seed_summary_ll108_cols200.txt (line_length=108), seed_summary_compiled.txt (compiled, not
trained), mnist_convnet_summary_76.txt.
"""
import io
import os
import contextlib

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np
import keras
from keras import layers

HERE = os.path.dirname(os.path.abspath(__file__))


def seed_model():
    keras.backend.clear_session()
    return keras.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(64, 64, 3)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])


def mnist_convnet():
    keras.backend.clear_session()
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def capture(model, line_length=None, columns=None):
    if columns is None:
        os.environ.pop("COLUMNS", None)
    else:
        os.environ["COLUMNS"] = str(columns)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        model.summary(line_length=line_length)
    return buf.getvalue()


def write(name, text):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        f.write(text)


m = seed_model()
m.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
write("seed_summary_compiled.txt", capture(m))
x = np.random.RandomState(0).rand(4, 64, 64, 3).astype("float32")
y = keras.utils.to_categorical([0, 1, 2, 3], 10)
m.fit(x, y, epochs=1, batch_size=4, verbose=0)
write("seed_summary_76.txt", capture(m))
# Default line length with a wide terminal: min(88, columns - 4).
write("seed_summary_cols200.txt", capture(m, columns=200))
write("seed_summary_cols100.txt", capture(m, columns=100))
write("seed_summary_ll108_cols200.txt", capture(m, 108, columns=200))
m2 = mnist_convnet()
write("mnist_convnet_summary_76.txt", capture(m2))
print("ok")
