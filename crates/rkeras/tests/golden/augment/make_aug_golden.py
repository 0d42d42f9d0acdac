"""Golden generator for rkeras image preprocessing / augmentation layers.

Run with the TF oracle env (TF 2.21 + keras 3.15.1):

    KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 \
        /tmp/anchors-env/tf/bin/python make_aug_golden.py

Writes aug_golden.json next to this file.  See SPEC.md for the semantics.

Conventions in the JSON:
  * images are flat row-major (H, W, C) or (N, H, W, C) float32 lists with a
    "shape" field; all inputs are listed once under "inputs".
  * "matrix" = the 8-vector [a0,a1,a2,b0,b1,b2,c0,c1] the layer passes to
    affine_transform (output pixel (x=col, y=row) samples input at
    (a0*x+a1*y+a2, b0*x+b1*y+b2)).
  * Random layers are made deterministic with degenerate ranges (lo == hi),
    or by calling layer.transform_images() with an explicit transformation.
  * Every TF result is also checked against the numpy reference implementation
    in this file (ref_affine / ref_resize_*), which mirrors SPEC.md.
"""

import json
import math
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
F32 = np.float32


def flt(a):
    """float32 values -> shortest-repr python floats (keeps JSON small)."""
    a = np.asarray(a, dtype=F32).ravel()
    return [float(repr(F32(v)).replace("np.float32(", "").rstrip(")")) for v in a]


def jcfg(cfg):
    """get_config() -> JSON-able (tuples -> lists), dtype policy kept."""
    return json.loads(json.dumps(cfg))


# --------------------------------------------------------------------------
# inputs (values are multiples of 1/8 in [0, 255): exact in float32)
rng = np.random.default_rng(1234)
IMG_A = (rng.integers(0, 2040, size=(5, 6, 2)) / 8.0).astype(F32)  # H=5 W=6 C=2
IMG_B = (rng.integers(0, 2040, size=(7, 7, 1)) / 8.0).astype(F32)  # H=7 W=7 C=1
BATCH = np.stack([IMG_A, IMG_A[::-1, ::-1, :], IMG_A * 0.5]).astype(F32)
INPUTS = {"A": IMG_A, "B": IMG_B, "batch": BATCH}
INPUTS["A01"] = (IMG_A / 255.0).astype(F32)

out = {
    "meta": {
        "keras_version": keras.__version__,
        "tf_version": tf.__version__,
        "backend": keras.backend.backend(),
        "note": "see SPEC.md; flat row-major float32 arrays",
    },
    "inputs": {
        k: {"shape": list(v.shape), "data": flt(v)} for k, v in INPUTS.items()
    },
    "affine_cases": [],
    "coord_probe": [],
    "resize_cases": [],
    "center_crop_cases": [],
    "random_crop_cases": [],
    "flip_cases": [],
    "color_cases": [],
    "rescaling_cases": [],
    "configs": [],
    "errors": [],
    "behaviour": {},
}


# --------------------------------------------------------------------------
# numpy reference implementations (mirror SPEC.md; asserted against TF)
def map_coord(c, n, mode):
    c = F32(c)
    if mode == "reflect":
        if c < 0:
            if n <= 1:
                c = F32(0)
            else:
                sz2 = 2 * n
                c = F32(sz2 * int(-c / F32(sz2)) + c)
                c = F32(c + sz2) if c < -n else F32(-c - 1)
        elif c > n - 1:
            if n <= 1:
                c = F32(0)
            else:
                sz2 = 2 * n
                c = F32(c - sz2 * int(c / F32(sz2)))
                if c >= n:
                    c = F32(sz2 - c - 1)
        return F32(min(max(c, 0.0), n - 1))
    if mode == "wrap":
        if c < 0:
            if n <= 1:
                c = F32(0)
            else:
                sz = n - 1
                c = F32(c + n * (int(-c / F32(sz)) + 1))
        elif c > n - 1:
            if n <= 1:
                c = F32(0)
            else:
                sz = n - 1
                c = F32(c - n * int(c / F32(sz)))
        return F32(min(max(c, 0.0), n - 1))
    if mode == "nearest":
        return F32(min(max(c, 0.0), n - 1))
    return c  # constant


