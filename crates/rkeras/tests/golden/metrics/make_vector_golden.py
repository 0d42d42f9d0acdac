"""Golden values of Keras 3's vector-valued metrics: F1Score() (average=None, one score per
class), FBetaScore(beta=2, average=None, threshold=0.5), and Precision/Recall/the confusion
counts with a list of thresholds (one value per threshold), on fixed inputs with and without
sample weights; a short training run logging them (history, and the CSVLogger file); and a
classifier compiled with F1Score() saved with its evaluation. Run:
KERAS_BACKEND=jax python make_vector_golden.py (writes vector_cases.json, f1_model.keras)."""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(22)
M = keras.metrics


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.ravel()]}


def vec(v):
    return [float(x) for x in np.asarray(v).ravel()]


pm = rng.random((30, 4)).astype("float32")
pm = pm / pm.sum(axis=1, keepdims=True)
ym = np.eye(4, dtype="float32")[rng.integers(0, 4, size=30)]
wm = rng.uniform(0, 2, size=(30,)).astype("float32")
pb = rng.random((40, 1)).astype("float32")
yb = (rng.random((40, 1)) < 0.4).astype("float32")
wb = rng.uniform(0, 2, size=(40,)).astype("float32")

T = [0.3, 0.5, 0.7]
multi = {
    "f1_score": lambda: M.F1Score(),
    "fbeta_score": lambda: M.FBetaScore(beta=2.0, average=None, threshold=0.5),
    "f1_t02": lambda: M.F1Score(threshold=0.2, name="f1_t02"),
    "precision": lambda: M.Precision(thresholds=T),
    "recall": lambda: M.Recall(thresholds=T, name="recall"),
    "precision_class2": lambda: M.Precision(thresholds=[0.1, 0.25], class_id=2, name="precision_class2"),
    "tp": lambda: M.TruePositives(thresholds=T, name="tp"),
    "fp": lambda: M.FalsePositives(thresholds=T, name="fp"),
    "tn": lambda: M.TrueNegatives(thresholds=T, name="tn"),
    "fn": lambda: M.FalseNegatives(thresholds=T, name="fn"),
}
binary = {
    "precision": lambda: M.Precision(thresholds=T),
    "recall": lambda: M.Recall(thresholds=[0.0, 0.25, 0.5, 0.75, 1.0]),
    "tp": lambda: M.TruePositives(thresholds=T, name="tp"),
}
out = {}
for case, ms, y, p, w in [("multi", multi, ym, pm, wm), ("binary", binary, yb, pb, wb)]:
    out[case] = {}
    for k, make in ms.items():
        m = make()
        m.update_state(y, p)
        plain = vec(m.result())
        m = make()
        m.update_state(y, p, sample_weight=w)
        out[case][k] = {"value": plain, "weighted": vec(m.result()),
                        "config": keras.metrics.serialize(m)}

# Training: a softmax classifier logging F1Score(), FBetaScore(beta=2, threshold=0.5) and
# Precision at three thresholds, with validation data and a CSVLogger.
keras.utils.set_random_seed(3)
x = rng.normal(size=(48, 5)).astype("float32")
y = np.eye(3, dtype="float32")[rng.integers(0, 3, size=48)]
xv = rng.normal(size=(16, 5)).astype("float32")
yv = np.eye(3, dtype="float32")[rng.integers(0, 3, size=16)]
model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer=keras.optimizers.SGD(0.2), loss="categorical_crossentropy",
              metrics=["f1_score", M.FBetaScore(beta=2.0, threshold=0.5),
                       M.Precision(thresholds=T, name="precision")])
init = [arr(v) for v in model.get_weights()]
csv_path = os.path.join(here, "vector_log.csv")
hist = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                 validation_data=(xv, yv), callbacks=[keras.callbacks.CSVLogger(csv_path)])
with open(csv_path) as f:
    csv_text = f.read()
os.remove(csv_path)
out["train"] = {"x": arr(x), "y": arr(y), "xv": arr(xv), "yv": arr(yv), "initial": init,
                "history": {k: [vec(e) if np.ndim(e) else float(e) for e in vs]
                            for k, vs in hist.history.items()},
                "csv": csv_text, "compile_config": model.get_compile_config()}

# A classifier compiled with F1Score() (an object, so its config is saved) and Precision at
# two thresholds, saved, then evaluated by Keras.
keras.utils.set_random_seed(7)
xs = rng.normal(size=(40, 6)).astype("float32")
ys = np.eye(3, dtype="float32")[(xs[:, 0] > 0).astype(int) + (xs[:, 1] > 0.5).astype(int)]
f1m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                        keras.layers.Dense(3, activation="softmax")])
f1m.compile(optimizer="adam", loss="categorical_crossentropy",
            metrics=[M.F1Score(), M.Precision(thresholds=[0.4, 0.6], name="p2")])
f1m.fit(xs, ys, batch_size=8, epochs=2, shuffle=False, verbose=0)
f1m.save(os.path.join(here, "f1_model.keras"))
ev = f1m.evaluate(xs, ys, batch_size=40, verbose=0, return_dict=True)
out["model"] = {"x": arr(xs), "y": arr(ys),
                "evaluate": {k: (vec(v) if np.ndim(v) else float(v)) for k, v in ev.items()},
                "compile_config": f1m.get_compile_config()}
out["inputs"] = {"pm": arr(pm), "ym": arr(ym), "wm": arr(wm), "pb": arr(pb), "yb": arr(yb),
                 "wb": arr(wb)}
with open(os.path.join(here, "vector_cases.json"), "w") as f:
    json.dump(out, f)
print(out["train"]["history"]["f1_score"], out["model"]["evaluate"])
print(csv_text)
