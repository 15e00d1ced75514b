"""The benchmark's measurements that need a process of their own, in the repository under test.

    PYTHONPATH=REPO python bench/probes.py {bare_fit,reference_epoch,sep_epoch,inference} [JSON]

Run in REPO (sep_epoch: in REPO/study), it prints one JSON object. common.python_json runs it so,
in a fresh process: the `distill` imported and timed is REPO's, and no TensorFlow state is shared.
TensorFlow is imported inside each probe: sep_epoch pins its threads before it starts.
"""
import argparse
import json
import statistics
import sys
import time


def bare_fit(_):
    """The teacher stage's training alone: a bare model.fit of the same network, epochs, batch size and data."""
    from distill import data
    from distill.core import params as P
    from distill.core import paths
    from distill.data import views
    from distill.training import loop, models
    from distill.training.config import TeacherConfig

    cfg = P.section("teacher", TeacherConfig)
    loop.set_determinism(cfg.seed)
    mnist = data.load()
    x, y = data.images(mnist["x_train"]), mnist["y_train"]
    val = (data.images(mnist["x_val"]), mnist["y_val"])
    model = loop.compile_teacher(models.teacher(), len(x), cfg)  # exactly as the teacher stage does
    t = time.time()
    if cfg.augment:  # the same cached views, in the same batches
        batches = loop.Batches.of_views(views.load(paths.VIEW_IMAGES, paths.VIEW_MIX, y), lambda k, i: y[i],
                                        cfg.batch_size, seed=cfg.seed, mix=False)
        model.fit(batches, epochs=cfg.epochs, verbose=0, validation_data=val)
    else:
        model.fit(x, y, batch_size=cfg.batch_size, epochs=cfg.epochs, verbose=0, validation_data=val)
    return {"fit_seconds": time.time() - t}


def reference_epoch(_):
    """One epoch of the reference CNN (cnn-8-16-16-32, batch 128, every training image): the host's speed."""
    import keras

    from distill import data
    from distill.core import names
    from distill.training import loop, models

    loop.set_determinism(0)
    mnist = data.load()
    x, y = data.images(mnist["x_train"]), mnist["y_train"]
    model = models.student(names.CNN, (8, 16, 16, 32))
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:1280], y[:1280], batch_size=128, epochs=1, verbose=0)  # build and trace outside the timing
    t = time.time()
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    return {"epoch_seconds": time.time() - t}


def sep_epoch(rounds):
    """`rounds` epochs each of sep-8-24-2 (kd) with Keras's BatchNormalization ("before") and with
    models.BatchNorm ("now"), alternating, after one untimed epoch each: the seed stage's own code."""
    from distill.core import runtime

    runtime.pin_threads()  # the study's runtime.tf_threads, before TensorFlow starts, as its seed stages do
    import keras

    from distill import data
    from distill.core import names
    from distill.study import config as study
    from distill.training import loop, losses, models, students

    cfg = study.load().family(names.SEP)
    spec = names.StudentSpec(names.SEP, (8, 24, 2), names.KD)
    train = study.train_config(cfg.train, 1, 0)
    mnist = data.load()
    val = students.examples(students.student_data(names.SEP, data.VAL, mnist))
    val = loop.Batches(val[0], val[1], students.VALIDATION_BATCH, shuffle=False, transform=val[2])
    cached = students.view_data(mnist["y_train"])
    fused = models.BatchNorm
    runs = {}
    for variant, norm in (("before", keras.layers.BatchNormalization), ("now", fused)):
        models.BatchNorm = norm  # models.student builds with whichever class this name holds
        loop.set_determinism(0)
        model = models.student(spec.arch, spec.widths)
        batches = students.view_batches(*cached, train.batch_size, 0)
        # the seed stage's own compile and first epoch (tracing included, not timed)
        students.fit_student(model, losses.get(spec.loss, train), batches, train, 0, "bench")
        runs[variant] = (model, batches, type(model.layers[2]).__name__)
    models.BatchNorm = fused
    seconds = {v: [] for v in runs}
    for _ in range(rounds):  # alternating epochs in one process: the machine's other load falls on both alike
        for variant, (model, batches, _) in runs.items():
            t = time.time()
            model.fit(batches, epochs=1, verbose=0, validation_data=val)
            seconds[variant].append(time.time() - t)
    return {"seconds": seconds, "batchnorm": {v: r[2] for v, r in runs.items()}}


def inference(subjects):
    """Images per second of each model in `subjects` at batch 1 and 1000 (Keras, raw test images in)."""
    import numpy as np

    from distill import data
    from distill.core import files, names, paths
    from distill.training import models

    mnist = data.load()
    x = data.images(mnist["x_test"][:1000])
    teacher = files.load_model(paths.TEACHER_MODEL, compile=False)
    out = {}
    for name in subjects:
        if name == names.TEACHER:
            model = teacher
        else:  # its first seed's model; a head student runs behind the teacher's conv layers, as it ships
            student = files.load_model(paths.student_model(name, paths.student_seeds(name)[0]), compile=False)
            model = models.deployable(student.name, student, teacher)
        row = {}
        for batch in (1, 1000):
            xb = np.asarray(x[:batch])
            model.predict_on_batch(xb)
            times = []
            for _ in range(50 if batch == 1 else 5):
                t = time.perf_counter()
                model.predict_on_batch(xb)
                times.append(time.perf_counter() - t)
            row[f"images_per_second_batch{batch}"] = round(batch / statistics.median(times), 1)
        out[name] = row
    return out


PROBES = {probe.__name__: probe for probe in (bare_fit, reference_epoch, sep_epoch, inference)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("probe", choices=PROBES)
    ap.add_argument("arg", nargs="?", type=json.loads, default=None, help="its argument, as JSON")
    args = ap.parse_args()
    print(json.dumps(PROBES[args.probe](args.arg)))


if __name__ == "__main__":
    del sys.path[0]  # bench/ itself: its profile.py would shadow the standard library's in the measured process
    main()