def c_round(v):  # std::round: half away from zero (exact, in float64)
    v = float(v)
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def ref_affine(img, m, interp, mode, fill):
    img = np.asarray(img, F32)
    h, w, ch = img.shape
    m = np.asarray(m, F32)
    fill = F32(fill)
    res = np.zeros_like(img)

    def rd(y, x, c):
        if 0 <= y < h and 0 <= x < w:
            return img[y, x, c]
        return fill

    for oy in range(h):
        for ox in range(w):
            xo, yo = F32(ox), F32(oy)
            k = F32(F32(m[6] * xo) + F32(m[7] * yo)) + F32(1)
            ix = F32(F32(F32(m[0] * xo) + F32(m[1] * yo)) + m[2]) / k
            iy = F32(F32(F32(m[3] * xo) + F32(m[4] * yo)) + m[5]) / k
            x = map_coord(ix, w, mode)
            y = map_coord(iy, h, mode)
            for c in range(ch):
                if interp == "nearest":
                    res[oy, ox, c] = rd(c_round(y), c_round(x), c)
                else:
                    yf, xf = F32(math.floor(y)), F32(math.floor(x))
                    yc, xc = yf + F32(1), xf + F32(1)
                    vyf = F32((xc - x) * rd(int(yf), int(xf), c)) + F32(
                        (x - xf) * rd(int(yf), int(xc), c)
                    )
                    vyc = F32((xc - x) * rd(int(yc), int(xf), c)) + F32(
                        (x - xf) * rd(int(yc), int(xc), c)
                    )
                    res[oy, ox, c] = F32((yc - y) * vyf) + F32((y - yf) * vyc)
    return res


def ref_resize_bilinear(img, oh, ow):
    img = np.asarray(img, F32)
    h, w, ch = img.shape
    sy, sx = F32(h) / F32(oh), F32(w) / F32(ow)

    def wts(o, s, n):
        v = F32(F32(F32(o) + F32(0.5)) * s) - F32(0.5)
        f = math.floor(v)
        return max(int(f), 0), min(int(math.ceil(v)), n - 1), F32(v - F32(f))

    res = np.zeros((oh, ow, ch), F32)
    for oy in range(oh):
        y0, y1, ly = wts(oy, sy, h)
        for ox in range(ow):
            x0, x1, lx = wts(ox, sx, w)
            tl, tr, bl, br = img[y0, x0], img[y0, x1], img[y1, x0], img[y1, x1]
            top = tl + (tr - tl) * lx
            bot = bl + (br - bl) * lx
            res[oy, ox] = top + (bot - top) * ly
    return res


def ref_resize_nearest(img, oh, ow):
    img = np.asarray(img, F32)
    h, w, ch = img.shape
    sy, sx = F32(h) / F32(oh), F32(w) / F32(ow)
    res = np.zeros((oh, ow, ch), F32)
    for oy in range(oh):
        iy = max(min(int(math.floor(F32(F32(oy) + F32(0.5)) * sy)), h - 1), 0)
        for ox in range(ow):
            ix = max(min(int(math.floor(F32(F32(ox) + F32(0.5)) * sx)), w - 1), 0)
            res[oy, ox] = img[iy, ix]
    return res


def check(name, got, ref, tol=1e-3):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, (name, got.shape, ref.shape)
    err = float(np.max(np.abs(got - ref))) if got.size else 0.0
    assert err <= tol, (name, err)
    return err


MAX_ERR = {"affine": 0.0, "resize": 0.0}

