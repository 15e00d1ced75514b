"""Stage teacher_outputs: the trained teacher, in inference mode (dropout off), over every image.

Writes, under data/teacher_outputs/, the artifact the students train from:
  {train,test}_logits.npy    float32 (n, 10)
  {train,test}_features.npy  the 9,216 flattened conv features after MaxPool (n, 9216)
Reads params: teacher_outputs. Same teacher weights, same bytes: students then stay up to date.
"""
import distill
from distill import params as P

OUT = "data/teacher_outputs"
SCHEMA = {
    "batch_size": P.integer(min=1),
    "features_dtype": P.choice("float16", "float32"),
}


def main():
    p = P.section("teacher_outputs", SCHEMA)
    import keras
    from distill import data, files, training

    training.set_determinism(0)
    mnist = files.load_npz("data/mnist.npz")
    teacher = keras.models.load_model("data/teacher.keras")
    for split in ("train", "test"):
        training.dump_teacher_outputs(
            teacher, data.images(mnist[f"x_{split}"]), f"{OUT}/{split}", p["batch_size"], p["features_dtype"]
        )


if __name__ == "__main__":
    distill.run(main)
