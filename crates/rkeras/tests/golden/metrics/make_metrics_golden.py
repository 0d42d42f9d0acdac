"""Golden values of Keras 3's stateful metrics on fixed inputs (edge cases included), and a
binary classifier compiled with Lion + CosineDecay + BinaryFocalCrossentropy + Precision/Recall/AUC, saved with Keras's
evaluation of it. Run: KERAS_BACKEND=jax python make_metrics_golden.py."""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(5)
M = keras.metrics


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.ravel()]}


pb = rng.random((40, 1)).astype("float32")
yb = (rng.random((40, 1)) < 0.4).astype("float32")
pm = rng.random((30, 4)).astype("float32")
pm = pm / pm.sum(axis=1, keepdims=True)
ym = np.eye(4, dtype="float32")[rng.integers(0, 4, size=30)]
w = rng.uniform(0, 2, size=(40,)).astype("float32")
zeros_p = np.full((10, 1), 0.1, "float32")
zeros_y = np.zeros((10, 1), "float32")

metrics = {
    "precision": M.Precision(),
    "recall": M.Recall(),
    "precision_t03": M.Precision(thresholds=0.3),
    "recall_t07": M.Recall(thresholds=0.7),
    "tp": M.TruePositives(),
    "fp": M.FalsePositives(),
    "tn": M.TrueNegatives(),
    "fn": M.FalseNegatives(),
    "auc": M.AUC(),
    "auc_pr": M.AUC(curve="PR"),
    "auc_50": M.AUC(num_thresholds=50),
    "rmse": M.RootMeanSquaredError(),
    "auc_minoring": M.AUC(summation_method="minoring"),
    "auc_pr_majoring": M.AUC(curve="PR", summation_method="majoring", num_thresholds=64),
    "precision_at_recall": M.PrecisionAtRecall(recall=0.6),
    "recall_at_precision": M.RecallAtPrecision(precision=0.5, num_thresholds=50),
    "sensitivity_at_specificity": M.SensitivityAtSpecificity(specificity=0.7),
    "specificity_at_sensitivity": M.SpecificityAtSensitivity(sensitivity=0.8, num_thresholds=1),
}
multi = {
    "precision_class2": M.Precision(class_id=2),
    "recall_top2": M.Recall(top_k=2),
    "precision_top1": M.Precision(top_k=1),
    "auc": M.AUC(),
    "top3": M.TopKCategoricalAccuracy(k=3),
    "auc_multi_label": M.AUC(multi_label=True),
    "auc_multi_label_pr_weights": M.AUC(multi_label=True, curve="PR", label_weights=[0.5, 1.0, 2.0, 0.0]),
    "auc_label_weights": M.AUC(label_weights=[1.0, 0.2, 3.0, 1.0]),
    "auc_multi_label_logits": M.AUC(multi_label=True, num_labels=4, from_logits=True),
    "precision_at_recall_class1": M.PrecisionAtRecall(recall=0.5, class_id=1),
    "specificity_at_sensitivity": M.SpecificityAtSensitivity(sensitivity=0.4),
}
scores = {
    "f1_micro": M.F1Score(average="micro"),
    "f1_macro": M.F1Score(average="macro"),
    "f1_weighted": M.F1Score(average="weighted"),
    "fbeta2_macro_t03": M.FBetaScore(average="macro", beta=2.0, threshold=0.3),
    "f1_micro_t025": M.F1Score(average="micro", threshold=0.25),
    "onehot_mean_iou": M.OneHotMeanIoU(num_classes=4),
    "onehot_iou_13": M.OneHotIoU(num_classes=4, target_class_ids=[1, 3]),
}
sparse_scores = {
    "mean_iou": M.MeanIoU(num_classes=4, sparse_y_pred=False),
    "iou_02": M.IoU(num_classes=4, target_class_ids=[0, 2], sparse_y_pred=False),
    "iou_ignore1": M.IoU(num_classes=4, target_class_ids=[0, 2, 3], sparse_y_pred=False, ignore_class=1),
}
binary_scores = {
    "binary_iou": M.BinaryIoU(),
    "binary_iou_1_t03": M.BinaryIoU(target_class_ids=[1], threshold=0.3),
    "f1_binary": M.F1Score(average="micro", threshold=0.5),
}
ys = ym.argmax(axis=1).astype("float32")
wm = w[:30]
out = {"binary": {}, "binary_weighted": {}, "no_positives": {}, "multi": {},
       "scores": {}, "scores_weighted": {}, "sparse_scores": {}, "sparse_scores_weighted": {},
       "binary_scores": {}, "binary_scores_weighted": {}}