# --------------------------------------------------------------------------
# 1. coordinate probe of ImageProjectiveTransformV3 (1 x n image, x' = 0.25*x - 10)
for n in (1, 2, 5, 6):
    row = (10.0 ** np.arange(n)).astype(F32)  # 1, 10, 100, ... decodable mixes
    img = row.reshape(1, 1, n, 1)
    coords = [F32(0.25 * i - 10) for i in range(81)]
    for mode in ("reflect", "wrap", "constant", "nearest"):
        for interp in ("nearest", "bilinear"):
            r = tf.raw_ops.ImageProjectiveTransformV3(
                images=tf.constant(img),
                transforms=tf.constant([[0.25, 0, -10, 0, 1, 0, 0, 0]], tf.float32),
                output_shape=tf.constant([1, 81], tf.int32),
                fill_value=tf.constant(7.0, tf.float32),
                interpolation=interp.upper(),
                fill_mode=mode.upper(),
            ).numpy().ravel()
            # reference: same row through ref_affine machinery (1-D)
            refv = []
            for c in coords:
                x = map_coord(c, n, mode)
                if interp == "nearest":
                    i = c_round(x)
                    refv.append(row[i] if 0 <= i < n else F32(7))
                else:
                    xf = F32(math.floor(x))
                    xc = xf + 1
                    a = row[int(xf)] if 0 <= xf < n else F32(7)
                    b = row[int(xc)] if 0 <= xc < n else F32(7)
                    refv.append(F32((xc - x) * a) + F32((x - xf) * b))
            check(f"probe n={n} {mode} {interp}", r, np.array(refv, F32), 1e-2)
            out["coord_probe"].append(
                {
                    "len": n,
                    "row": flt(row),
                    "fill_mode": mode,
                    "interpolation": interp,
                    "fill_value": 7.0,
                    "x_start": -10.0,
                    "x_step": 0.25,
                    "count": 81,
                    "output": flt(r),
                }
            )


# --------------------------------------------------------------------------
# 2. affine layers with degenerate ranges
def affine_matrix(layer, x):
    t = layer.get_random_transformation(x, training=True)
    if isinstance(layer, layers.RandomRotation):
        m = t["rotation_matrix"]
    elif isinstance(layer, layers.RandomZoom):
        zooms = np.concatenate([t["width_zoom"], t["height_zoom"]], axis=1)
        h, w = x.shape[-3], x.shape[-2]
        m = layer._get_zoom_matrix(tf.constant(zooms, tf.float32), h, w)
    else:
        m = layer._get_translation_matrix(t["translations"])
    m = np.asarray(m, F32)
    return m.reshape(-1, 8)[0]


AFFINE_SPECS = [
    ("RandomRotation", {"factor": (0.25, 0.25)}),
    ("RandomRotation", {"factor": (0.1, 0.1)}),
    ("RandomRotation", {"factor": (-0.3, -0.3)}),
    ("RandomZoom", {"height_factor": (0.5, 0.5)}),
    ("RandomZoom", {"height_factor": (-0.3, -0.3), "width_factor": (0.2, 0.2)}),
    ("RandomTranslation", {"height_factor": (0.2, 0.2), "width_factor": (-0.34, -0.34)}),
    ("RandomTranslation", {"height_factor": (-0.5, -0.5), "width_factor": (0.75, 0.75)}),
]
for cls_name, base_kw in AFFINE_SPECS:
    for mode in ("reflect", "wrap", "constant", "nearest"):
        for interp in ("bilinear", "nearest"):
            kw = dict(base_kw, fill_mode=mode, interpolation=interp)
            if mode == "constant":
                kw["fill_value"] = 7.0
            for inp in ("A", "B"):
                layer = getattr(layers, cls_name)(**kw)
                x = INPUTS[inp]
                y = np.asarray(layer(x, training=True))
                m = affine_matrix(layer, x[None])
                err = check(
                    f"{cls_name} {kw} {inp}",
                    y,
                    ref_affine(x, m, interp, mode, kw.get("fill_value", 0.0)),
                )
                MAX_ERR["affine"] = max(MAX_ERR["affine"], err)
                out["affine_cases"].append(
                    {
                        "layer": cls_name,
                        "kwargs": jcfg(kw),
                        "input": inp,
                        "training": True,
                        "matrix": flt(m),
                        "output_shape": list(y.shape),
                        "output": flt(y),
                    }
                )
# batched call: same degenerate transform applied to every image
for cls_name, base_kw in AFFINE_SPECS[1:2] + AFFINE_SPECS[4:6]:
    layer = getattr(layers, cls_name)(**base_kw)
    y = np.asarray(layer(BATCH, training=True))
    m = affine_matrix(layer, BATCH)
    for i in range(len(BATCH)):
        check("batched", y[i], ref_affine(BATCH[i], m, "bilinear", "reflect", 0.0))
    out["affine_cases"].append(
        {
            "layer": cls_name,
            "kwargs": jcfg(base_kw),
            "input": "batch",
            "training": True,
            "matrix": flt(m),
            "output_shape": list(y.shape),
            "output": flt(y),
        }
    )
    # inference: identity
    y0 = np.asarray(layer(BATCH, training=False))
    assert np.array_equal(y0, BATCH)


