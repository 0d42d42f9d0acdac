"""The ResNet of crates/rkeras/examples/resnet_fashion_mnist.rs, in Python Keras, on the same
Fashion-MNIST files (Debian's dataset-fashion-mnist), same settings: Adam, batch 128,
validation_split 0.1, random horizontal flips while training (FLIP 1, the default; 0 for
none), the learning rate divided by 10 from epoch DECAY_AT (0-based; default two thirds of the
epochs); prints the test accuracy and the training time.

usage: KERAS_BACKEND=tensorflow /tmp/anchors-env/tf/bin/python bench/keras_resnet.py [EPOCHS] [WIDTH] [SEED] [DECAY_AT] [FLIP]
"""
import gzip
import sys
import time

import numpy as np
import keras
from keras import layers

D = "/usr/share/datasets/fashion-mnist/"


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    return np.frombuffer(data, np.uint8, offset=16 if data[3] == 3 else 8)


def residual_block(x, filters):
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    y = layers.Add()([x, y])
    return layers.Activation("relu")(y)


def conv_bn_relu(x, filters, stride):
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    return layers.Activation("relu")(y)


epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 24
width = int(sys.argv[2]) if len(sys.argv) > 2 else 16
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
decay_at = int(sys.argv[4]) if len(sys.argv) > 4 else epochs * 2 // 3
flip = sys.argv[5] != "0" if len(sys.argv) > 5 else True
keras.utils.set_random_seed(seed)
x_train = idx(D + "train-images-idx3-ubyte.gz").reshape(-1, 28, 28, 1).astype("float32") / 255
y_train = idx(D + "train-labels-idx1-ubyte.gz")
x_test = idx(D + "t10k-images-idx3-ubyte.gz").reshape(-1, 28, 28, 1).astype("float32") / 255
y_test = idx(D + "t10k-labels-idx1-ubyte.gz")

inputs = keras.Input((28, 28, 1))
x = layers.RandomFlip("horizontal")(inputs) if flip else inputs
x = conv_bn_relu(x, width, 1)
x = residual_block(x, width)
x = residual_block(x, width)
x = conv_bn_relu(x, 2 * width, 2)
x = residual_block(x, 2 * width)
x = layers.GlobalAveragePooling2D()(x)
outputs = layers.Dense(10, activation="softmax")(x)
model = keras.Model(inputs, outputs, name="resnet")
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
start = time.time()
schedule = keras.callbacks.LearningRateScheduler(lambda e, lr: 1e-3 if e < decay_at else 1e-4)
model.fit(x_train, y_train, batch_size=128, epochs=epochs, validation_split=0.1, verbose=2,
          callbacks=[schedule])
secs = time.time() - start
loss, acc = model.evaluate(x_test, y_test, verbose=0)
print(f"Test loss: {loss:.4f}")
print(f"Test accuracy: {acc:.4f}")
print(f"Training time: {secs:.0f} s ({54000 * epochs / secs:.0f} images/s including validation)")
