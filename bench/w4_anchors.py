"""W4 for the anchors: inference of the W1 seed CNN (64x64x3, softmax over 10) at batch 1 and
batch 32, in Keras 3 or PyTorch, measured as `rkeras bench w4` measures rkeras: the first
320 W1 images one at a time, and the 3200 W1 images in batches of 32, one warm-up pass,
then the median of 3 timed passes.

usage:
  KERAS_BACKEND=tensorflow /tmp/anchors-env/tf/bin/python bench/w4_anchors.py keras
  /tmp/anchors-env/torch/bin/python bench/w4_anchors.py torch

Keras is timed two ways at batch 1: `model.predict(x, batch_size=1)` (what the Keras docs
show) and `model.predict_on_batch(x[i:i+1])` per image (its fastest per-call path; this is
the `infer_b1_*` figure). PyTorch runs `model.eval()` under `torch.inference_mode()` with 2
threads. Prints one RESULT line with img/s and the batch-1 latency in ms.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "anchors"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import w1_data, result  # noqa: E402
from seed_models import keras_seed_cnn, torch_seed_cnn  # noqa: E402

fw = sys.argv[1] if len(sys.argv) > 1 else "keras"
x, _ = w1_data()
x1 = x[:320]


def median_rate(n, f):
    f()
    r = []
    for _ in range(3):
        t = time.perf_counter()
        f()
        r.append(n / (time.perf_counter() - t))
    return statistics.median(r)


if fw == "keras":
    import keras

    keras.utils.set_random_seed(42)
    model = keras_seed_cnn()

    def per_call():
        for i in range(len(x1)):
            model.predict_on_batch(x1[i:i + 1])

    b1_predict = median_rate(len(x1), lambda: model.predict(x1, batch_size=1, verbose=0))
    b1 = median_rate(len(x1), per_call)
    b32 = median_rate(len(x), lambda: model.predict(x, batch_size=32, verbose=0))
    tag = f"keras-{keras.backend.backend()}-{keras.__version__} w4"
    result(tag, infer_b1_img_s=b1, infer_b1_latency_ms=1e3 / b1, infer_b1_predict_img_s=b1_predict,
           infer_b32_img_s=b32)
else:
    import torch

    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    torch.manual_seed(42)
    model = torch_seed_cnn().eval()
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()

    def batches(data, bs):
        def run():
            with torch.inference_mode():
                for s in range(0, len(data), bs):
                    torch.softmax(model(data[s:s + bs]), 1)
        return run

    b1 = median_rate(320, batches(xt[:320], 1))
    b32 = median_rate(len(xt), batches(xt, 32))
    result(f"torch-{torch.__version__} w4", infer_b1_img_s=b1, infer_b1_latency_ms=1e3 / b1,
           infer_b32_img_s=b32)