# --------------------------------------------------------------------------
# 3. Resizing
RESIZE_SPECS = [
    ("A", {"height": 3, "width": 4}),
    ("A", {"height": 3, "width": 4, "interpolation": "nearest"}),
    ("A", {"height": 8, "width": 9}),
    ("A", {"height": 8, "width": 9, "interpolation": "nearest"}),
    ("B", {"height": 4, "width": 5}),
    ("B", {"height": 4, "width": 5, "interpolation": "nearest"}),
    ("B", {"height": 10, "width": 3}),
    ("A", {"height": 3, "width": 3, "crop_to_aspect_ratio": True}),
    ("A", {"height": 4, "width": 2, "crop_to_aspect_ratio": True}),
    ("B", {"height": 4, "width": 2, "crop_to_aspect_ratio": True}),
    ("B", {"height": 2, "width": 6, "crop_to_aspect_ratio": True, "interpolation": "nearest"}),
    ("A", {"height": 3, "width": 3, "pad_to_aspect_ratio": True}),
    ("A", {"height": 4, "width": 8, "pad_to_aspect_ratio": True}),
    ("A", {"height": 8, "width": 4, "pad_to_aspect_ratio": True, "fill_value": 7.0}),
    ("B", {"height": 4, "width": 8, "pad_to_aspect_ratio": True, "fill_value": 7.0}),
    ("B", {"height": 9, "width": 3, "pad_to_aspect_ratio": True, "interpolation": "nearest"}),
    ("A", {"height": 2, "width": 3, "antialias": True}),
]


def ref_resizing(x, kw):
    h, w = x.shape[0], x.shape[1]
    th, tw = kw["height"], kw["width"]
    if kw.get("crop_to_aspect_ratio"):
        ch = max(min(h, int(F32(w * th) / F32(tw))), 1)
        cw = max(min(w, int(F32(h * tw) / F32(th))), 1)
        hs, ws = int(F32(h - ch) / 2), int(F32(w - cw) / 2)
        x = x[hs : hs + ch, ws : ws + cw]
    elif kw.get("pad_to_aspect_ratio"):
        ph = max(h, int(F32(w * th) / F32(tw)))
        pw = max(w, int(F32(h * tw) / F32(th)))
        hs, ws = int(F32(ph - h) / 2), int(F32(pw - w) / 2)
        fv = kw.get("fill_value", 0.0)
        x = np.pad(x, ((hs, hs), (ws, ws), (0, 0)), constant_values=fv)
    if kw.get("interpolation", "bilinear") == "nearest":
        return ref_resize_nearest(x, th, tw)
    return ref_resize_bilinear(x, th, tw)


for inp, kw in RESIZE_SPECS:
    layer = layers.Resizing(**kw)
    x = INPUTS[inp]
    y = np.asarray(layer(x))
    y_inf = np.asarray(layer(x, training=False))
    assert np.array_equal(y, y_inf)
    if not kw.get("antialias"):
        err = check(f"resize {kw} {inp}", y, ref_resizing(x, kw), 1e-3)
        MAX_ERR["resize"] = max(MAX_ERR["resize"], err)
    out["resize_cases"].append(
        {
            "kwargs": kw,
            "input": inp,
            "output_shape": list(y.shape),
            "output": flt(y),
        }
    )

# --------------------------------------------------------------------------
# 4. CenterCrop (always active; smaller target = slice, larger = smart_resize)
for inp, (hh, ww) in [("A", (3, 4)), ("A", (4, 5)), ("B", (3, 3)), ("B", (2, 6)),
                      ("A", (7, 4)), ("A", (8, 8)), ("B", (9, 5))]:
    layer = layers.CenterCrop(hh, ww)
    x = INPUTS[inp]
    y = np.asarray(layer(x))
    assert np.array_equal(y, np.asarray(layer(x, training=False)))
    H, W = x.shape[0], x.shape[1]
    if H >= hh and W >= ww:
        hs, ws = (H - hh) // 2, (W - ww) // 2
        ref = x[hs : hs + hh, ws : ws + ww]
        path = "slice"
    else:
        ref = ref_resizing(x, {"height": hh, "width": ww, "crop_to_aspect_ratio": True})
        path = "smart_resize"
    check(f"centercrop {hh}x{ww} {inp}", y, ref, 1e-3)
    out["center_crop_cases"].append(
        {"height": hh, "width": ww, "input": inp, "path": path,
         "output_shape": list(y.shape), "output": flt(y)}
    )

