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
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import w1_data, windows, result  # noqa: E402
from seed_models import keras_seed_cnn, torch_seed_cnn  # noqa: E402

fw = sys.argv[1] if len(sys.argv) > 1 else "keras"
BS, EPOCHS = 128, 3
x, y = w1_data()
iv = []

if fw == "keras":
    import keras

    keras.utils.set_random_seed(42)

    class Steps(keras.callbacks.Callback):
        def on_epoch_begin(self, ep, logs=None):
            self.ep, self.prev = ep, time.perf_counter()

        def on_train_batch_end(self, b, logs=None):
            t = time.perf_counter()
            if self.ep >= 1:
                iv.append(t - self.prev)
            self.prev = t

    model = keras_seed_cnn()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    model.fit(x, keras.utils.to_categorical(y, 10), batch_size=BS, epochs=EPOCHS, shuffle=False,
              verbose=0, callbacks=[Steps()])
    tag = f"keras-{keras.backend.backend()}-{keras.__version__} w3"
else:
    import torch

    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    torch.manual_seed(42)
    model = torch_seed_cnn()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
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
