"""Stage teacher: train the seed's CNN on MNIST -> data/teacher.keras, data/teacher.json (its record),
metrics/teacher.json (the record's headline keys).

Reads params: teacher. Trains on the training split (with `augment`, on its cached views: each
epoch every image once, at one of its K views, so the teacher learns the views it will label),
reports validation accuracy each epoch and test accuracy once, on the final model. Per-epoch curves
go to metrics/live/teacher through dvclive; the training time to metrics/timing/teacher.json.
"""
import dataclasses
import time

from distill.core import names, paths
from distill.core import params as P
from distill.core.stage import run
from distill.training.config import TeacherConfig

NAME = names.TEACHER


def main():
    cfg = P.section("teacher", TeacherConfig)
    from distill import data
    from distill.core import files
    from distill.data import views
    from distill.training import loop, models, provenance

    loop.set_determinism(cfg.seed)
    mnist = data.load()
    x, y = data.images(mnist["x_train"]), mnist["y_train"]
    x_val, y_val = data.images(mnist["x_val"]), mnist["y_val"]
    x_test, y_test = data.images(mnist["x_test"]), mnist["y_test"]

    model = loop.compile_teacher(models.teacher(), len(x), cfg)
    print(f"{NAME}: {model.count_params():,} params, {len(x)} training images"
          f"{' (augmented views)' if cfg.augment else ''}, {cfg.epochs} epochs")
    callbacks = [loop.Progress(NAME, cfg.epochs)] + loop.live_callbacks(paths.live(NAME))
    start = time.time()
    if cfg.augment:
        cached = views.load(paths.VIEW_IMAGES, paths.VIEW_MIX, y)
        batches = loop.Batches.of_views(cached, lambda k, i: y[i], cfg.batch_size, seed=cfg.seed, mix=False)
        model.fit(batches, epochs=cfg.epochs, verbose=0, validation_data=(x_val, y_val), callbacks=callbacks)
    else:
        model.fit(x, y, batch_size=cfg.batch_size, epochs=cfg.epochs, verbose=0, validation_data=(x_val, y_val),
                  callbacks=callbacks)
    train_seconds = time.time() - start
    val_loss, val_accuracy = model.evaluate(x_val, y_val, batch_size=1000, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)  # once, on the final model

    files.save_model(model, paths.TEACHER_MODEL)
    provenance.write(paths.TEACHER_MODEL, provenance.record(paths.TEACHER_MODEL, NAME, cfg.augment, cfg.seed,
                                                            dataclasses.asdict(cfg)))
    record = {
        "accuracy": round(float(accuracy), 6),
        "loss": round(float(loss), 6),
        "val_accuracy": round(float(val_accuracy), 6),
        "val_loss": round(float(val_loss), 6),
        "params": model.count_params(),
        "size_bytes": files.size(paths.TEACHER_MODEL),
        "epochs": cfg.epochs,
        "train_images": len(x),
        "augment": cfg.augment,
        "val_images": len(x_val),
    }
    files.write_json(paths.TEACHER_FULL_RECORD, record)
    files.write_json(paths.TEACHER_RECORD, names.headline(record))
    files.write_json(paths.timing(NAME), {"train_seconds": round(train_seconds, 1)})
    print(f"{NAME}: validation accuracy {val_accuracy:.4f}, test accuracy {accuracy:.4f}, loss {loss:.4f}, "
          f"trained in {train_seconds:.0f}s")


if __name__ == "__main__":
    run(main)
