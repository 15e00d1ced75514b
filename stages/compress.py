"""Stage compress: Deep Compression of one trained student -> deployable .tflite files, measured.

    python -m stages.compress <name>        e.g. student, cnn-8-16-16-32-kd

1. magnitude pruning to compress.sparsity while fine-tuning on the cached teacher logits with the
   student's own loss (restored from its .keras file);
2. float32 and full-integer int8 TFLite files (int8 calibrated on compress.calibration_images
   training images); a `head` student ships with the teacher's conv layers in front;
3. accuracy of each file run in the TFLite interpreter on the test set, bytes and gzip bytes, and
   ms per image at batch 1 and 1000 for the teacher and the student, in this one process.
Reads params: compress. Writes data/compressed/<name>{,-int8}.tflite, metrics/compress/<name>.json.
"""
import sys

import distill
from distill import params as P

SCHEMA = {
    "students": P.list_of(P.string()),
    "sparsity": P.number(min=0, max=0.99),
    "finetune_epochs": P.integer(min=0),
    "learning_rate": P.number(above=0),
    "batch_size": P.integer(min=1),
    "calibration_images": P.integer(min=1),
    "threads": P.integer(min=1),
    "repeats_batch1": P.integer(min=1),
    "repeats_batch1000": P.integer(min=1),
    "seed": P.integer(min=0),
}


def main(argv):
    p = P.section("compress", SCHEMA)
    if len(argv) != 1:
        raise P.ParamsError(f"usage: python -m stages.compress <student name>, got {argv}")
    name = argv[0]
    if name not in p["students"]:
        raise P.ParamsError(f"params.yaml: compress.students: {name} is not listed "
                            "(dvc.yaml's matrix and params.yaml disagree)")
    import keras
    from distill import compression as C
    from distill import data, evaluation, files, losses, models, training

    training.set_determinism(p["seed"])
    path = f"data/students/{name}.keras"
    if not files.Path(path).is_file():
        raise FileNotFoundError(f"{path}: no trained student '{name}' (compress.students names a student "
                                "stage's output: 'student' or a sweep point like cnn-8-16-16-32-kd)")
    student = keras.models.load_model(path)
    arch = student.name
    labels, teacher_logits = evaluation.test_reference()
    x, transform, logits, train_labels = training.student_data(arch, "train")
    x_test, transform_test, _, _ = training.student_data(arch, "test")
    before = evaluation.accuracy(training.predict(student, x_test, transform=transform_test), labels)

    pruned = C.prune(student, (x, losses.pack_targets(train_labels, logits), transform),
                     p["sparsity"], p["finetune_epochs"], p["batch_size"], p["learning_rate"], p["seed"], name)
    after = evaluation.accuracy(training.predict(pruned, x_test, transform=transform_test), labels)
    teacher = keras.models.load_model("data/teacher.keras") if arch == "head" else None
    model = C.deployable(arch, pruned, teacher)

    mnist = files.load_npz("data/mnist.npz")
    images_test = data.images(mnist["x_test"])
    calibration = data.images(mnist["x_train"][: p["calibration_images"]])
    blobs = {"float32": C.to_tflite(model), "int8": C.to_tflite(model, True, calibration)}
    teacher_blob = files.Path(C.tflite_path("teacher", "float32")).read_bytes()
    teacher_bytes = len(teacher_blob)
    record = {"name": name, "arch": arch, "params": models.deployed_params(arch, pruned),
              "sparsity": round(C.sparsity(pruned), 4),
              "accuracy_keras": round(before, 6), "accuracy_pruned_keras": round(after, 6)}
    runners = {"teacher": C.Runner(teacher_blob, p["threads"])}
    for kind, blob in blobs.items():
        with files.atomic_path(C.tflite_path(name, kind)) as tmp:
            tmp.write_bytes(blob)
        runners[kind] = C.Runner(blob, p["threads"])
        pred = runners[kind].predict(images_test)
        gzip_bytes = C.gzip_size(blob)
        record[kind] = {
            "accuracy": round(evaluation.accuracy(pred, labels), 6),
            "agreement": round(evaluation.agreement(pred, teacher_logits), 6),
            "bytes": len(blob), "gzip_bytes": gzip_bytes,
            "bytes_ratio": round(teacher_bytes / len(blob), 1),
            "gzip_ratio": round(teacher_bytes / gzip_bytes, 1),
        }
    record["int8_loss_points"] = round(100 * (record["float32"]["accuracy"] - record["int8"]["accuracy"]), 3)
    for batch in (1, 1000):
        repeats = p[f"repeats_batch{batch}"]
        ms = {k: r.ms_per_image(images_test, batch, repeats=repeats) for k, r in runners.items()}
        for kind in ("float32", "int8"):
            record[kind][f"ms_batch{batch}"] = round(ms[kind], 5)
            record[kind][f"speedup_batch{batch}"] = round(ms["teacher"] / ms[kind], 2)
        record[f"teacher_ms_batch{batch}"] = round(ms["teacher"], 5)
    files.write_json(f"metrics/compress/{name}.json", record)
    f, q = record["float32"], record["int8"]
    print(f"compress: {name}: sparsity {record['sparsity']:.2f}; float32 {f['accuracy']:.4f} {f['bytes']:,} B; "
          f"int8 {q['accuracy']:.4f} {q['bytes']:,} B ({q['gzip_bytes']:,} gzipped, {q['gzip_ratio']:.0f}x smaller "
          f"than the teacher's file), {q['ms_batch1']:.4f} ms/image at batch 1 ({q['speedup_batch1']:.0f}x faster)")


if __name__ == "__main__":
    distill.run(lambda: main(sys.argv[1:]))