# --------------------------------------------------------------------------
# 5. RandomCrop: deterministic branches only
#    training=True with H > h and W > w -> random offset (one per batch)
#    training=True otherwise          -> "center" offsets + slice + resize
#    training=False                   -> input returned unchanged (!)
for inp, (hh, ww) in [("A", (5, 4)), ("A", (3, 6)), ("A", (7, 7)), ("B", (7, 3)),
                      ("B", (9, 4)), ("A", (4, 8))]:
    layer = layers.RandomCrop(hh, ww, seed=1)
    x = INPUTS[inp]
    y = np.asarray(layer(x, training=True))
    y_inf = np.asarray(layer(x, training=False))
    assert np.array_equal(y_inf, x)
    H, W = x.shape[0], x.shape[1]
    assert not (H > hh and W > ww)  # deterministic branch only
    ch = max(min(H, int(float(W * hh) / ww)), 1)
    cw = max(min(W, int(float(H * ww) / hh)), 1)
    hs, ws = int(float(H - ch) / 2), int(float(W - cw) / 2)
    ref = x[hs : hs + hh, ws : ws + ww]  # note: slices with (hh, ww), not (ch, cw)
    if ref.shape[:2] != (hh, ww):
        ref = ref_resize_bilinear(ref, hh, ww)
    check(f"randomcrop {hh}x{ww} {inp}", y, ref, 1e-3)
    out["random_crop_cases"].append(
        {"height": hh, "width": ww, "input": inp, "training": True,
         "transformation": [int(v) for v in layer.get_random_transformation(x, training=True)],
         "output_shape": list(y.shape), "output": flt(y)}
    )
# random branch: all images of a batch get the same window; window fits
layer = layers.RandomCrop(3, 4, seed=3)
yb = np.asarray(layer(BATCH, training=True))
found = None
for hs in range(3):
    for ws in range(3):
        if np.array_equal(yb, BATCH[:, hs : hs + 3, ws : ws + 4]):
            found = (hs, ws)
assert found is not None
out["behaviour"]["random_crop_one_window_per_batch"] = True
out["behaviour"]["random_crop_inference_returns_input_unchanged"] = True

# --------------------------------------------------------------------------
# 6. RandomFlip via explicit transformation (flips per image)
for mode in ("horizontal", "vertical", "horizontal_and_vertical"):
    layer = layers.RandomFlip(mode)
    flips = np.array([True, False, True]).reshape(3, 1, 1, 1)
    y = np.asarray(layer.transform_images(tf.constant(BATCH), {"flips": tf.constant(flips)}, training=True))
    for i in range(3):
        e = BATCH[i]
        if flips[i, 0, 0, 0]:
            if mode in ("horizontal", "horizontal_and_vertical"):
                e = e[:, ::-1]
            if mode in ("vertical", "horizontal_and_vertical"):
                e = e[::-1]
        assert np.array_equal(y[i], e)
    out["flip_cases"].append(
        {"mode": mode, "input": "batch", "flips": [True, False, True],
         "output": flt(y)}
    )
# seeded run on 16 identical images: per-image decisions, h&v = identity or 180deg
img16 = np.repeat(IMG_A[None], 16, axis=0)
for mode in ("horizontal", "vertical", "horizontal_and_vertical"):
    layer = layers.RandomFlip(mode, seed=42)
    y = np.asarray(layer(img16, training=True))
    kinds = []
    for i in range(16):
        if np.array_equal(y[i], IMG_A):
            kinds.append("id")
        elif np.array_equal(y[i], IMG_A[:, ::-1]):
            kinds.append("h")
        elif np.array_equal(y[i], IMG_A[::-1]):
            kinds.append("v")
        elif np.array_equal(y[i], IMG_A[::-1, ::-1]):
            kinds.append("hv")
        else:
            kinds.append("?")
    out["behaviour"][f"flip_seed42_{mode}_per_image"] = kinds
