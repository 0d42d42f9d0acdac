"""Keras 3 (TensorFlow) MNIST convnet on Fashion-MNIST for several seeds: the accuracy side of
the W2 comparison (shared/anchors/keras_bench.py runs one seed, 42).

usage: KERAS_BACKEND=tensorflow /tmp/anchors-env/tf/bin/python bench/keras_w2_seeds.py 1 2 3
Prints one `RESULT keras w2 seed=S test_acc=A test_loss=L loss=l1,...,l5 val_loss=v1,...,v5`
line per seed (5 epochs, batch 128, validation_split 0.1, Adam, categorical cross-entropy, as
the anchor; `loss` and `val_loss` are the per-epoch history).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "anchors"))
from common import fashion_mnist  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

xtr, ytr, xte, yte = fashion_mnist()
xtr, xte = xtr[..., None], xte[..., None]
ytr1, yte1 = keras.utils.to_categorical(ytr, 10), keras.utils.to_categorical(yte, 10)
for seed in [int(s) for s in sys.argv[1:]] or [42]:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(xtr, ytr1, batch_size=128, epochs=5, validation_split=0.1, verbose=0).history
    loss, acc = model.evaluate(xte, yte1, batch_size=128, verbose=0)
    curve = {k: ",".join(f"{v:.4f}" for v in h[k]) for k in ("loss", "val_loss")}
    print(f"RESULT keras w2 seed={seed} test_acc={acc:.4f} test_loss={loss:.4f} "
          f"loss={curve['loss']} val_loss={curve['val_loss']}", flush=True)
