"""All of Deep Compression on one network, every seed: prune, share, Huffman-code, decode, score.

For each model:
1. magnitude pruning to the recipe's sparsity per layer kind, fine-tuning with the model's own loss
   (the labels for the teacher, the cached teacher logits for a student) on the recipe's `finetune_on`:
   `plain`, the plain training images, or `trained`, what it trained on (its provenance record says);
   each Dropout's rate lowered for the sparser layer after it (Han et al. 2015);
2. weight sharing: k-means codebooks of 2**bits centroids per kernel, centroids fine-tuned;
3. the version-2 .dcz file (anymodel.py, the path a user's own model takes): the architecture as
   Keras's config, relative positions, codebook indices, codebooks, Huffman coded;
4. the file is decoded back into a fresh network, checked weight for weight against the one
   encoded, and that decoded network is scored on the test images. Validation accuracy after each
   step is what the recipe is chosen on.
"""
import sys
import time
from dataclasses import dataclass

import keras
import numpy as np

from distill import Error, data
from distill.compression import anymodel, tflite
from distill.compression.config import TRAINED, network_name
from distill.core import files, names, paths
from distill.data import views
from distill.training import loop, losses, models, provenance, scores, students


@dataclass
class Setup:
    """What compressing one subject needs: its models (seed None for the teacher), the fine-tuning
    loss and metric, fresh fine-tuning batches, and the plain images of each split to score on."""

    subjects: list
    loss: object
    metric: object
    examples: object
    splits: dict

    def accuracy(self, model, split):
        x, y = self.splits[split]
        return round(scores.accuracy(loop.predict(model, x), y), 6)


def setup(name, recipe, seed, seeds=None):
    """The Setup of `name` (the teacher or a student, its `seeds` or all) under `recipe`; `seed` orders
    the fine-tuning batches and draws dropout."""
    loop.set_determinism(seed)  # before loading: a loaded Dropout layer draws its seed then
    mnist = data.load()
    splits = {s: (data.images(mnist[f"x_{s}"]), mnist[f"y_{s}"]) for s in data.SPLITS}
    if name == names.TEACHER:
        subjects = [(None, files.load_model(paths.TEACHER_MODEL))]
        targets, loss = mnist["y_train"], keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        def metric():
            return keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    else:
        found = paths.student_seeds(name)
        if not found:
            raise files.InputError(f"{paths.student_dir(name)}: no trained student '{name}' "
                                   "(deep_compress.students names grid points, e.g. cnn-8-16-16-32-kd)")
        if missing := sorted(set(seeds or ()) - set(found)):
            raise files.InputError(f"{paths.student_dir(name)}: no seed {', '.join(map(str, missing))} "
                                   f"(trained: {', '.join(map(str, found))})")
        logits = files.load_npy(paths.teacher_outputs(data.TRAIN, "logits"))
        if logits.shape != (len(mnist["y_train"]), data.NUM_CLASSES):
            raise files.InputError(f"{paths.teacher_outputs(data.TRAIN, 'logits')}: holds {logits.shape}, expected "
                                   f"({len(mnist['y_train'])}, {data.NUM_CLASSES}): rerun teacher_outputs (dvc repro)")
        targets = losses.pack_targets(mnist["y_train"], logits)
        teacher = files.load_model(paths.TEACHER_MODEL) if name.startswith(names.HEAD) else None
        subjects = []
        for s in seeds or found:
            student = files.load_model(paths.student_model(name, s))
            loss = student.loss
            subjects.append((s, models.deployable(student.name, student, teacher)))
        metric = losses.LabelAccuracy
    on_views = trained_views(name, mnist) if recipe.finetune_on == TRAINED else None

    def examples():
        """Fine-tuning batches, fresh for each phase so that each starts from the same order."""
        if on_views is None:
            return loop.Batches(mnist["x_train"], targets, recipe.batch_size, seed=seed, transform=data.images)
        return on_views(recipe.batch_size, seed)

    return Setup(subjects, loss, metric, examples, splits)


def trial(name, recipe, floats, seed, seeds=None):
    """`name` through all of Deep Compression under `recipe`, scored on validation only (a recipe is
    chosen on it), writing nothing: per seed, the record anymodel.run gives."""
    s = setup(name, recipe, seed, seeds)
    records = []
    for subject_seed, model in s.subjects:
        label = f"trial {name}" + ("" if subject_seed is None else f" seed {subject_seed}")
        result = anymodel.run(model, s.examples, s.loss, s.metric, recipe, floats, seed,
                              lambda m, split: s.accuracy(m, split) if split == data.VAL else None,
                              anymodel.PROJECT_LAYERS, label)
        records.append({"seed": subject_seed, **result.record})
    return records