layer = layers.RandomFlip("diagonal")  # not validated; acts as identity
out["behaviour"]["flip_invalid_mode_is_identity"] = bool(
    np.array_equal(np.asarray(layer(IMG_A, training=True)), IMG_A)
)

# --------------------------------------------------------------------------
# 7. colour layers
def contrast_ref(x, k, vr):
    mean = x.mean(axis=(0, 1), keepdims=True, dtype=np.float32)
    return np.clip((x - mean) * F32(k) + mean, vr[0], vr[1])


for inp, kw in [("A", {"factor": (-0.3, 0.3)}),            # k = 1.3 exactly
                ("B", {"factor": (-0.3, 0.3)}),
                ("A01", {"factor": (-0.6, 0.6), "value_range": (0, 1)}),  # k = 1.6
                ("A", {"factor": 0.0})]:                     # k = 1
    layer = layers.RandomContrast(**kw)
    x = INPUTS[inp]
    y = np.asarray(layer(x, training=True))
    k = 1.0 + layer.factor[1]
    assert layer.factor[1] == -layer.factor[0] or layer.factor == (0, 0.0)
    check("contrast", y, contrast_ref(x, k, kw.get("value_range", (0, 255))), 1e-3)
    assert np.array_equal(np.asarray(layer(x, training=False)), x)
    out["color_cases"].append(
        {"layer": "RandomContrast", "kwargs": jcfg(kw), "input": inp,
         "contrast_factor": flt([k])[0], "via": "layer call, degenerate factor",
         "output": flt(y)}
    )
# arbitrary k (incl. k < 1, impossible with a degenerate factor) via transform_images
for inp, k, vr in [("A", 0.5, (0, 255)), ("A", 0.0, (0, 255)), ("B", 2.0, (0, 255)),
                   ("A01", 0.25, (0, 1))]:
    layer = layers.RandomContrast(0.5, value_range=vr)
    x = INPUTS[inp]
    y = np.asarray(layer.transform_images(tf.constant(x), {"contrast_factor": tf.constant(np.full((1, 1, 1), k, F32))}, training=True))
    check("contrast k", y, contrast_ref(x, k, vr), 1e-3)
    out["color_cases"].append(
        {"layer": "RandomContrast", "kwargs": {"factor": 0.5, "value_range": list(vr)},
         "input": inp, "contrast_factor": k, "via": "transform_images",
         "output": flt(y)}
    )
for inp, kw in [("A", {"factor": (0.2, 0.2)}),                         # +51
                ("A", {"factor": (-0.5, -0.5)}),                       # -127.5
                ("A01", {"factor": (0.3, 0.3), "value_range": (0, 1)}),  # +0.3
                ("A01", {"factor": (-0.3, -0.3), "value_range": (1, 0)}),  # sorted
                ("A", {"factor": (0.1, 0.1), "value_range": (-100, 100)})]:  # +20
    layer = layers.RandomBrightness(**kw)
    x = INPUTS[inp]
    y = np.asarray(layer(x, training=True))
    vr = sorted(kw.get("value_range", (0, 255)))
    delta = F32(layer.factor[0]) * F32(vr[1] - vr[0])
    check("brightness", y, np.clip(x + delta, vr[0], vr[1]), 1e-4)
    assert np.array_equal(np.asarray(layer(x, training=False)), x)
    out["color_cases"].append(
        {"layer": "RandomBrightness", "kwargs": jcfg(kw), "input": inp,
         "rgb_delta": flt([delta])[0], "via": "layer call, degenerate factor",
         "output": flt(y)}
    )

# --------------------------------------------------------------------------
# 8. Rescaling
for kw in [{"scale": 1 / 255.0}, {"scale": 2.0, "offset": -1.0}, {"scale": 1 / 127.5, "offset": -1}]:
    layer = layers.Rescaling(**kw)
    y = np.asarray(layer(IMG_A))
    check("rescale", y, IMG_A * F32(kw["scale"]) + F32(kw.get("offset", 0.0)), 1e-5)
    out["rescaling_cases"].append(
        {"kwargs": kw, "input": "A", "output": flt(y), "config": jcfg(layer.get_config())}
    )

