"""Keras/TF anchor for the keras.applications workloads (W5 ResNet50, W6 MobileNetV2, W7
EfficientNetB0, W8 DenseNet121): weights=None, 64x64x3 inputs, 10 classes, synthetic images
and labels as `rkeras bench w6` makes them; training at batch 32 (epoch 2 of 2 over 320
images timed), inference at batch 32 (median of 3 passes over 320 images) and at batch 1
(median latency over 32 images). Also saves the model as NAME.keras for rkeras to load.

usage: KERAS_BACKEND=tensorflow /tmp/anchors-env/tf/bin/python bench/keras_apps.py MobileNetV2 [SIZE] [OUT_DIR]
"""
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras
import numpy as np

name = sys.argv[1] if len(sys.argv) > 1 else "MobileNetV2"
size = int(sys.argv[2]) if len(sys.argv) > 2 else 64
out_dir = sys.argv[3] if len(sys.argv) > 3 else None
# APPS_N images, training batch APPS_TRAIN_BS (224x224 runs: APPS_TRAIN_BS=16); inference at 32.
n = int(os.environ.get("APPS_N", 320))
bs = int(os.environ.get("APPS_TRAIN_BS", 32))
# APPS_FROZEN=1: every layer but the classifier frozen (its normalizations in inference mode).
frozen = os.environ.get("APPS_FROZEN", "0") == "1"
keras.utils.set_random_seed(42)
i = np.arange(n * size * size * 3)
x = (((i * 7919) % 255) / 255.0).astype("float32").reshape(n, size, size, 3)
y = (np.arange(n) % 10).astype("float32")
model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10)
if frozen:
    for layer in model.layers[:-1]:
        layer.trainable = False
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
if out_dir:
    model.save(os.path.join(out_dir, f"{name}.keras"))
model.fit(x, y, batch_size=bs, epochs=1, verbose=0, shuffle=False)
t = time.perf_counter()
model.fit(x, y, batch_size=bs, epochs=1, verbose=0, shuffle=False)
train = n / (time.perf_counter() - t)
model.predict(x, batch_size=32, verbose=0)
rates = []
for _ in range(3):
    t = time.perf_counter()
    model.predict(x, batch_size=32, verbose=0)
    rates.append(n / (time.perf_counter() - t))
lat = []
one = x[:1]
model.predict_on_batch(one)
for k in range(32):
    t = time.perf_counter()
    model.predict_on_batch(x[k:k + 1])
    lat.append(time.perf_counter() - t)
print(f"RESULT keras {name} size={size} train_batch={bs} frozen={int(frozen)} train_img_s={train:.1f} infer_b32_img_s={statistics.median(rates):.1f} "
      f"infer_b1_latency_ms={1e3 * statistics.median(lat):.2f}")
