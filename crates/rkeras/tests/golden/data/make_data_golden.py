"""Golden files for `keras.utils.image_dataset_from_directory` (TF backend, tf.data path).

Run from the repository root with TensorFlow + Keras 3.15.1 + numpy + pillow:

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow keras==3.15.1 pillow
    TF_CPP_MIN_LOG_LEVEL=3 /tmp/tfenv/bin/python crates/rkeras/tests/golden/data/make_data_golden.py

(Generated with tensorflow 2.21.0, keras 3.15.1.)  Scratch trees are made under /tmp and
removed afterwards; the JSON files are written next to this script:

* index_golden.json  - directory indexing: class names, walk order, shuffle + split per seed,
  printed lines, error messages, and the numpy `RandomState(seed).shuffle` permutations.
* resize_golden.json - decoding (channel conversion) and resizing (bilinear / nearest, plain,
  crop_to_aspect_ratio, pad_to_aspect_ratio) of small PNGs whose pixels are stored in the JSON.
* labels_golden.json - label tensors per label_mode, element specs and batch shapes.

Conventions used in the JSON:
* Paths are relative to the dataset root, '/'-separated.
* In messages the absolute scratch root is replaced by the literal text `{dir}`.
* Arrays are {"shape": [...], "data": [flat, row-major (H, W, C)]}; floats rounded to 6
  decimals, integral floats written as ints.
* Index-tree image pixels (see `tree_pixels`): RGB uint8, value(y, x, c) =
  (seed * 37 + y * 11 + x * 5 + c * 71) % 256.  Indexing never decodes files, so any valid
  encoding of those pixels (or even arbitrary bytes) reproduces the index results; "txt" files
  hold the bytes b"rkeras placeholder <seed>\\n"; "dir" entries are empty directories.
* Bilinear outputs are TF float32 results (e.g. 35.999996 where exact math gives 36):
  compare with a small tolerance (1e-4 absolute is plenty).
"""
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras.src.utils import dataset_utils  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
idfd = keras.utils.image_dataset_from_directory


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def num(v):
    v = float(v)
    r = round(v, 6)
    return int(r) if r == int(r) else r


def arr(a):
    a = np.asarray(a)
    return {"shape": list(a.shape), "data": [num(v) for v in a.reshape(-1)]}


def rel(root, paths):
    return [os.path.relpath(p, root).replace(os.sep, "/") for p in paths]


def call(root, *args, **kwargs):
    """Runs idfd, capturing stdout. Returns (result or None, stdout lines, error dict or None)."""
    buf = io.StringIO()
    res, err = None, None
    with contextlib.redirect_stdout(buf):
        try:
            res = idfd(*args, **kwargs)
        except Exception as e:  # noqa: BLE001
            err = {"type": type(e).__name__, "message": str(e).replace(root, "{dir}")}
    lines = [ln.replace(root, "{dir}") for ln in buf.getvalue().splitlines()]
    return res, lines, err


def tree_pixels(seed, h, w):
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return ((seed * 37 + y * 11 + x * 5 + c * 71) % 256).astype(np.uint8)


FORMATS = {"png": "PNG", "jpg": "JPEG", "bmp": "BMP", "gif": "GIF"}


