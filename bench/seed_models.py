"""The W1 seed CNN (64x64x3 -> 10, softmax) for the anchors of bench/w3_anchors.py and
bench/w4_anchors.py, in Keras 3 and in PyTorch, with Keras's default initialisation
(glorot-uniform kernels, zero biases), as shared/anchors builds it."""


def keras_seed_cnn():
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((64, 64, 3)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Flatten(), layers.Dense(10, activation="softmax")])


def torch_seed_cnn():
    """Logits (the softmax is left to the loss or the caller), NCHW input."""
    from torch import nn

    model = nn.Sequential(
        nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12 * 12 * 64, 10))
    for m in model:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model
