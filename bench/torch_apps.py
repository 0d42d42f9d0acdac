"""PyTorch anchor for the keras.applications workloads: torchvision's model of the same
architecture (resnet50, mobilenet_v2, efficientnet_b0, densenet121; weights=None, 10 classes),
the data and protocol of bench/keras_apps.py: 64x64x3 synthetic images (NCHW here), Adam,
training at batch 32 (epoch 2 of 2 over 320 images timed), inference at batch 32 (median of
3 passes) and batch 1 (median latency over 32 images), 2 threads.

usage: /tmp/anchors-env/torch/bin/python bench/torch_apps.py mobilenet_v2 [SIZE]
(needs `pip install torchvision` in the torch venv)
"""
import os
import statistics
import sys
import time

import numpy as np
import torch
import torchvision

name = sys.argv[1] if len(sys.argv) > 1 else "mobilenet_v2"
size = int(sys.argv[2]) if len(sys.argv) > 2 else 64
torch.manual_seed(42)
torch.set_num_threads(2)
# APPS_N images, training batch APPS_TRAIN_BS (224x224 runs: APPS_TRAIN_BS=16); inference at 32.
n = int(os.environ.get("APPS_N", 320))
bs = int(os.environ.get("APPS_TRAIN_BS", 32))
# APPS_FROZEN=1: only the classifier trains; the backbone runs in eval mode (its batch norms
# on their running statistics), as Keras runs a frozen backbone.
frozen = os.environ.get("APPS_FROZEN", "0") == "1"
i = np.arange(n * size * size * 3)
x = (((i * 7919) % 255) / 255.0).astype("float32").reshape(n, size, size, 3).transpose(0, 3, 1, 2).copy()
x = torch.from_numpy(x)
y = torch.from_numpy((np.arange(n) % 10).astype("int64"))
model = getattr(torchvision.models, name)(weights=None, num_classes=10)
head = model.fc if name.startswith("resnet") else model.classifier
if frozen:
    for p in model.parameters():
        p.requires_grad = False
    for p in head.parameters():
        p.requires_grad = True
opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()


def epoch():
    if frozen:
        model.eval()
        head.train()
    else:
        model.train()
    for s in range(0, n, bs):
        opt.zero_grad()
        loss = loss_fn(model(x[s:s + bs]), y[s:s + bs])
        loss.backward()
        opt.step()


epoch()
t = time.perf_counter()
epoch()
train = n / (time.perf_counter() - t)
model.eval()
rates = []
with torch.no_grad():
    for _ in range(4):
        t = time.perf_counter()
        for s in range(0, n, 32):
            model(x[s:s + 32])
        rates.append(n / (time.perf_counter() - t))
    lat = []
    for k in range(33):
        t = time.perf_counter()
        model(x[k:k + 1])
        lat.append(time.perf_counter() - t)
print(f"RESULT torch {name} size={size} train_batch={bs} frozen={int(frozen)} train_img_s={train:.1f} infer_b32_img_s={statistics.median(rates[1:]):.1f} "
      f"infer_b1_latency_ms={1e3 * statistics.median(lat[1:]):.2f}")
