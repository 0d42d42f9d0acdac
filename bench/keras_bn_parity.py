"""BatchNormalization over many steps, Keras against rkeras from the same initial weights: a
width-8 version of the ResNet of examples/resnet_fashion_mnist.rs, trained by Keras with Adam
for 2 epochs (100 steps, batch 128, no shuffle) on 6,400 Fashion-MNIST images. Writes
DIR/initial.weights.h5, DIR/final.weights.h5, DIR/x.npy, DIR/y.npy and prints the moving
statistics; `cargo run --release -p rkeras --example keras_bn_parity -- DIR` then trains
rkeras the same way and prints the largest difference of every weight.

usage: KERAS_BACKEND=jax /tmp/kvenv/bin/python bench/keras_bn_parity.py DIR
"""
import os
import sys

import numpy as np
import keras

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bnpar"
os.makedirs(OUT, exist_ok=True)
sys.argv = ["keras_resnet.py"]
# The data reader and the blocks of bench/keras_resnet.py (everything before its main part).
exec(open(os.path.join(HERE, "keras_resnet.py")).read().split("epochs = int")[0])
keras.utils.set_random_seed(3)
D = "/usr/share/datasets/fashion-mnist/"
x = idx(D + "train-images-idx3-ubyte.gz").reshape(-1, 28, 28, 1)[:6400].astype("float32") / 255
y = idx(D + "train-labels-idx1-ubyte.gz")[:6400].astype("float32")
w = 8
inputs = keras.Input((28, 28, 1))
h = conv_bn_relu(inputs, w, 1)
h = residual_block(h, w)
h = conv_bn_relu(h, 2 * w, 2)
h = residual_block(h, 2 * w)
h = layers.GlobalAveragePooling2D()(h)
out = layers.Dense(10, activation="softmax")(h)
m = keras.Model(inputs, out, name="resnet")
m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
m.save_weights(OUT + "/initial.weights.h5")
np.save(OUT + "/x.npy", x); np.save(OUT + "/y.npy", y)
hist = m.fit(x, y, batch_size=128, epochs=2, shuffle=False, verbose=2)
m.save_weights(OUT + "/final.weights.h5")
xv = idx(D + "t10k-images-idx3-ubyte.gz").reshape(-1, 28, 28, 1)[:2000].astype("float32") / 255
yv = idx(D + "t10k-labels-idx1-ubyte.gz")[:2000]
print("keras test", m.evaluate(xv, yv, verbose=0))
for l in m.layers:
    if "batch_norm" in l.name:
        print(l.name, "mm", np.round(l.moving_mean.numpy()[:4], 4), "mv", np.round(l.moving_variance.numpy()[:4], 4))
