"""Which order Keras's fit() feeds NumPy arrays in, epoch by epoch, with shuffle=True.

usage: KERAS_BACKEND=tensorflow /tmp/anchors-env/tf/bin/python bench/keras_shuffle_order.py [seed|none]

A one-layer model records the samples of each batch (run eagerly) over 3 epochs of 20
samples. With keras.utils.set_random_seed (as the anchors call it), Keras 3.15.1 on
TensorFlow 2.21 prints the same order for every epoch: its array adapter draws the
permutation with tf.random.shuffle inside a tf.data map, which restarts from the same seed
each epoch. With "none" (no seed call) each epoch gets a new order. rkeras reshuffles every
epoch (BENCHMARKS.md, "W2 accuracy: what differs from Keras").
"""
import sys
import numpy as np
import keras
import tensorflow as tf

if (sys.argv[1] if len(sys.argv) > 1 else "1") != "none":
    keras.utils.set_random_seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
x = np.arange(20, dtype="float32")[:, None]
y = np.zeros((20, 1), "float32")
seen = []


class Record(keras.layers.Layer):
    def call(self, t):
        tf.py_function(lambda v: seen.append(v.numpy().ravel().astype(int).tolist()) or 0, [t], tf.int32)
        return t


model = keras.Sequential([keras.Input((1,)), Record(), keras.layers.Dense(1)])
model.compile("sgd", "mse", run_eagerly=True)
model.fit(x, y, batch_size=5, epochs=3, shuffle=True, verbose=0)
for e in range(3):
    print("epoch", e + 1, sum(seen[e * 4:(e + 1) * 4], []))
