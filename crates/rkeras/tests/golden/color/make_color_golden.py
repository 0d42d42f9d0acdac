"""Golden outputs of Keras 3.15.1's colour augmentation layers (JAX backend), made
deterministic with degenerate factor ranges or an explicit transformation, plus a
Sequential model holding ten of them saved as `color_layers.keras` (Keras 3.15 cannot
put `Equalization` in a model: its output spec is its input tensor, a "cycle").

Run: KERAS_BACKEND=jax /tmp/kenv/bin/python make_color_golden.py
Writes color_golden.json and color_layers.keras next to this file.
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402
import numpy as np  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(5)
x255 = rng.uniform(0, 255, (1, 6, 5, 3)).astype("float32")
x01 = x255 / 255.0
L = keras.layers


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.ravel()]}


cases = []


def case(name, layer, x, transformation=None, training=True):
    if transformation is None:
        y = layer(x, training=training)
    else:
        layer.build(x.shape)
        y = layer.transform_images(x, transformation, training=True)
    cfg = keras.layers.serialize(layer)
    cases.append({"name": name, "config": cfg, "x": arr(x), "y": arr(y),
                  "transformation": {k: np.asarray(v).ravel().tolist() for k, v in (transformation or {}).items()},
                  "training": training})


case("grayscale", L.RandomGrayscale(factor=1.0), x255)
case("invert", L.RandomInvert(factor=(1.0, 1.0)), x255)
case("invert_01", L.RandomInvert(factor=(1.0, 1.0), value_range=(0, 1)), x01)
case("posterize4", L.RandomPosterization(factor=(4, 4)), x255)
case("posterize2_01", L.RandomPosterization(factor=(2, 2), value_range=(0, 1)), x01)
case("sharpness_blur", L.RandomSharpness(factor=(0.1, 0.1)), x255)
case("sharpness_sharpen", L.RandomSharpness(factor=(0.9, 0.9)), x255)
case("degenerate", L.RandomColorDegeneration(factor=(0.7, 0.7)), x255)
case("saturation_low", L.RandomSaturation(factor=(0.2, 0.2)), x255)
case("saturation_high", L.RandomSaturation(factor=(0.8, 0.8)), x255)
case("hue_half", L.RandomHue(factor=(1.0, 1.0)), x255)
case("hue_explicit", L.RandomHue(factor=0.5), x255, {"factor": np.array([0.13], "float32")})
case("hue_explicit_neg_01", L.RandomHue(factor=0.5, value_range=(0, 1)), x01, {"factor": np.array([-0.21], "float32")})
case("solarize", L.Solarization(addition_factor=0.5, threshold_factor=0.5), x255,
     {"additions": np.array([20.0], "float32").reshape(1, 1, 1, 1),
      "thresholds": np.array([128.0], "float32").reshape(1, 1, 1, 1)})
case("solarize_zero", L.Solarization(addition_factor=(0, 0), threshold_factor=(0, 0)), x255)
case("autocontrast", L.AutoContrast(), x255 * 0.5 + 40, training=False)
case("autocontrast_01", L.AutoContrast(value_range=(0, 1)), x01 * 0.3 + 0.2, training=True)
case("equalize", L.Equalization(), np.floor(x255))
case("equalize_64", L.Equalization(bins=64), np.floor(x255))
case("jitter", L.RandomColorJitter(brightness_factor=(0.1, 0.1), contrast_factor=(-0.3, 0.3),
                                   saturation_factor=(0.6, 0.6), hue_factor=(1.0, 1.0)), x255)

model = keras.Sequential([
    keras.Input((6, 5, 3)),
    L.RandomGrayscale(factor=0.3, seed=1), L.RandomHue(0.2, seed=2), L.RandomSaturation((0.3, 0.7)),
    L.RandomColorJitter(brightness_factor=0.1, hue_factor=0.05), L.RandomColorDegeneration(0.4),
    L.RandomSharpness(0.3), L.RandomInvert(), L.RandomPosterization(6), L.Solarization(0.1, 0.9),
    L.AutoContrast(), L.Conv2D(2, 3, name="head"),
])
model.save(os.path.join(here, "color_layers.keras"))
out = {"cases": cases, "model_x": arr(x255), "model_y": arr(model.predict(x255, verbose=0)),
       "keras": keras.__version__}
with open(os.path.join(here, "color_golden.json"), "w") as f:
    json.dump(out, f)
print(len(cases), "cases")