for case, ms, yt, yp, sw in [("scores", scores, ym, pm, None), ("sparse_scores", sparse_scores, ys, pm, None),
                             ("binary_scores", binary_scores, yb, pb, None)]:
    for k, m in ms.items():
        m.update_state(yt, yp)
        out[case][k] = {"value": float(m.result()), "config": keras.metrics.serialize(m)}
        m.reset_state()
        m.update_state(yt, yp, sample_weight=wm if len(yp) == 30 else w)
        out[case + "_weighted"][k] = {"value": float(m.result()), "config": keras.metrics.serialize(m)}
for k, m in metrics.items():
    cfg = keras.metrics.serialize(m)
    m.update_state(yb, pb)
    out["binary"][k] = {"value": float(m.result()), "config": cfg}
    m.reset_state()
    m.update_state(yb, pb, sample_weight=w)
    out["binary_weighted"][k] = {"value": float(m.result())}
    m.reset_state()
    m.update_state(zeros_y, zeros_p)
    out["no_positives"][k] = {"value": float(m.result())}
for k, m in multi.items():
    m.update_state(ym, pm)
    out["multi"][k] = {"value": float(m.result()), "config": keras.metrics.serialize(m)}

# A binary classifier compiled with Lion + CosineDecay + BinaryFocalCrossentropy + Precision/Recall/AUC.
keras.utils.set_random_seed(2)
x = rng.normal(size=(64, 6)).astype("float32")
y = (x[:, :1] + 0.3 * x[:, 1:2] > 0).astype("float32")
model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=keras.optimizers.Lion(keras.optimizers.schedules.CosineDecay(0.003, 40)),
              loss=keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.3, gamma=1.5),
              metrics=["accuracy", M.Precision(name="precision"), M.Recall(name="recall"),
                       M.AUC(name="auc"), M.AUC(curve="PR", name="pr_auc")])
model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
model.save(os.path.join(here, "binary_lion.keras"))
ev = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
out["model"] = {"x": arr(x), "y": arr(y), "evaluate": {k: float(v) for k, v in ev.items()}}
# weighted_metrics: a plain and a weighted "accuracy" (Keras logs weighted_accuracy) and a
# weighted top-2, trained with sample weights.
keras.utils.set_random_seed(4)
xw = rng.normal(size=(24, 5)).astype("float32")
yw = rng.integers(0, 3, size=(24,)).astype("float32")
sw = rng.uniform(0.1, 2.0, size=(24,)).astype("float32")
wm_model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
wm_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                 metrics=["accuracy"],
                 weighted_metrics=["accuracy", M.SparseTopKCategoricalAccuracy(k=2, name="top2")])
init = [arr(v) for v in wm_model.get_weights()]
hist = wm_model.fit(xw, yw, sample_weight=sw, batch_size=8, epochs=2, shuffle=False, verbose=0)
out["weighted_model"] = {"x": arr(xw), "y": arr(yw), "sw": arr(sw), "initial": init,
                         "history": {k: [float(v) for v in vs] for k, vs in hist.history.items()},
                         "compile_config": wm_model.get_compile_config()}
out["inputs"] = {"pb": arr(pb), "yb": arr(yb), "pm": arr(pm), "ym": arr(ym), "w": arr(w),
                 "ys": arr(ys), "wm": arr(wm),
                 "zeros_p": arr(zeros_p), "zeros_y": arr(zeros_y)}
with open(os.path.join(here, "cases.json"), "w") as f:
    json.dump(out, f)
print(out["binary"]["auc"], out["model"]["evaluate"])
