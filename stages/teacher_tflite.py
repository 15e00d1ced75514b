"""Stage teacher_tflite: the teacher as TFLite files, the reference every compressed student is held to.

Writes data/compressed/teacher.tflite (float32) and teacher-int8.tflite, and metrics/compress/teacher.json
with their bytes and accuracy measured by running the files in the TFLite interpreter.
Reads params: compress (calibration_images, threads).
"""
import distill
from distill import params as P
from stages.compress import SCHEMA


def main():
    p = P.section("compress", SCHEMA)
    import keras
    from distill import compression as C
    from distill import data, evaluation, files, training

    training.set_determinism(p["seed"])
    mnist = files.load_npz("data/mnist.npz")
    teacher = keras.models.load_model("data/teacher.keras")
    calibration = data.images(mnist["x_train"][: p["calibration_images"]])
    x_test, y_test = data.images(mnist["x_test"]), mnist["y_test"]
    record = {"name": "teacher", "arch": "teacher", "params": teacher.count_params()}
    for kind, blob in (("float32", C.to_tflite(teacher)), ("int8", C.to_tflite(teacher, True, calibration))):
        with files.atomic_path(C.tflite_path("teacher", kind)) as tmp:
            tmp.write_bytes(blob)
        accuracy = evaluation.accuracy(C.Runner(blob, p["threads"]).predict(x_test), y_test)
        record[kind] = {"bytes": len(blob), "gzip_bytes": C.gzip_size(blob), "accuracy": round(accuracy, 6)}
        print(f"teacher_tflite: {kind}: {len(blob):,} bytes, accuracy {record[kind]['accuracy']:.4f}")
    files.write_json("metrics/compress/teacher.json", record)


if __name__ == "__main__":
    distill.run(main)
