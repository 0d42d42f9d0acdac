"""Keras's own image_dataset_from_directory on a folder, timed like `rkeras bench folder`.

Run with a Python that has tensorflow and keras 3 (the anchors' venv):
    python bench/keras_folder.py DIR
Prints the scan time (index, shuffle, split: Keras checks no file until it decodes it), one
epoch of decode + resize to 64x64 in batches of 32, and the same with the augmentation of
`rkeras bench folder` (RandomFlip, RandomRotation, RandomZoom, RandomContrast) mapped on
the dataset.
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

t_import = time.perf_counter()
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

t_import = time.perf_counter() - t_import


def epoch(ds):
    t = time.perf_counter()
    n = 0
    for x, _ in ds:
        n += int(x.shape[0])
    return n / (time.perf_counter() - t)


def main(path):
    t = time.perf_counter()
    ds = keras.utils.image_dataset_from_directory(
        path, image_size=(64, 64), batch_size=32, seed=1, verbose=False
    )
    scan = time.perf_counter() - t
    n = len(ds.file_paths)
    first = epoch(ds)
    second = epoch(ds)
    aug = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal"),
            keras.layers.RandomRotation(0.1),
            keras.layers.RandomZoom(0.1),
            keras.layers.RandomContrast(0.2),
        ]
    )
    augmented = ds.map(
        lambda x, y: (aug(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    aug_rate = epoch(augmented)
    print(
        f"RESULT keras-{keras.__version__} folder files={n} import_s={t_import:.2f} "
        f"scan_s={scan:.3f} load_img_s={first:.1f} load_img_s_2nd={second:.1f} "
        f"load_aug_img_s={aug_rate:.1f}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: keras_folder.py DIR")
    main(sys.argv[1])