def write_tree(root, spec):
    for e in spec:
        p = os.path.join(root, *e["path"].split("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if e["kind"] == "dir":
            os.makedirs(p, exist_ok=True)
        elif e["kind"] == "txt":
            with open(p, "wb") as f:
                f.write(b"rkeras placeholder %d\n" % e["seed"])
        else:
            img = Image.fromarray(tree_pixels(e["seed"], e["h"], e["w"]), "RGB")
            img.save(p, format=FORMATS[e["kind"]])


def entry(path, kind, seed):
    if kind in ("txt", "dir"):
        return {"path": path, "kind": kind, "seed": seed} if kind == "txt" else {
            "path": path, "kind": kind}
    return {"path": path, "kind": kind, "h": 3, "w": 4, "seed": seed}


# --------------------------------------------------------------------------------------------
# numpy RandomState(seed).shuffle reproduction (the KERAS.md recipe), checked against numpy
# --------------------------------------------------------------------------------------------
class MT19937:
    def __init__(self, seed):
        mt = [seed & 0xFFFFFFFF]
        for i in range(1, 624):
            mt.append((1812433253 * (mt[-1] ^ (mt[-1] >> 30)) + i) & 0xFFFFFFFF)
        self.mt, self.idx = mt, 624

    def next_u32(self):
        mt = self.mt
        if self.idx >= 624:
            for i in range(624):
                y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7FFFFFFF)
                mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
            self.idx = 0
        y = mt[self.idx]
        self.idx += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        return y


def recipe_shuffle(seed, n):
    x = list(range(n))
    rng = MT19937(seed)
    for i in range(n - 1, 0, -1):
        mask = i
        for s in (1, 2, 4, 8, 16):
            mask |= mask >> s
        while True:
            j = rng.next_u32() & mask
            if j <= i:
                break
        x[i], x[j] = x[j], x[i]
    return x


def numpy_shuffle(seed, n):
    x = list(range(n))
    np.random.RandomState(seed).shuffle(x)
    return x


def permutations():
    out = []
    pairs = [(123, 13), (0, 1), (7, 2), (1, 2), (42, 5), (1337, 40), (99999, 40), (0, 40),
             (123, 1000), (4294967295, 40), (999999, 1000)]
    for seed, n in pairs:
        p = numpy_shuffle(seed, n)
        assert p == recipe_shuffle(seed, n), (seed, n)
        d = {"seed": seed, "n": n}
        if n > 50:
            d["first50"] = p[:50]
        else:
            d["perm"] = p
        out.append(d)
    assert numpy_shuffle(123, 13) == [7, 10, 4, 0, 5, 9, 8, 11, 3, 1, 6, 12, 2]
    # numpy ndarray shuffle (used for the int32 label array) gives the same permutation
    a = np.arange(40, dtype="int32")
    np.random.RandomState(1337).shuffle(a)
    assert a.tolist() == numpy_shuffle(1337, 40)
    return out


# --------------------------------------------------------------------------------------------
# 1. index golden
# --------------------------------------------------------------------------------------------
def index_spec():
    e = []
    s = iter(range(1, 1000))
    # top level (ignored with inferred labels, included with labels=None / explicit labels)
    e.append(entry("top.png", "png", next(s)))
    e.append(entry("readme.txt", "txt", next(s)))
    # hidden class-level dir: never a class, but walked with labels=None
    e.append(entry(".hidden/secret.png", "png", next(s)))
    e.append(entry(".hidden/s2.jpg", "jpg", next(s)))
    # Dog: upper-case names/extensions, skipped formats, nested walk roots, hidden file
    for p, k in [("Dog/d01.png", "png"), ("Dog/d02.JPG", "jpg"), ("Dog/d03.jpeg", "jpg"),
                 ("Dog/D04.png", "png"), ("Dog/d05.bmp", "bmp"), ("Dog/d06.gif", "gif"),
                 ("Dog/d07.txt", "txt"), ("Dog/d08.webp", "txt"), ("Dog/d09.tiff", "txt"),
                 ("Dog/_d10.png", "png"), ("Dog/.d11.png", "png"),
                 ("Dog/puppies/p1.png", "png"), ("Dog/puppies/p2.PNG", "png"),
                 ("Dog/puppies/p3.jpg", "jpg"), ("Dog/puppies/deeper/x.png", "png"),
                 ("Dog/Zeta/z.png", "png"), ("Dog/a_sub/a.png", "png")]:
        e.append(entry(p, k, next(s)))
    # bird: "nest" vs "nest-2" vs "nest/eggs" (walk roots sorted by full path string:
    # "bird/nest" < "bird/nest-2" < "bird/nest/eggs" because '-' < '/')
    for p, k in [("bird/b01.png", "png"), ("bird/b02.png", "png"), ("bird/b03.png", "png"),
                 ("bird/b04.jpg", "jpg"), ("bird/b05.Jpeg", "jpg"), ("bird/b06.GIF", "gif"),
                 ("bird/b07.BMP", "bmp"), ("bird/b08.png", "png"),
                 ("bird/x.jpe", "txt"), ("bird/y.png.txt", "txt"), ("bird/z.txt.png", "png"),
                 ("bird/nest/eggs/e1.png", "png"), ("bird/nest/eggs/e2.png", "png"),
                 ("bird/nest-2/m1.png", "png"),
                 ("bird/nest/n1.png", "png"), ("bird/nest/n2.jpg", "jpg")]:
        e.append(entry(p, k, next(s)))
    # cat: lexicographic (c10 < c2), upper-case first, hidden subdir inside a class (walked)
    for p, k in [("cat/c1.png", "png"), ("cat/c2.png", "png"), ("cat/c10.png", "png"),
                 ("cat/c11.png", "png"), ("cat/Cat3.png", "png"), ("cat/cat4.jpg", "jpg"),
                 ("cat/cat5.jpeg", "jpg"), ("cat/c6.bmp", "bmp"), ("cat/c7.gif", "gif"),
                 ("cat/c8.PNG", "png"), ("cat/c9.png", "png"),
                 ("cat/.hidden_sub/h.png", "png")]:
        e.append(entry(p, k, next(s)))
    return e


def index_golden(tmp):
    spec = index_spec()
    root = os.path.join(tmp, "index_root")
    write_tree(root, spec)
    out = {"tree": spec, "notes": [
        "file_paths are relative to the root; labels are class indices",
        "splits: shuffle=True, subset='both'; training = first N-int(split*N) of the "
        "shuffled list, validation = last int(split*N)",
    ]}
    small = dict(image_size=(3, 4), batch_size=None)

    # inferred, shuffle=False
    ds, lines, err = call(root, root, shuffle=False, **small)
    assert err is None, err
    labels = [int(y) for _, y in ds.as_numpy_iterator()]
    idx = dataset_utils.index_directory(root, "inferred", formats=(
        ".bmp", ".gif", ".jpeg", ".jpg", ".png"), shuffle=False, verbose=False)
    assert labels == idx[1].tolist()
    out["inferred"] = {"class_names": ds.class_names, "file_paths": rel(root, ds.file_paths),
                       "labels": labels, "stdout": lines}
    n = len(labels)

    # shuffle=True without split (whole list permuted with RandomState(seed))
    shuffled = []
    for seed in (1, 42):
        ds, lines, err = call(root, root, shuffle=True, seed=seed, **small)
        assert err is None, err
        shuffled.append({"seed": seed, "file_paths": rel(root, ds.file_paths), "stdout": lines})
        perm = numpy_shuffle(seed, n)
        assert shuffled[-1]["file_paths"] == [out["inferred"]["file_paths"][i] for i in perm]
    out["shuffled_no_split"] = shuffled

    # splits
    cls = {c: i for i, c in enumerate(out["inferred"]["class_names"])}
    splits = []
    for seed in (1, 42, 123, 1337, 99999):
        for vs in (0.1, 0.2, 0.25, 0.5):
            res, lines, err = call(root, root, shuffle=True, seed=seed, validation_split=vs,
                                   subset="both", **small)
            assert err is None, err
            tr, va = res
            trp, vap = rel(root, tr.file_paths), rel(root, va.file_paths)
            assert tr.class_names == va.class_names == out["inferred"]["class_names"]
            splits.append({"seed": seed, "validation_split": vs, "train": trp, "val": vap,
                           "train_labels": [cls[p.split("/")[0]] for p in trp],
                           "val_labels": [cls[p.split("/")[0]] for p in vap],
                           "stdout": lines})
    out["splits"] = splits

    # single subsets (stdout lines + file lists)
    single = []
    for subset in ("training", "validation"):
        res, lines, err = call(root, root, shuffle=True, seed=1337, validation_split=0.2,
                               subset=subset, **small)
        assert err is None, err
        single.append({"seed": 1337, "validation_split": 0.2, "subset": subset,
                       "file_paths": rel(root, res.file_paths), "stdout": lines})
    # validation_split with shuffle=False (allowed without seed): plain tail split
    res, lines, err = call(root, root, shuffle=False, validation_split=0.25, subset="both",
                           **small)
    assert err is None, err
    single.append({"shuffle": False, "validation_split": 0.25, "subset": "both",
                   "train": rel(root, res[0].file_paths), "val": rel(root, res[1].file_paths),
                   "stdout": lines})
    out["single_subsets"] = single

    # class_names subset / reorder
    ds, lines, err = call(root, root, class_names=["cat", "Dog"], shuffle=False, **small)
    assert err is None, err
    out["class_names_subset"] = {
        "class_names_arg": ["cat", "Dog"], "class_names": ds.class_names,
        "file_paths": rel(root, ds.file_paths),
        "labels": [int(y) for _, y in ds.as_numpy_iterator()], "stdout": lines}

    # labels=None: whole tree (incl. top-level files and hidden dirs)
    ds, lines, err = call(root, root, labels=None, shuffle=False, **small)
    assert err is None, err
    out["labels_none"] = {"class_names": ds.class_names, "file_paths": rel(root, ds.file_paths),
                          "stdout": lines}
    n_all = len(ds.file_paths)

    # label_mode=None forces labels=None: same whole-tree walk, class_names None
    ds, lines, err = call(root, root, label_mode=None, shuffle=False, **small)
    assert err is None, err
    out["label_mode_none"] = {"class_names": ds.class_names,
                              "file_paths": rel(root, ds.file_paths), "stdout": lines}
    assert out["label_mode_none"]["file_paths"] == out["labels_none"]["file_paths"]

    # explicit labels: class_names = sorted set as strings; labels are NOT remapped
    explicit = [(0, 2, 5)[i % 3] if i % 7 else 5 for i in range(n_all)]
    ds, lines, err = call(root, root, labels=explicit, shuffle=False, **small)
    assert err is None, err
    got = [int(y) for _, y in ds.as_numpy_iterator()]
    out["explicit_labels"] = {"labels_arg": explicit, "class_names": ds.class_names,
                              "file_paths": rel(root, ds.file_paths), "yielded_labels": got,
                              "stdout": lines}
    # same, categorical: one_hot(label, num_classes) -> out-of-range labels give all zeros
    ds, _, err = call(root, root, labels=explicit, label_mode="categorical", shuffle=False,
                      **small)
    assert err is None, err
    out["explicit_labels"]["categorical_first6"] = [
        [num(v) for v in y] for _, y in list(ds.as_numpy_iterator())[:6]]
    # explicit labels + shuffle with seed: labels permuted with the same permutation
    ds, lines, err = call(root, root, labels=explicit, shuffle=True, seed=42, **small)
    assert err is None, err
    fp, lab, cn = dataset_utils.index_directory(
        root, explicit, formats=(".bmp", ".gif", ".jpeg", ".jpg", ".png"), shuffle=True,
        seed=42, verbose=False)
    assert fp == ds.file_paths
    out["explicit_labels_shuffled"] = {"seed": 42, "file_paths": rel(root, fp),
                                       "labels": list(lab), "stdout": lines}

    # a zero-image class dir still counts as a class
    root2 = os.path.join(tmp, "empty_class_root")
    spec2 = [entry("a/x.png", "png", 1), entry("b/readme.txt", "txt", 2),
             entry("c/y.png", "png", 3), entry("d", "dir", 0)]
    write_tree(root2, spec2)
    ds, lines, err = call(root2, root2, shuffle=False, **small)
    assert err is None, err
    out["empty_class_dir"] = {"tree": spec2, "class_names": ds.class_names,
                              "file_paths": rel(root2, ds.file_paths),
                              "labels": [int(y) for _, y in ds.as_numpy_iterator()],
                              "stdout": lines}

    # errors
    empty = os.path.join(tmp, "empty_root")
    os.makedirs(empty)
    only_txt = os.path.join(tmp, "only_txt_root")
    write_tree(only_txt, [entry("a/n.txt", "txt", 1)])
    missing = os.path.join(tmp, "does_not_exist")
    R = root
    cases = [
        ("split_shuffle_no_seed", R, dict(validation_split=0.2, subset="training")),
        ("split_shuffle_no_seed_both", R, dict(validation_split=0.2, subset="both")),
        ("subset_without_split", R, dict(subset="training", seed=1)),
        ("split_without_subset", R, dict(validation_split=0.2, seed=1)),
        ("split_out_of_range", R, dict(validation_split=1.0, subset="training", seed=1)),
        ("split_negative", R, dict(validation_split=-0.1, subset="training", seed=1)),
        ("subset_invalid", R, dict(validation_split=0.2, subset="test", seed=1)),
        ("binary_with_3_classes", R, dict(label_mode="binary")),
        ("explicit_labels_wrong_length", R, dict(labels=[0, 1, 0])),
        ("class_names_not_subset", R, dict(class_names=["cat", "dog"])),
        ("class_names_with_explicit_labels", R, dict(labels=[0] * n_all, class_names=["a"])),
        ("class_names_with_labels_none", R, dict(labels=None, class_names=["cat"])),
        ("class_names_with_label_mode_none", R, dict(label_mode=None, class_names=["cat"])),
        ("labels_invalid_string", R, dict(labels="folders")),
        ("label_mode_invalid", R, dict(label_mode="sparse")),
        ("color_mode_invalid", R, dict(color_mode="bgr")),
        ("image_size_invalid", R, dict(image_size=(1, 2, 3))),
        ("interpolation_invalid", R, dict(interpolation="cubic")),
        ("crop_and_pad", R, dict(crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)),
        ("empty_directory", empty, dict()),
        ("empty_directory_labels_none", empty, dict(labels=None)),
        ("only_unsupported_files", only_txt, dict()),
        ("empty_directory_both", empty, dict(validation_split=0.5, subset="both", seed=1)),
        ("split_rounds_to_zero_val_both", R, dict(validation_split=0.01, subset="both",
                                                  seed=1)),
        ("split_rounds_to_zero_val_training", R, dict(validation_split=0.01,
                                                      subset="training", seed=1)),
        # int(0.01*40) == 0 and samples[-0:] is the whole list: not an error
        ("split_rounds_to_zero_val_validation", R, dict(validation_split=0.01,
                                                        subset="validation", seed=1)),
        ("nonexistent_directory", missing, dict()),
    ]
    errors = {}
    for name, d, kw in cases:
        res, lines, err = call(tmp, d, **kw)
        if err is None:
            # Not an error: record what happened instead
            if isinstance(res, list):
                info = {"train": rel(d, res[0].file_paths), "val": rel(d, res[1].file_paths)}
            else:
                info = {"file_paths": rel(d, res.file_paths)}
            errors[name] = {"args": kw_json(kw), "no_error": True, "result": info,
                            "stdout": lines}
        else:
            errors[name] = {"args": kw_json(kw), **err, "stdout": lines}
    # `{dir}` in error messages above = the scratch parent; make it the dataset directory
    for name, d, kw in cases:
        e = errors[name]
        for k in ("message",):
            if k in e:
                e[k] = e[k].replace("{dir}" + os.sep + os.path.basename(d), "{dir}")
        e["stdout"] = [ln.replace("{dir}" + os.sep + os.path.basename(d), "{dir}")
                       for ln in e["stdout"]]
    out["errors"] = errors
    out["permutations"] = permutations()
    return out


def kw_json(kw):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}