# --------------------------------------------------------------------------
# 9. per-image vs per-batch sampling (seeded, non-degenerate, identical images)
def distinct(y):
    return len({np.asarray(v).tobytes() for v in y})


img8 = np.repeat(IMG_B[None], 8, axis=0)
for name, layer in [
    ("RandomRotation", layers.RandomRotation(0.2, seed=5)),
    ("RandomZoom", layers.RandomZoom(0.3, seed=5)),
    ("RandomTranslation", layers.RandomTranslation(0.3, 0.3, seed=5)),
    ("RandomContrast", layers.RandomContrast(0.5, seed=5)),
    ("RandomBrightness", layers.RandomBrightness(0.3, seed=5)),
    ("RandomFlip", layers.RandomFlip(seed=5)),
    ("RandomCrop", layers.RandomCrop(4, 4, seed=5)),
]:
    y = np.asarray(layer(img8, training=True))
    out["behaviour"][f"distinct_outputs_of_8_identical_images_{name}"] = distinct(y)
    # a second call draws new randomness
    y2 = np.asarray(layer(img8, training=True))
    out["behaviour"][f"second_call_differs_{name}"] = not np.array_equal(y, y2)

# default call (no training kwarg) on a bare layer -> training=True (augments)
l = layers.RandomRotation((0.25, 0.25))
out["behaviour"]["bare_layer_call_without_training_augments"] = not np.array_equal(
    np.asarray(l(IMG_A)), IMG_A)
m = keras.Sequential([keras.Input((5, 6, 2)), layers.RandomRotation((0.25, 0.25))])
out["behaviour"]["sequential_call_without_training_augments"] = not np.array_equal(
    np.asarray(m(IMG_A[None]))[0], IMG_A)
out["behaviour"]["predict_augments"] = not np.array_equal(
    m.predict(IMG_A[None], verbose=0)[0], IMG_A)
m = keras.Sequential([keras.Input((5, 6, 2)), layers.RandomCrop(3, 4)])
out["behaviour"]["random_crop_predict_output_shape"] = list(m.predict(IMG_A[None], verbose=0).shape)
out["behaviour"]["random_crop_model_output_shape"] = list(m.output_shape)

# --------------------------------------------------------------------------
# 10. configs
CONFIG_SPECS = [
    ("RandomFlip", {}), ("RandomFlip", {"mode": "horizontal", "seed": 7}),
    ("RandomRotation", {"factor": 0.1}),
    ("RandomRotation", {"factor": [0.3, -0.2], "fill_mode": "constant", "interpolation": "nearest", "seed": 3, "fill_value": 1.5}),
    ("RandomRotation", {"factor": 0}),
    ("RandomZoom", {"height_factor": 0.1}),
    ("RandomZoom", {"height_factor": (0.2, -0.3), "width_factor": [-0.1, 0.4], "fill_mode": "wrap", "seed": 9}),
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": 0.1}),
    ("RandomTranslation", {"height_factor": (-0.2, 0.3), "width_factor": 0.5, "fill_mode": "nearest", "interpolation": "nearest", "fill_value": 2.0}),
    ("RandomContrast", {"factor": 0.2}), ("RandomContrast", {"factor": (0.1, 0.4), "value_range": (0, 1), "seed": 4}),
    ("RandomContrast", {"factor": [0.4, 0.1]}),
    ("RandomBrightness", {"factor": 0.2}), ("RandomBrightness", {"factor": (0.3, -0.1), "value_range": (1, 0), "seed": 2}),
    ("RandomCrop", {"height": 3, "width": 4, "seed": 11}),
    ("CenterCrop", {"height": 3, "width": 4}),
    ("Resizing", {"height": 3, "width": 4}),
    ("Resizing", {"height": 3, "width": 4, "interpolation": "nearest", "crop_to_aspect_ratio": True, "antialias": 1}),
    ("Resizing", {"height": 8, "width": 4, "pad_to_aspect_ratio": True, "fill_value": 7.0}),
    ("Rescaling", {"scale": 1 / 255.0}), ("Rescaling", {"scale": 2.0, "offset": -1.0}),
]
for cls_name, kw in CONFIG_SPECS:
    layer = getattr(layers, cls_name)(**kw, name="l")
    cfg = layer.get_config()
    out["configs"].append({"layer": cls_name, "kwargs": jcfg(kw),
                           "config": jcfg(cfg),
                           "config_json": json.dumps(jcfg(cfg))})
