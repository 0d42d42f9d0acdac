"""Golden files for optimizers, their clipping options and learning-rate schedules, run by
Keras 3. Run: KERAS_BACKEND=jax python make_optimizers_golden.py (writes cases.json,
lion_cosine.keras and adamw_ema_accumulate.keras)."""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(11)
x = rng.normal(size=(16, 5)).astype("float32")
y = rng.integers(0, 3, size=(16,)).astype("float32")


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [float(v) for v in a.ravel()]}


def model():
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(6, activation="tanh"),
                             keras.layers.Dense(3, activation="softmax")])


S = keras.optimizers.schedules
schedules = {
    "exponential": S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5),
    "exponential_stair": S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True),
    "piecewise": S.PiecewiseConstantDecay([5, 20], [0.1, 0.05, 0.01]),
    "polynomial": S.PolynomialDecay(0.1, decay_steps=50, end_learning_rate=0.001, power=2.0),
    "polynomial_cycle": S.PolynomialDecay(0.1, decay_steps=30, cycle=True),
    "inverse_time": S.InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True),
    "cosine": S.CosineDecay(0.1, decay_steps=100, alpha=0.1),
    "cosine_warmup": S.CosineDecay(0.0, decay_steps=100, warmup_target=0.2, warmup_steps=20),
    "cosine_restarts": S.CosineDecayRestarts(0.1, first_decay_steps=10, t_mul=2.0, m_mul=0.5, alpha=0.05),
    "cosine_restarts_t1": S.CosineDecayRestarts(0.1, first_decay_steps=7, t_mul=1.0),
}
steps = [0, 1, 3, 5, 6, 10, 19, 20, 21, 29, 30, 31, 45, 50, 99, 100, 119, 120, 150, 1000]
sched_out = {k: {"config": keras.optimizers.schedules.serialize(s),
                 "values": [float(s(t)) for t in steps]} for k, s in schedules.items()}

O = keras.optimizers
optimizers = {
    "nadam": O.Nadam(learning_rate=0.01),
    "adamax": O.Adamax(learning_rate=0.02, beta_1=0.8),
    "adagrad": O.Adagrad(learning_rate=0.05, initial_accumulator_value=0.2),
    "lion": O.Lion(learning_rate=0.003, beta_1=0.85),
    "sgd_clipnorm": O.SGD(learning_rate=0.5, momentum=0.5, clipnorm=0.05),
    "adam_global_clipnorm": O.Adam(learning_rate=0.01, global_clipnorm=0.1),
    "rmsprop_clipvalue": O.RMSprop(learning_rate=0.01, clipvalue=0.02),
    "adam_weight_decay": O.Adam(learning_rate=0.01, weight_decay=0.1),
    "sgd_cosine_warmup": O.SGD(learning_rate=S.CosineDecay(0.0, 6, warmup_target=0.5, warmup_steps=3)),
    "lion_cosine_clip": O.Lion(learning_rate=S.CosineDecay(0.01, 8, alpha=0.1), clipnorm=1.0),
    "adadelta": O.Adadelta(learning_rate=1.0, rho=0.9),
    "ftrl": O.Ftrl(learning_rate=0.1),
    "ftrl_regularized": O.Ftrl(learning_rate=0.2, learning_rate_power=-0.7, initial_accumulator_value=0.3,
                               l1_regularization_strength=0.01, l2_regularization_strength=0.02,
                               l2_shrinkage_regularization_strength=0.01, beta=0.5),
    "lamb": O.Lamb(learning_rate=0.01, beta_1=0.85),
    # Keras's base options on every optimizer: weight decay, EMA, gradient accumulation.
    "adafactor": O.Adafactor(learning_rate=0.05),
    "adafactor_schedule": O.Adafactor(learning_rate=S.ExponentialDecay(0.3, 4, 0.5), clip_threshold=0.5,
                                      epsilon_2=0.01, beta_2_decay=-0.5),
    "sgd_weight_decay": O.SGD(learning_rate=0.3, momentum=0.5, weight_decay=0.2),
    "rmsprop_weight_decay_exclude": O.RMSprop(learning_rate=0.01, weight_decay=0.5),
    "adam_ema": O.Adam(learning_rate=0.02, use_ema=True, ema_momentum=0.8),
    "sgd_ema_overwrite": O.SGD(learning_rate=0.2, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=3),
    "adam_accumulate": O.Adam(learning_rate=0.03, gradient_accumulation_steps=3),
    "adamw_accumulate_ema_clip_cosine": O.AdamW(learning_rate=S.CosineDecay(0.05, 20), weight_decay=0.1,
                                                gradient_accumulation_steps=2, use_ema=True, ema_momentum=0.7,
                                                global_clipnorm=0.2),
}
EXCLUDE = {"rmsprop_weight_decay_exclude": ["bias"]}
opt_out = {}
for k, opt in optimizers.items():
    m = model()
    if k in EXCLUDE:
        opt.exclude_from_weight_decay(var_names=EXCLUDE[k])
    m.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    initial = [arr(w) for w in m.get_weights()]
    h = m.fit(x, y, batch_size=16, epochs=8, shuffle=False, verbose=0)
    opt_out[k] = {"config": keras.optimizers.serialize(opt), "initial": initial,
                  "final": [arr(w) for w in m.get_weights()],
                  "loss": [float(v) for v in h.history["loss"]],
                  "iterations": int(opt.iterations.numpy() if hasattr(opt.iterations, "numpy") else opt.iterations)}
    if k in EXCLUDE:
        opt_out[k]["exclude_from_weight_decay"] = EXCLUDE[k]
    if k == "lion_cosine_clip":
        m.save(os.path.join(here, "lion_cosine.keras"))
        opt_out[k]["after_save_predict"] = arr(m.predict(x, verbose=0))
    if k == "adamw_accumulate_ema_clip_cosine":
        # Saved after 8 steps (mid-accumulation would be step 9), then 5 more: the averages
        # and accumulators are in the file, in Keras's order.
        m.save(os.path.join(here, "adamw_ema_accumulate.keras"))
        m2 = keras.saving.load_model(os.path.join(here, "adamw_ema_accumulate.keras"))
        h2 = m2.fit(x, y, batch_size=16, epochs=5, shuffle=False, verbose=0)
        opt_out[k]["resumed_final"] = [arr(w) for w in m2.get_weights()]
        opt_out[k]["resumed_loss"] = [float(v) for v in h2.history["loss"]]

with open(os.path.join(here, "cases.json"), "w") as f:
    json.dump({"x": arr(x), "y": arr(y), "steps": steps, "schedules": sched_out,
               "optimizers": opt_out, "keras": keras.__version__}, f)
print({k: v["loss"][-1] for k, v in opt_out.items()})