# --------------------------------------------------------------------------------------------
# 2. resize golden
# --------------------------------------------------------------------------------------------
def resize_sources():
    rng = np.random.RandomState(2024)
    srcs = []

    def add(name, mode, h, w, c, gray_as_rgb=False):
        if gray_as_rgb:
            g = rng.randint(0, 256, size=(h, w, 1)).astype(np.uint8)
            px = np.repeat(g, 3, axis=2)
        else:
            px = rng.randint(0, 256, size=(h, w, c)).astype(np.uint8)
        srcs.append({"file": name, "pil_mode": mode, "pixels": px})

    add("a_rgb_7x5.png", "RGB", 7, 5, 3)
    add("b_rgb_5x7.png", "RGB", 5, 7, 3)
    add("c_rgb_6x4.png", "RGB", 6, 4, 3)
    add("d_rgba_9x9.png", "RGBA", 9, 9, 4)
    add("e_gray_3x5.png", "L", 3, 5, 1)
    add("f_grayrgb_3x5.png", "RGB", 3, 5, 3, gray_as_rgb=True)
    add("g_la_4x4.png", "LA", 4, 4, 2)
    return srcs


def load_all(root, **kw):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ds = idfd(root, labels=None, label_mode=None, shuffle=False, batch_size=None, **kw)
    imgs = list(ds.as_numpy_iterator())
    return ds, imgs


