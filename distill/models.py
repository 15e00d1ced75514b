"""The networks: the seed's teacher CNN and three student families.

- `teacher`: the classic Keras MNIST CNN, exactly as in the seed (1,199,882 params).
- `head`:    the seed's student, Dense(h) -> Dropout -> Dense(10) on the teacher's frozen conv
             features. It cannot run without the teacher's conv layers, so its size counts them.
- `mlp`:     standalone, raw pixels -> Dense hidden layers -> 10.
- `cnn`:     standalone, a small CNN: per width w, Conv3x3(w) -> BatchNorm -> ReLU; 2x2 max-pooling
             after each of the first two convs (28 -> 14 -> 7), so any further convs run on the cheap
             7x7 maps; then global average pooling -> Dropout -> Dense(10).
All output logits (no softmax): the losses apply their own temperature.
"""
import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
FEATURES_LAYER = "features"  # the teacher's flattened conv output, 9216 values after MaxPool
ARCHS = ("head", "mlp", "cnn")


def teacher():
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, 3, activation="relu", name="conv1"),
            layers.Conv2D(64, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Dropout(0.25, name="dropout1"),
            layers.Flatten(name=FEATURES_LAYER),
            layers.Dense(128, activation="relu", name="dense"),
            layers.Dropout(0.5, name="dropout2"),
            layers.Dense(NUM_CLASSES, name="logits"),
        ],
        name="teacher",
    )


def teacher_with_features(model):
    """One model giving (features, logits) of a trained teacher, for a single inference pass."""
    return keras.Model(model.inputs[0], [model.get_layer(FEATURES_LAYER).output, model.outputs[0]])


def conv_param_count(model):
    """Parameters of the teacher's conv layers, which a `head` student needs to run."""
    return sum(model.get_layer(n).count_params() for n in ("conv1", "conv2"))


TEACHER_PARAMS = 1_199_882
TEACHER_CONV_PARAMS = 18_816  # conv1 (320) + conv2 (18,496)
TEACHER_FEATURES = 9216  # 12 x 12 x 64


def student(arch, widths, dropout=0.0, features=TEACHER_FEATURES):
    """Build a student of family `arch` with the given layer `widths` (a tuple of ints)."""
    if arch == "head":
        if len(widths) != 1:
            raise ValueError(f"a head student has one hidden layer, got widths {widths}")
        return keras.Sequential(
            [
                keras.Input((features,)),
                layers.Dense(widths[0], activation="relu"),
                layers.Dropout(dropout),
                layers.Dense(NUM_CLASSES),
            ],
            name="head",
        )
    if arch == "mlp":
        stack = [keras.Input(INPUT_SHAPE), layers.Flatten()]
        for w in widths:
            stack += [layers.Dense(w, activation="relu"), layers.Dropout(dropout)]
        return keras.Sequential(stack + [layers.Dense(NUM_CLASSES)], name="mlp")
    if arch == "cnn":
        stack = [keras.Input(INPUT_SHAPE)]
        for i, w in enumerate(widths):
            stack += [
                layers.Conv2D(w, 3, padding="same", use_bias=False),  # BatchNorm's beta is the bias
                layers.BatchNormalization(),
                layers.ReLU(),
            ]
            if i < 2:
                stack.append(layers.MaxPooling2D(2))
        stack += [layers.GlobalAveragePooling2D(), layers.Dropout(dropout), layers.Dense(NUM_CLASSES)]
        return keras.Sequential(stack, name="cnn")
    raise ValueError(f"unknown arch '{arch}' (known: {', '.join(ARCHS)})")


def deployed_params(arch, model):
    """What the student needs to run: its own params, plus the teacher's conv layers for `head`."""
    return model.count_params() + (TEACHER_CONV_PARAMS if arch == "head" else 0)


def spec_name(arch, widths, loss):
    """A student's name, also its stage suffix and file stem: head-6-kd, cnn-8-16-32-hard."""
    return f"{arch}-{'-'.join(map(str, widths))}-{loss}"
