"""W3 for the anchors: W1 (the seed CNN on the 3200 synthetic 64x64x3 images, Adam,
categorical cross-entropy, no shuffle) at batch 128, in Keras 3 or PyTorch, timed as
`rkeras bench w3` times rkeras: 3 epochs, the first discarded, median img/s over windows of
20 steps.

usage:
  KERAS_BACKEND=tensorflow /tmp/anchors-env/tf/bin/python bench/w3_anchors.py keras
  /tmp/anchors-env/torch/bin/python bench/w3_anchors.py torch
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "anchors"))
from common import w1_data, windows, result  # noqa: E402

fw = sys.argv[1] if len(sys.argv) > 1 else "keras"
BS, EPOCHS = 128, 3
x, y = w1_data()
iv = []

if fw == "keras":
    import keras
    from keras import layers

    keras.utils.set_random_seed(42)

    class Steps(keras.callbacks.Callback):
        def on_epoch_begin(self, ep, logs=None):
            self.ep, self.prev = ep, time.perf_counter()

        def on_train_batch_end(self, b, logs=None):
            t = time.perf_counter()
            if self.ep >= 1:
                iv.append(t - self.prev)
            self.prev = t

    model = keras.Sequential([
        keras.Input((64, 64, 3)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Flatten(), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    model.fit(x, keras.utils.to_categorical(y, 10), batch_size=BS, epochs=EPOCHS, shuffle=False,
              verbose=0, callbacks=[Steps()])
    tag = f"keras-{keras.backend.backend()}-{keras.__version__} w3"
else:
    import torch
    from torch import nn

    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    torch.manual_seed(42)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12 * 12 * 64, 10))
    for m in model:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    yt = torch.from_numpy(y)
    for ep in range(EPOCHS):
        prev = time.perf_counter()
        for s in range(0, len(xt), BS):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xt[s:s + BS]), yt[s:s + BS]).backward()
            opt.step()
            t = time.perf_counter()
            if ep >= 1:
                iv.append(t - prev)
            prev = t
    tag = f"torch-{torch.__version__} w3"

med, lo, hi = windows(iv, BS)
result(tag, train_img_s=med, win_min=lo, win_max=hi)
