"""Stage teacher_tflite: the teacher as TFLite files, the reference every compressed student is held to.

Writes data/compressed/teacher.tflite (float32) and teacher-int8.tflite, and metrics/compress/teacher.json
with their bytes and accuracy measured by running the files in the TFLite interpreter.
Reads params: compress (calibration_images, threads, seed).
"""
import distill
from distill import names, paths
from distill import params as P
from distill.config import CompressConfig

NAME = names.TEACHER


def main():
    cfg = P.section("compress", CompressConfig)
    from distill import compression as C
    from distill import data, evaluation, files, training

    training.set_determinism(cfg.seed)
    mnist = data.load()
    teacher = files.load_model(paths.TEACHER_MODEL)
    calibration = data.images(mnist["x_train"][: cfg.calibration_images])
    x_test, y_test = data.images(mnist["x_test"]), mnist["y_test"]
    record = {"name": NAME, "arch": NAME, "params": teacher.count_params()}
    blobs = {names.FLOAT32: C.to_tflite(teacher), names.INT8: C.to_tflite(teacher, True, calibration)}
    for kind, blob in blobs.items():
        files.write_bytes(paths.tflite(NAME, kind), blob)
        accuracy = evaluation.accuracy(C.Runner(blob, cfg.threads).predict(x_test), y_test)
        record[kind] = {"bytes": len(blob), "gzip_bytes": C.gzip_size(blob), "accuracy": round(accuracy, 6)}
        print(f"teacher_tflite: {kind}: {len(blob):,} bytes, accuracy {record[kind]['accuracy']:.4f}")
    files.write_json(paths.compress_record(NAME), record)


if __name__ == "__main__":
    distill.run(main)
