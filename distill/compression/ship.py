"""A trained student made shippable: pruned while fine-tuning, then float32 and int8 .tflite files,
each scored in LiteRT; latency measured apart, in the same process."""
from distill import data
from distill.compression import pruning
from distill.compression import tflite as C
from distill.core import files, names, paths
from distill.training import evaluation, loop, losses, models, scores, students

BATCHES = (1, 1000)  # the batch sizes latency is measured at: one image, and throughput


def ship(name, cfg):
    """Prune the student `name` (its first seed's model) as `cfg` (a CompressConfig) says, write its
    .tflite files and record, and its latency to metrics/timing/compress-<name>.json."""
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
    before = scores.accuracy(loop.predict(student, test.x, transform=test.transform), reference.labels)

    pruned = pruning.prune(student, finetune_examples(name, train, mnist, cfg), cfg.sparsity, cfg.finetune_epochs,
                           cfg.learning_rate, cfg.batch_size, cfg.seed, name, losses.LabelAccuracy())
    after_val = scores.accuracy(loop.predict(pruned, val.x, transform=val.transform), val.labels)
    after = scores.accuracy(loop.predict(pruned, test.x, transform=test.transform), reference.labels)
    teacher = files.load_model(paths.TEACHER_MODEL) if arch == names.HEAD else None
    model = models.deployable(arch, pruned, teacher)

    images_test = data.images(mnist["x_test"])
    calibration = data.images(mnist["x_train"][: cfg.calibration_images])
    blobs = {names.FLOAT32: C.to_tflite(model), names.INT8: C.to_tflite(model, True, calibration)}
    record = {"name": name, "arch": arch, "seed": seeds[0], "params": models.deployed_params(arch, pruned),
              "sparsity": round(models.sparsity(pruned), 4),
              "accuracy_keras": round(before, 6), "accuracy_pruned_keras": round(after, 6),
              "val_accuracy_pruned_keras": round(after_val, 6)}
    runners = {names.TEACHER: C.Runner(teacher_blob, cfg.threads)}
    for kind, blob in blobs.items():
        files.write_bytes(paths.tflite(name, kind), blob)
        runners[kind] = C.Runner(blob, cfg.threads)
        pred = runners[kind].predict(images_test)
        gzip_bytes = C.gzip_size(blob)
        record[kind] = {
            "accuracy": round(scores.accuracy(pred, reference.labels), 6),
            "agreement": round(scores.agreement(pred, reference.teacher_logits), 6),
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
    if students.trained_on_views(name):
        return students.view_batches(*students.view_data(mnist["y_train"]), cfg.batch_size, cfg.seed)
    return students.examples(train)
