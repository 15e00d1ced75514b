"""Stage teacher_tflite: the teacher as TFLite files, the reference every compressed student is held to.

Writes data/compressed/teacher.tflite (float32) and teacher-int8.tflite, and data/compressed/teacher.json
with their bytes and accuracy, measured by running the files in LiteRT's interpreter
(metrics/compress/teacher.json: the int8 file's accuracy and bytes, the params); ms per image at batch
1 goes to the untracked metrics/timing/teacher_tflite.json.
Reads params: compress (calibration_images, threads, repeats_batch1, seed).
"""
from distill.compression.config import CompressConfig
from distill.core import names, paths
from distill.core import params as P
from distill.core.stage import run
from distill.training import scores

NAME = names.TEACHER


def main():
    cfg = P.section("compress", CompressConfig)
    from distill import data
    from distill.compression import tflite as C
    from distill.core import files
    from distill.training import loop

    loop.set_determinism(cfg.seed)
    mnist = data.load()
    teacher = files.load_model(paths.TEACHER_MODEL)
    calibration = data.images(mnist["x_train"][: cfg.calibration_images])
    x_test, y_test = data.images(mnist["x_test"]), mnist["y_test"]
    record, latency = {"name": NAME, "arch": NAME, "params": teacher.count_params()}, {}
    blobs = {names.FLOAT32: C.to_tflite(teacher), names.INT8: C.to_tflite(teacher, True, calibration)}
    for kind, blob in blobs.items():
        files.write_bytes(paths.tflite(NAME, kind), blob)
        runner = C.Runner(blob, cfg.threads)
        accuracy = scores.accuracy(runner.predict(x_test), y_test)
        record[kind] = {"bytes": len(blob), "gzip_bytes": C.gzip_size(blob), "accuracy": round(accuracy, 6)}
        latency[kind] = {"ms_per_image_batch1": round(runner.ms_per_image(x_test, 1, repeats=cfg.repeats_batch1), 5)}
        print(f"teacher_tflite: {kind}: {len(blob):,} bytes, accuracy {record[kind]['accuracy']:.4f}, "
              f"{latency[kind]['ms_per_image_batch1']:.4f} ms/image at batch 1")
    C.write_record(NAME, record)
    files.write_json(paths.timing("teacher_tflite"), latency)  # wall-clock apart from the record


if __name__ == "__main__":
    run(main)
