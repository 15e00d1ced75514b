"""TensorFlow Model Optimization against the project's .dcz, side by side on the same starting weights.

    pip install -r bench/requirements-tfmot.txt      # tf_keras and TFMOT: TFMOT works only with Keras 2
    python bench/tfmot.py [--model study/data/teacher.keras] [--lr 0.0002 0.0005 0.001] [--smoke]

The model (default: the study's teacher) is rebuilt in tf_keras from its Keras 3 config and its trained
weights are copied in. Then, per tool and per learning rate of the grid, on the project's MNIST split
(study/data/mnist.npz, made from its recipe where missing), with the same per-layer recipe for both (sparsity
0.6 / 0.98 / 0.7 and 64 / 32 / 32 clusters for conv / hidden dense / output, 5 pruning and 2 clustering
epochs on the plain training images):

- TFMOT: prune_low_magnitude (a polynomial schedule to each layer's sparsity), strip_pruning;
  cluster_weights (linear centroid init), strip_clustering; the float32 .tflite, gzipped (level 9):
  its bytes, and its accuracy run in LiteRT;
- ours: anymodel.compress (distill/compression/anymodel.py): the .dcz file's bytes and the accuracy of
  the model it decodes into.

Each tool's learning rate is chosen on validation; test accuracy is read for that one. Writes
bench/tfmot.json and prints a Markdown table for docs/deep-compression.md.
"""
import argparse
import dataclasses
import gzip
import inspect
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_USE_LEGACY_KERAS"] = "1"  # TFMOT wraps tf_keras layers; the project's code imports Keras 3 itself
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from distill import data  # noqa: E402
from distill.compression import anymodel, tflite  # noqa: E402
from distill.training import loop, scores  # noqa: E402

RECIPE = anymodel.DEFAULT  # the teacher's recipe, for both tools
SPARSITY, BITS = RECIPE.sparsity, RECIPE.bits  # 0.6 / 0.98 / 0.7; 64 / 32 / 32 clusters
PRUNE_EPOCHS, CLUSTER_EPOCHS, BATCH = RECIPE.prune_epochs, RECIPE.share_epochs, RECIPE.batch_size


