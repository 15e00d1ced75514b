"""Stage teacher: train the seed's CNN on MNIST -> data/teacher.keras, metrics/teacher.json.

Reads params: teacher. Per-epoch curves go to metrics/live/teacher through dvclive.
"""
import time

import distill
from distill import params as P

MODEL, METRICS, LIVE = "data/teacher.keras", "metrics/teacher.json", "metrics/live/teacher"
SCHEMA = {
    "epochs": P.integer(min=1),
    "batch_size": P.integer(min=1),
    "optimizer": P.choice("adam", "sgd", "rmsprop", "adadelta"),
    "learning_rate": P.number(above=0),
    "schedule": P.choice("constant", "cosine"),
    "warmup_epochs": P.integer(min=0),
    "weight_decay": P.number(min=0),
    "seed": P.integer(min=0),
}


def main():
    p = P.section("teacher", SCHEMA)
    if p["warmup_epochs"] >= p["epochs"]:
        raise P.ParamsError(f"params.yaml: teacher.warmup_epochs: must be < teacher.epochs ({p['epochs']})")
    from distill import data, files, models, training

    training.set_determinism(p["seed"])
    mnist = files.load_npz("data/mnist.npz")
    x, y = data.images(mnist["x_train"]), mnist["y_train"]
    x_test, y_test = data.images(mnist["x_test"]), mnist["y_test"]

    model = training.compile_teacher(models.teacher(), len(x), p)
    print(f"teacher: {model.count_params():,} params, {len(x)} training images, {p['epochs']} epochs")
    start = time.time()
    model.fit(
        x, y, batch_size=p["batch_size"], epochs=p["epochs"], verbose=0,
        callbacks=[training.Progress("teacher", p["epochs"])] + training.live_callbacks(LIVE),
    )
    train_seconds = time.time() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)

    with files.atomic_path(MODEL) as tmp:
        model.save(tmp)
    record = {
        "accuracy": round(float(accuracy), 6),
        "loss": round(float(loss), 6),
        "params": model.count_params(),
        "size_bytes": files.size(MODEL),
        "train_seconds": round(train_seconds, 1),
        "epochs": p["epochs"],
        "train_images": len(x),
    }
    files.write_json(METRICS, record)
    print(f"teacher: test accuracy {accuracy:.4f}, loss {loss:.4f}, trained in {train_seconds:.0f}s")


if __name__ == "__main__":
    distill.run(main)