def compress(name, cfg):
    """Deep-compress `name` (the teacher or a grid point) as `cfg` (a DeepCompressConfig) says; write
    its .dcz files and full record under data/deep_compressed/<name>/, the record's headline keys at
    metrics/deep_compress/<name>.json. Returns the record and the seconds each model took."""
    recipe = cfg.recipe(name)
    s = setup(name, recipe, cfg.seed)
    subjects, loss, metric, examples, accuracy = s.subjects, s.loss, s.metric, s.examples, s.accuracy
    teacher_bytes = len(tflite.read_tflite(paths.tflite(names.TEACHER, names.FLOAT32)))  # the reference

    network = network_name(name)
    runs, seconds, folder = [], {}, paths.deep_dir(name)
    with files.atomic_dir(folder) as tmp:
        for seed, model in subjects:
            label = f"deep_compress {name}" + ("" if seed is None else f" seed {seed}")
            start = time.time()
            result = anymodel.run(model, examples, loss, metric, recipe, cfg.floats, cfg.seed, accuracy,
                                  anymodel.PROJECT_LAYERS, label)
            file = tmp / (f"{network}.dcz" if seed is None else f"{paths.SEED_PREFIX}{seed}.dcz")
            files.write_bytes(file, result.blob)
            if files.read_bytes(file) != result.blob:  # run() decoded these very bytes and checked every weight
                raise Error(f"{file}: holds other bytes than were encoded")
            r = result.record
            run = {"seed": seed, **{k: r[k] for k in ("val_accuracy_before", "accuracy_before", "dropout",
                                                      "val_accuracy_pruned", "val_accuracy_kmeans")},
                   "file": f"{folder}/{file.name}", "bytes": r["bytes"], "sizes": r["sizes"],
                   "sparsity": r["sparsity"], "val_accuracy": r["val_accuracy"], "accuracy": r["accuracy"]}
            sizes = r["sizes"]
            runs.append(run)
            seconds[name if seed is None else str(seed)] = round(time.time() - start, 1)
            print(f"{label}: {r['bytes']:,} bytes ({teacher_bytes / r['bytes']:,.0f}x smaller than the teacher's "
                  f"float32 file; {sizes['before_huffman']:,} before Huffman), sparsity {run['sparsity']:.3f}, "
                  f"validation {run['val_accuracy_before']:.4f} -> pruned {run['val_accuracy_pruned']:.4f} -> "
                  f"k-means {run['val_accuracy_kmeans']:.4f} -> decoded {run['val_accuracy']:.4f}; "
                  f"test {run['accuracy_before']:.4f} -> {run['accuracy']:.4f}", file=sys.stderr, flush=True)
        record = summary(name, network, subjects, runs, recipe, cfg.floats, teacher_bytes)
        files.write_json(tmp / paths.RECORD_FILE, record)  # the full record, cached with the files it describes

    files.write_json(paths.deep_record(name), names.headline(record))
    print(f"deep_compress: {name}: {record['bytes']:,} bytes, {record['x_smaller']:,.1f}x smaller than the "
          f"teacher's float32 file; test {record['accuracy_before']:.4f} -> {record['accuracy']:.4f} "
          f"(mean of {len(runs)})")
    return record, seconds


def summary(name, network, subjects, runs, recipe, floats, teacher_bytes):
    """The record of one subject over its seeds' `runs`: accuracy mean, sample std and min (as the
    student records), validation and before-compression means, the largest seed's file."""
    mean, std, low = scores.spread([r["accuracy"] for r in runs])
    record = {
        "name": name, "network": network, "arch": subjects[0][1].name if name != names.TEACHER else names.TEACHER,
        "params": subjects[0][1].count_params(), "seeds": [r["seed"] for r in runs],
        "recipe": {"sparsity": recipe.sparsity, "bits": recipe.bits, "prune_epochs": recipe.prune_epochs,
                   "share_epochs": recipe.share_epochs, "finetune_on": recipe.finetune_on, "floats": floats},
        "accuracy": mean, "accuracy_std": std,
        "accuracy_min": low, "val_accuracy": round(float(np.mean([r["val_accuracy"] for r in runs])), 6),
        "accuracy_before": round(float(np.mean([r["accuracy_before"] for r in runs])), 6),
        "bytes": max(r["bytes"] for r in runs),  # the largest seed's file: what a user must budget for
        "teacher_float32_bytes": teacher_bytes,
        "per_seed": runs,
    }
    record["loss_points"] = round(100 * (record["accuracy_before"] - record["accuracy"]), 3)
    record["x_smaller"] = round(teacher_bytes / record["bytes"], 1)
    return record


def trained_views(name, mnist):
    """When `name` (the teacher or a student) trained on the cached views: a function (batch_size, seed)
    -> loop.Batches over them with its own targets (the teacher: the labels; a student: its label
    and the teacher's logits on that very view), so that fine-tuning does not shift it to other data
    (the plain images are easier than the views). None when it trained on the plain images."""
    labels = mnist["y_train"]
    if name == names.TEACHER:
        if not provenance.trained_on_views([paths.TEACHER_MODEL]):
            return None
        cached = views.load(paths.VIEW_IMAGES, paths.VIEW_MIX, labels)
        # the geometric views without their mixup blend, as the teacher learned them (stages/teacher.py)
        return lambda batch_size, seed: loop.Batches.of_views(cached, lambda k, i: labels[i], batch_size,
                                                                  seed=seed, mix=False)
    if not students.trained_on_views(name):
        return None
    cached = students.view_data(labels)
    return lambda batch_size, seed: students.view_batches(*cached, batch_size, seed)