layer = layers.RandomCrop(3, 4)
out["behaviour"]["random_crop_seed_none_config_seed_is_int"] = isinstance(
    layer.get_config()["seed"], int)

# --------------------------------------------------------------------------
# 11. validation errors (exact messages)
ERR_SPECS = [
    ("RandomRotation", {"factor": 1.5}),
    ("RandomRotation", {"factor": (0.1, 0.2, 0.3)}),
    ("RandomRotation", {"factor": "x"}),
    ("RandomRotation", {"factor": (2.0, 3.0)}),
    ("RandomRotation", {"factor": (-5.0, 0.5)}),  # accepted (lax check)
    ("RandomRotation", {"factor": 0.1, "fill_mode": "mirror"}),
    ("RandomRotation", {"factor": 0.1, "interpolation": "bicubic"}),
    ("RandomZoom", {"height_factor": -1.0}),
    ("RandomZoom", {"height_factor": 1.0}),  # accepted (range is (-1, 1])
    ("RandomZoom", {"height_factor": (0.1,)}),
    ("RandomZoom", {"height_factor": 0.1, "width_factor": 1.5}),
    ("RandomZoom", {"height_factor": "x"}),
    ("RandomZoom", {"height_factor": 0.1, "fill_mode": "mirror"}),
    ("RandomZoom", {"height_factor": 0.1, "interpolation": "area"}),
    ("RandomTranslation", {"height_factor": -1.0, "width_factor": 1.0}),  # accepted
    ("RandomTranslation", {"height_factor": 1.2, "width_factor": 0.1}),
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": [0.1, 0.2, 0.3]}),
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": 0.1, "fill_mode": "x"}),
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": 0.1, "interpolation": "x"}),
    ("RandomContrast", {"factor": 1.5}),
    ("RandomContrast", {"factor": -0.2}),
    ("RandomContrast", {"factor": (0.3, -0.3)}),
    ("RandomContrast", {"factor": (-0.3, 0.3)}),  # accepted -> k == 1.3
    ("RandomBrightness", {"factor": 1.5}),
    ("RandomBrightness", {"factor": 0.2, "value_range": 255}),
    ("RandomBrightness", {"factor": 0.2, "value_range": (0, 1, 2)}),
    ("RandomFlip", {"mode": "diagonal"}),  # accepted, identity
    ("Resizing", {"height": 3, "width": 4, "interpolation": "cubic"}),
    ("Resizing", {"height": 3, "width": 4, "fill_mode": "reflect"}),
    ("Resizing", {"height": 3, "width": 4, "crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}),
]
for cls_name, kw in ERR_SPECS:
    rec = {"layer": cls_name, "kwargs": jcfg(kw)}
    try:
        layer = getattr(layers, cls_name)(**kw)
        try:
            layer(IMG_A, training=True)
            rec["result"] = "ok"
        except Exception as e:  # noqa: BLE001
            rec["result"] = "call_error"
            rec["type"] = type(e).__name__
            rec["message"] = str(e)
    except Exception as e:  # noqa: BLE001
        rec["result"] = "ctor_error"
        rec["type"] = type(e).__name__
        rec["message"] = str(e)
    out["errors"].append(rec)

# rank errors
for cls_name, kw in [("RandomRotation", {"factor": 0.1}), ("RandomContrast", {"factor": 0.1})]:
    try:
        getattr(layers, cls_name)(**kw)(np.zeros((4, 4), F32), training=True)
        out["errors"].append({"layer": cls_name, "kwargs": kw, "input_shape": [4, 4], "result": "ok"})
    except Exception as e:  # noqa: BLE001
        out["errors"].append({"layer": cls_name, "kwargs": kw, "input_shape": [4, 4],
                              "result": "call_error", "type": type(e).__name__,
                              "message": str(e)})

out["meta"]["max_abs_err_vs_reference"] = MAX_ERR
path = os.path.join(HERE, "aug_golden.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote", path, os.path.getsize(path), "bytes; max err vs numpy ref:", MAX_ERR)