def crop_geometry(h, w, th, tw):
    f = np.float32
    ch = max(min(h, int(f(w * th) / f(tw))), 1)
    cw = max(min(w, int(f(h * tw) / f(th))), 1)
    return {"crop_h": ch, "crop_w": cw, "top": int(f(h - ch) / f(2)), "left": int(f(w - cw) / f(2))}


def pad_geometry(h, w, th, tw):
    f = np.float32
    ratio = max(f(w) / f(tw), f(h) / f(th))
    rh, rw = f(h) / ratio, f(w) / ratio
    return {"resized_h": int(np.floor(rh)), "resized_w": int(np.floor(rw)),
            "top": max(0, int(np.floor((f(th) - rh) / f(2)))),
            "left": max(0, int(np.floor((f(tw) - rw) / f(2))))}


def gray_candidates(rgb):
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    rf, gf, bf = (rgb[..., i].astype(np.float64) for i in range(3))
    return {
        # libpng png_set_rgb_to_gray(ptr, 1, 0.299, 0.587) as TF calls it: the doubles become
        # 1e5 fixed point, then red = 29900*32768/100000 = 9797, green = 19234 (truncated),
        # blue = 32768 - red - green = 3737; 8-bit path truncates (no +16384).
        "libpng_9797_19234_3737_trunc": (9797 * r + 19234 * g + 3737 * b) >> 15,
        "libpng_fixed_9798_19235_3735": (9798 * r + 19235 * g + 3735 * b + 16384) >> 15,
        "libpng_default_6968_23434_2366": (6968 * r + 23434 * g + 2366 * b + 16384) >> 15,
        "round_0.299_0.587_0.114": np.floor(0.299 * rf + 0.587 * gf + 0.114 * bf + 0.5),
        "trunc_0.299_0.587_0.114": np.floor(0.299 * rf + 0.587 * gf + 0.114 * bf),
        "tf_rgb_to_grayscale_float": np.round(0.2989 * rf + 0.587 * gf + 0.114 * bf),
    }