def to_tf_keras(model):
    """The same Sequential in tf_keras, layer by layer (each class of that name, its plain arguments:
    initializers and dtype policies do not matter once the trained weights are copied in)."""
    import tf_keras
    stack = [tf_keras.Input(model.inputs[0].shape[1:])]
    for layer in model.layers:
        cls = getattr(tf_keras.layers, type(layer).__name__)
        known = set(inspect.signature(cls.__init__).parameters) | {"name", "trainable"}
        stack.append(cls(**{k: v for k, v in layer.get_config().items() if k in known and not isinstance(v, dict)
                            and k != "dtype"}))
    rebuilt = tf_keras.Sequential(stack, name=model.name)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def tfmot_run(model, splits, lr, epochs=(PRUNE_EPOCHS, CLUSTER_EPOCHS)):
    """TFMOT's pruning then clustering on a tf_keras copy of `model`: (tflite bytes gzipped, val, test)."""
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras
    base, (x, y) = to_tf_keras(model), splits["train"]
    steps = int(np.ceil(len(x) / BATCH)) * epochs[0]
    kind = {layer.name: k for layer, _, k in anymodel.kernels(model)}  # to_tf_keras keeps the layer names
    loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def prune(layer):
        if layer.name not in kind:
            return layer
        schedule = tfmot.sparsity.keras.PolynomialDecay(0.0, SPARSITY[kind[layer.name]], 0, steps // 2, frequency=20)
        return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)

    pruned = tf_keras.models.clone_model(base, clone_function=prune)
    pruned.compile(tf_keras.optimizers.Adam(lr), loss, metrics=["accuracy"])
    pruned.fit(x, y, batch_size=BATCH, epochs=epochs[0], verbose=2, shuffle=True,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    init = tfmot.clustering.keras.CentroidInitialization.LINEAR

    def cluster(layer):
        if layer.name not in kind:
            return layer
        return tfmot.clustering.keras.cluster_weights(layer, number_of_clusters=2 ** BITS[kind[layer.name]],
                                                      cluster_centroids_init=init, preserve_sparsity=True)

    clustered = tf_keras.models.clone_model(stripped, clone_function=cluster)
    clustered.compile(tf_keras.optimizers.Adam(lr), loss, metrics=["accuracy"])
    clustered.fit(x, y, batch_size=BATCH, epochs=epochs[1], verbose=2, shuffle=True)
    final = tfmot.clustering.keras.strip_clustering(clustered)
    blob = tf.lite.TFLiteConverter.from_keras_model(final).convert()
    runner = tflite.Runner(blob)
    acc = {s: scores.accuracy(runner.predict(splits[s][0]), splits[s][1]) for s in ("val", "test")}
    return len(gzip.compress(blob, 9)), acc["val"], acc["test"]


def ours_run(model, splits, lr, epochs=(PRUNE_EPOCHS, CLUSTER_EPOCHS)):
    recipe = dataclasses.replace(RECIPE, prune_epochs=epochs[0], share_epochs=epochs[1], learning_rate=lr)
    result = anymodel.compress(model, splits["train"], splits["val"], splits["test"], recipe, label="dcz")
    return len(result.blob), result.record["val_accuracy"], result.record["accuracy"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "study" / "data" / "teacher.keras"))
    parser.add_argument("--lr", type=float, nargs="+", default=[0.0002, 0.0005, 0.001])
    parser.add_argument("--smoke", action="store_true", help="2,000 training images, one epoch each: checks it runs")
    parser.add_argument("--out", default=str(ROOT / "bench" / "tfmot.json"))
    args = parser.parse_args()
    loop.set_determinism(0)
    model = keras.saving.load_model(args.model, compile=False)
    mnist = data.load(ROOT / "study" / "data" / "mnist.npz")  # the split the study's teacher trained on
    splits = {s: (data.images(mnist[f"x_{s}"]), mnist[f"y_{s}"]) for s in data.SPLITS}
    epochs = (PRUNE_EPOCHS, CLUSTER_EPOCHS)
    if args.smoke:
        splits["train"] = tuple(a[:2000] for a in splits["train"])
        epochs = (1, 1)
    runs = []
    for tool, fn in (("tfmot", tfmot_run), ("dcz", ours_run)):
        for lr in args.lr:
            start = time.time()
            loop.set_determinism(0)
            size, val, test = fn(model, splits, lr, epochs)
            runs.append({"tool": tool, "learning_rate": lr, "bytes": size, "val_accuracy": round(val, 6),
                         "accuracy": round(test, 6), "seconds": round(time.time() - start, 1)})
            print(json.dumps(runs[-1]), flush=True)
    chosen = {t: max((r for r in runs if r["tool"] == t), key=lambda r: r["val_accuracy"]) for t in ("tfmot", "dcz")}
    out = {"model": os.path.relpath(args.model, ROOT), "smoke": args.smoke, "sparsity": SPARSITY,
           "clusters": {k: 2 ** b for k, b in BITS.items()}, "epochs": epochs, "runs": runs, "chosen": chosen,
           "dcz_over_tfmot_bytes": round(chosen["dcz"]["bytes"] / chosen["tfmot"]["bytes"], 4)}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print("| tool | learning rate (chosen on validation) | bytes | validation | test |\n|---|---:|---:|---:|---:|")
    for t, r in chosen.items():
        print(f"| {t} | {r['learning_rate']} | {r['bytes']:,} | {r['val_accuracy']:.4f} | {r['accuracy']:.4f} |")
    print(f"dcz / tfmot bytes: {out['dcz_over_tfmot_bytes']}")


if __name__ == "__main__":
    main()
