"""Stage compress: Deep Compression of one trained student -> deployable .tflite files, measured.

    python -m stages.compress <name>        e.g. student, cnn-8-16-16-32-kd

1. magnitude pruning to compress.sparsity while fine-tuning on the cached teacher logits with the
   student's own loss (restored from the .keras file of its first seed), on the data it trained on:
   the cached views when its provenance says so, else the plain training images; validation
   accuracy of the pruned model is what sparsity and fine-tuning are chosen on;
2. float32 and full-integer int8 TFLite files (int8 calibrated on compress.calibration_images
   training images); a `head` student ships with the teacher's conv layers in front;
3. accuracy of each file run in LiteRT's interpreter on the test set, bytes and gzip bytes; ms per
   image at batch 1 and 1000 for the teacher and the student, in this one process, go to the untracked
   metrics/timing/compress-<name>.json (wall-clock in a tracked output would differ on every rerun).
Reads params: compress. Writes data/compressed/<name>{,-int8}.tflite, data/compressed/<name>.json (the
record) and metrics/compress/<name>.json (its headline: the int8 file's accuracy and bytes, the params).
"""
import sys

from distill.compression.config import CompressConfig
from distill.core import names, paths
from distill.core import params as P
from distill.core.stage import run

BATCHES = (1, 1000)  # the batch sizes latency is measured at: one image, and throughput


def main(argv):
    cfg = P.section("compress", CompressConfig)
    if len(argv) != 1:
        raise P.ParamsError(f"usage: python -m stages.compress <student name>, got {argv}")
    name = argv[0]
    P.listed(name, cfg.students, "compress.students")
    from distill import data
    from distill.compression import tflite as C
    from distill.core import files
    from distill.training import evaluation, loop, models, students

    loop.set_determinism(cfg.seed)
    seeds = paths.student_seeds(name)
    if not seeds:
        raise files.InputError(f"{paths.student_dir(name)}: no trained student '{name}' (compress.students names "
                               f"a student stage's output: '{paths.HEADLINE}' or a sweep point like cnn-8-16-16-32-kd)")
    student = files.load_model(paths.student_model(name, seeds[0]))  # the first seed's model
    arch = student.name
    mnist = data.load()
    reference = evaluation.reference(data.TEST, mnist)
    train, val, test = (students.student_data(arch, split, mnist) for split in data.SPLITS)
    teacher_blob = C.read_tflite(paths.tflite(names.TEACHER, names.FLOAT32))
    before = evaluation.accuracy(loop.predict(student, test.x, transform=test.transform), reference.labels)

    pruned = C.prune(student, finetune_examples(name, train, mnist, cfg), cfg.sparsity, cfg.finetune_epochs,
                     cfg.learning_rate, cfg.batch_size, cfg.seed, name)
    after_val = evaluation.accuracy(loop.predict(pruned, val.x, transform=val.transform), val.labels)
    after = evaluation.accuracy(loop.predict(pruned, test.x, transform=test.transform), reference.labels)
    teacher = files.load_model(paths.TEACHER_MODEL) if arch == names.HEAD else None
    model = C.deployable(arch, pruned, teacher)

    images_test = data.images(mnist["x_test"])
    calibration = data.images(mnist["x_train"][: cfg.calibration_images])
    blobs = {names.FLOAT32: C.to_tflite(model), names.INT8: C.to_tflite(model, True, calibration)}
    record = {"name": name, "arch": arch, "seed": seeds[0], "params": models.deployed_params(arch, pruned),
              "sparsity": round(C.sparsity(pruned), 4),
              "accuracy_keras": round(before, 6), "accuracy_pruned_keras": round(after, 6),
              "val_accuracy_pruned_keras": round(after_val, 6)}
    runners = {names.TEACHER: C.Runner(teacher_blob, cfg.threads)}
    for kind, blob in blobs.items():
        files.write_bytes(paths.tflite(name, kind), blob)
        runners[kind] = C.Runner(blob, cfg.threads)
        pred = runners[kind].predict(images_test)
        gzip_bytes = C.gzip_size(blob)
        record[kind] = {
            "accuracy": round(evaluation.accuracy(pred, reference.labels), 6),
            "agreement": round(evaluation.agreement(pred, reference.teacher_logits), 6),
            "bytes": len(blob), "gzip_bytes": gzip_bytes,
            "bytes_ratio": round(len(teacher_blob) / len(blob), 1),
            "gzip_ratio": round(len(teacher_blob) / gzip_bytes, 1),
        }
    f, q = record[names.FLOAT32], record[names.INT8]
    record["int8_loss_points"] = round(100 * (f["accuracy"] - q["accuracy"]), 3)
    C.write_record(name, record)
    # wall-clock apart from the record: same inputs, same record bytes (downstream stays up to date)
    latency = {}
    for batch in BATCHES:
        repeats = getattr(cfg, f"repeats_batch{batch}")
        ms = {k: r.ms_per_image(images_test, batch, repeats=repeats) for k, r in runners.items()}
        latency[f"batch{batch}"] = {k: {"ms_per_image": round(v, 5), "speedup": round(ms[names.TEACHER] / v, 2)}
                                    for k, v in ms.items()}
    files.write_json(paths.timing(f"compress-{name}"), latency)
    print(f"compress: {name}: sparsity {record['sparsity']:.2f}; float32 {f['accuracy']:.4f} {f['bytes']:,} B; "
          f"int8 {q['accuracy']:.4f} {q['bytes']:,} B ({q['gzip_bytes']:,} gzipped, {q['gzip_ratio']:.0f}x smaller "
          f"than the teacher's file), {latency['batch1'][names.INT8]['ms_per_image']:.4f} ms/image at batch 1 "
          f"({latency['batch1'][names.INT8]['speedup']:.0f}x faster)")


def finetune_examples(name, train, mnist, cfg):
    """What the student trained on, so pruning does not shift it to other data: the cached views with
    the teacher's logits per view when it trained with `augment`, else its plain training split."""
    from distill.training import students

    if students.trained_on_views(name):
        return students.view_batches(*students.view_data(mnist["y_train"]), cfg.batch_size, cfg.seed)
    return students.examples(train)


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