def resize_golden(tmp):
    root = os.path.join(tmp, "resize_root")
    os.makedirs(os.path.join(root, "imgs"))
    srcs = resize_sources()
    for s in srcs:
        px = s["pixels"]
        img = Image.fromarray(px[..., 0] if px.shape[2] == 1 else px, s["pil_mode"])
        img.save(os.path.join(root, "imgs", s["file"]), format="PNG")
    out = {"sources": [{"file": "imgs/" + s["file"], "pil_mode": s["pil_mode"],
                        "pixels": arr(s["pixels"])} for s in srcs],
           "notes": ["Sources are PNGs written by PIL in the given mode (L=1ch, LA=2ch, RGB, "
                     "RGBA); all are loaded together with labels=None, shuffle=False, "
                     "batch_size=None, so outputs are in source order.",
                     "decoded[color_mode] = tf.image.decode_image(channels=c) of each PNG "
                     "(uint8), i.e. the channel conversion before resizing."]}

    # raw decode (channel conversion) per color mode
    decoded = {}
    for cm, c in (("grayscale", 1), ("rgb", 3), ("rgba", 4)):
        decoded[cm] = [arr(tf.image.decode_image(
            open(os.path.join(root, "imgs", s["file"]), "rb").read(), channels=c,
            expand_animations=False).numpy()) for s in srcs]
    out["decoded"] = decoded

    # which RGB->gray formula matches TF's PNG decoder
    matches = {}
    for s, d in zip(srcs, decoded["grayscale"]):
        px = s["pixels"]
        if px.shape[2] < 3:
            continue
        got = np.array(d["data"]).reshape(px.shape[:2])
        for k, v in gray_candidates(px[..., :3]).items():
            matches.setdefault(k, True)
            matches[k] = matches[k] and bool(np.array_equal(v, got))
    out["grayscale_formula_matches"] = matches

    cases = []

    def run(color_mode, interp, mode, size):
        kw = dict(image_size=size, interpolation=interp, color_mode=color_mode)
        if mode == "crop":
            kw["crop_to_aspect_ratio"] = True
        if mode == "pad":
            kw["pad_to_aspect_ratio"] = True
        ds, imgs = load_all(root, **kw)
        assert rel(root, ds.file_paths) == ["imgs/" + s["file"] for s in srcs]
        case = {"color_mode": color_mode, "interpolation": interp, "mode": mode,
                "image_size": list(size), "dtype": ds.element_spec.dtype.name,
                "outputs": [arr(im) for im in imgs]}
        if mode == "crop":
            case["geometry"] = [crop_geometry(*s["pixels"].shape[:2], *size) for s in srcs]
        if mode == "pad":
            case["geometry"] = [pad_geometry(*s["pixels"].shape[:2], *size) for s in srcs]
        cases.append(case)

    sizes = [(2, 3), (3, 4), (10, 9), (7, 5)]
    for interp in ("bilinear", "nearest"):
        for mode in ("plain", "crop", "pad"):
            for size in sizes:
                run("rgb", interp, mode, size)
    for cm in ("grayscale", "rgba"):
        for size in ((3, 4), (7, 5)):
            run(cm, "bilinear", "plain", size)
        run(cm, "nearest", "plain", (7, 5))
    out["cases"] = cases

    # crop geometry sanity check: crop then bilinear resize == Keras output
    for case in cases:
        if case["mode"] != "crop" or case["color_mode"] != "rgb":
            continue
        for s, g, o in zip(srcs, case["geometry"], case["outputs"]):
            dec = np.array(decoded["rgb"][srcs.index(s)]["data"], np.uint8).reshape(
                *s["pixels"].shape[:2], 3)
            win = dec[g["top"]:g["top"] + g["crop_h"], g["left"]:g["left"] + g["crop_w"]]
            ref = tf.image.resize(win, case["image_size"], method=case["interpolation"])
            assert np.allclose(ref.numpy(), np.array(o["data"]).reshape(o["shape"]),
                               atol=1e-5), (case["mode"], s["file"])
    # pad geometry sanity check
    for case in cases:
        if case["mode"] != "pad" or case["color_mode"] != "rgb":
            continue
        th, tw = case["image_size"]
        for s, g, o in zip(srcs, case["geometry"], case["outputs"]):
            dec = np.array(decoded["rgb"][srcs.index(s)]["data"], np.uint8).reshape(
                *s["pixels"].shape[:2], 3)
            r = tf.image.resize(dec, (g["resized_h"], g["resized_w"]),
                                method=case["interpolation"]).numpy().astype(np.float64)
            ref = np.zeros((th, tw, 3))
            ref[g["top"]:g["top"] + g["resized_h"], g["left"]:g["left"] + g["resized_w"]] = r
            assert np.allclose(ref, np.array(o["data"]).reshape(o["shape"]), atol=1e-5)

    # lazy decode errors for channel counts a format does not support
    lazy = {}
    for fmt, cm in (("gif", "grayscale"), ("gif", "rgba"), ("bmp", "grayscale"),
                    ("jpg", "rgba")):
        d = os.path.join(tmp, f"lazy_{fmt}_{cm}")
        write_tree(d, [entry(f"x/img.{fmt}", fmt, 5)])
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            ds = idfd(d, color_mode=cm, image_size=(3, 4), batch_size=None, shuffle=False)
        try:
            list(ds.as_numpy_iterator())
            lazy[f"{fmt}_{cm}"] = {"no_error": True}
        except Exception as e:  # noqa: BLE001
            msg = str(e)
            core = msg.split("\n")[0].split(": ")[-1].strip()
            lazy[f"{fmt}_{cm}"] = {"type": type(e).__name__, "message_core": core}
    out["lazy_decode_errors"] = lazy

    # direct resize checks (KERAS.md examples)
    row = np.array([0, 10, 20, 30], np.float32).reshape(1, 4, 1)
    two = np.array([0, 10], np.float32).reshape(1, 2, 1)
    ramp = np.arange(25, dtype=np.float32).reshape(5, 5, 1)
    direct = {}
    for name, x, size in (("row4_to_2", row, (1, 2)), ("row2_to_4", two, (1, 4)),
                          ("ramp5x5_to_2x2", ramp, (2, 2))):
        t = tf.image.resize(x, size).numpy()
        k = keras.ops.convert_to_numpy(keras.ops.image.resize(x, size))
        assert np.allclose(t, k)
        direct[name] = {"input": arr(x), "size": list(size), "tf": arr(t), "keras_ops": arr(k)}
    direct["nearest_dtype_uint8_input"] = tf.image.resize(
        np.zeros((3, 4, 3), np.uint8), (2, 2), method="nearest").dtype.name
    direct["bilinear_dtype_uint8_input"] = tf.image.resize(
        np.zeros((3, 4, 3), np.uint8), (2, 2)).dtype.name
    out["direct_resize"] = direct
    return out


