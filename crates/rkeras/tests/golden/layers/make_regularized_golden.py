"""Golden files for the weight regularizers and constraints of the depthwise, separable and
normalization layers, made by real Keras.

Run (Keras 3.15.1, JAX backend):
  KERAS_BACKEND=jax /tmp/kvenv/bin/python crates/rkeras/tests/golden/layers/make_regularized_golden.py

Outputs (committed, next to this script):
- regularized.keras: a compiled Sequential model (SGD 0.1, mse) with a DepthwiseConv2D
  (depthwise_regularizer l2, bias_constraint non_neg), a SeparableConv2D (depthwise l1,
  pointwise l1_l2, bias l2, pointwise_constraint max_norm), a BatchNormalization
  (gamma_regularizer l2, beta_regularizer l1) and a LayerNormalization (gamma l2). Biases,
  gammas and betas are random so that every penalty is non-zero.
- regularized.json: fixed inputs and targets, Keras's `evaluate` loss (data term plus every
  penalty), then the loss and the weights after one epoch of SGD (2 batches of 2) with the
  constraints applied after each step.
"""
import json
import os

import numpy as np
import keras
from keras import layers, regularizers, constraints

HERE = os.path.dirname(os.path.abspath(__file__))
keras.utils.set_random_seed(13)
B = "random_normal"

m = keras.Sequential(
    [
        keras.Input((6, 6, 3)),
        layers.DepthwiseConv2D(3, depth_multiplier=2, depthwise_regularizer=regularizers.l2(0.05),
                               bias_initializer=B, bias_constraint=constraints.NonNeg()),
        layers.SeparableConv2D(4, 3, padding="same", activation="tanh",
                               depthwise_regularizer=regularizers.l1(0.02),
                               pointwise_regularizer=regularizers.l1_l2(0.01, 0.03),
                               bias_regularizer=regularizers.l2(0.1), bias_initializer=B,
                               pointwise_constraint=constraints.MaxNorm(0.8, axis=[0, 1, 2])),
        layers.BatchNormalization(gamma_regularizer=regularizers.l2(0.2),
                                  beta_regularizer=regularizers.l1(0.05),
                                  gamma_initializer=B, beta_initializer=B),
        layers.LayerNormalization(gamma_regularizer=regularizers.l2(0.3), gamma_initializer=B),
        layers.Flatten(),
    ],
    name="regularized",
)
m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    return {"shape": list(a.shape), "data": [round(float(v), 7) for v in a.reshape(-1)]}


rng = np.random.RandomState(4)
x = rng.uniform(-1, 1, (4, 6, 6, 3)).astype("float32")
y = rng.uniform(-1, 1, (4, 64)).astype("float32")
m.save(os.path.join(HERE, "regularized.keras"))
loss0 = float(m.evaluate(x, y, batch_size=4, verbose=0))
h = m.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
with open(os.path.join(HERE, "regularized.json"), "w") as f:
    json.dump({
        "inputs": arr(x),
        "targets": arr(y),
        "evaluate_loss": loss0,
        "fit_loss": float(h.history["loss"][0]),
        "weights_after": [arr(w) for w in m.get_weights()],
    }, f)
print("evaluate loss", loss0, "fit loss", h.history["loss"][0])