# --------------------------------------------------------------------------------------------
# 3. labels golden
# --------------------------------------------------------------------------------------------
def spec_str(s):
    return {"shape": [d for d in s.shape.as_list()], "dtype": s.dtype.name}


def labels_golden(tmp):
    trees = {
        "two_class": [entry(f"neg/n{i}.png", "png", i) for i in range(3)]
        + [entry(f"pos/p{i}.png", "png", 10 + i) for i in range(4)],
        "three_class": [entry(f"a/a{i}.png", "png", i) for i in range(2)]
        + [entry(f"B/b{i}.png", "png", 10 + i) for i in range(3)]
        + [entry(f"c/c{i}.png", "png", 20 + i) for i in range(2)],
    }
    out = {"trees": trees, "cases": []}
    for tname, spec in trees.items():
        root = os.path.join(tmp, "labels_" + tname)
        write_tree(root, spec)
        modes = ["int", "categorical", None] + (["binary"] if tname == "two_class" else [])
        for lm in modes:
            res, lines, err = call(root, root, label_mode=lm, image_size=(3, 4),
                                   batch_size=None, shuffle=False)
            assert err is None, err
            es = res.element_spec
            case = {"tree": tname, "label_mode": lm, "class_names": res.class_names,
                    "file_paths": rel(root, res.file_paths), "stdout": lines}
            if lm is None:
                case["element_spec"] = {"image": spec_str(es)}
            else:
                case["element_spec"] = {"image": spec_str(es[0]), "label": spec_str(es[1])}
                case["labels"] = [arr(y)["data"] if np.ndim(y) else num(y)
                                  for _, y in res.as_numpy_iterator()]
            res4, _, err = call(root, root, label_mode=lm, image_size=(3, 4), batch_size=4,
                                shuffle=False)
            assert err is None, err
            es4 = res4.element_spec
            shapes = []
            for b in res4.as_numpy_iterator():
                if lm is None:
                    shapes.append({"image": list(b.shape)})
                else:
                    shapes.append({"image": list(b[0].shape), "label": list(b[1].shape)})
            case["batched4"] = {
                "element_spec": ({"image": spec_str(es4)} if lm is None else
                                 {"image": spec_str(es4[0]), "label": spec_str(es4[1])}),
                "batch_shapes": shapes}
            case["image_value_range"] = [num(x) for x in (
                min(float(np.min(b if lm is None else b[0])) for b in res.as_numpy_iterator()),
                max(float(np.max(b if lm is None else b[0])) for b in res.as_numpy_iterator()))]
            out["cases"].append(case)
    return out


# --------------------------------------------------------------------------------------------
def dump(name, obj):
    p = os.path.join(HERE, name)
    with open(p, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {p} ({os.path.getsize(p)} bytes)", file=sys.stderr)


def main():
    meta = {"keras": keras.__version__, "tensorflow": tf.__version__,
            "numpy": np.__version__, "generator": "make_data_golden.py"}
    tmp = tempfile.mkdtemp(prefix="rkeras_data_golden_", dir="/tmp")
    try:
        dump("index_golden.json", {"meta": meta, **index_golden(tmp)})
        dump("resize_golden.json", {"meta": meta, **resize_golden(tmp)})
        dump("labels_golden.json", {"meta": meta, **labels_golden(tmp)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
