
import numpy as np
import pytest
from conftest import default_params, digit_images
from test_training import train_config

from distill import data
from distill.compression import pruning as C
from distill.compression import tflite
from distill.compression.config import CompressConfig
from distill.core import params
from distill.training import loop, losses, models, scores, students

COMPRESS = params.section("compress", CompressConfig, params=default_params())
KD = losses.get("kd", train_config(temperature=2.0, alpha=0.5))


def test_magnitude_mask_zeroes_the_smallest():
    w = np.array([[0.5, -0.1], [0.05, -2.0]], np.float32)
    assert C.magnitude_mask(w, 0.5).tolist() == [[1, 0], [0, 1]]
    assert C.magnitude_mask(w, 0.0).sum() == 4


def _digits(n, seed):
    y = np.random.default_rng(seed).integers(0, 10, n)
    return data.images(digit_images(y, seed)), y


def _trained(arch, widths):
    loop.set_determinism(0)
    x, y = _digits(1500, 0)
    targets = losses.pack_targets(y, np.eye(10)[y] * 8.0)
    model = models.student(arch, widths)
    students.fit_student(model, KD, (x, targets, None), train_config(epochs=4, batch_size=64))
    return model, (x, targets)


def _copy(model):
    import keras

    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    return twin


@pytest.fixture(scope="module")
def trained_cnn():
    return _trained("cnn", (4, 8, 8))


@pytest.fixture(scope="module")
def trained_mlp():
    """An MLP trained for real on synthetic digits (a bar whose row is the label: global average
    pooling cannot see rows, an MLP can), so its accuracy means something."""
    return _trained("mlp", (32,))


def test_pruning_reaches_and_keeps_the_sparsity(trained_cnn):
    import keras

    model, (x, targets) = trained_cnn
    model = _copy(model)
    batches = loop.Batches(x, targets, 64)
    pruner = C.MagnitudePruning(0.6, total_steps=3 * len(batches), ramp=0.5)
    seen = []

    class Record(keras.callbacks.Callback):  # runs after the pruner has applied its masks
        def on_train_batch_end(self, batch, logs=None):
            seen.append([np.asarray(k) == 0 for k in models.prunable(self.model)])

    model.compile(optimizer=keras.optimizers.Adam(0.002), loss=KD)
    model.fit(batches, epochs=3, verbose=0, callbacks=[pruner, Record()])
    held = seen[pruner.ramp_steps - 1:]  # from the end of the ramp to the end of fine-tuning
    assert len(held) > 10
    for zeros in held:  # the same weights stay zero at every later step, at the target sparsity
        assert all((z == h).all() for z, h in zip(zeros, held[0]))
        for z in zeros:
            assert abs(z.mean() - 0.6) <= 1 / z.size + 1e-9
    assert models.sparsity(model) == pytest.approx(0.6, abs=0.01)
    assert np.mean([z.mean() for z in seen[0]]) < 0.6  # the ramp started below the target


def test_prune_helper_hits_the_target(trained_cnn):
    model = _copy(trained_cnn[0])
    model.compile(loss=KD)
    x, targets = trained_cnn[1]
    C.prune(model, (x, targets, None), 0.75, epochs=1, learning_rate=0.002, batch_size=64)
    assert models.sparsity(model) == pytest.approx(0.75, abs=0.01)
    one_shot = _copy(trained_cnn[0])
    C.prune(one_shot, (x, targets, None), 0.5, epochs=0, learning_rate=0.002, batch_size=64)
    assert models.sparsity(one_shot) == pytest.approx(0.5, abs=0.01)
    per_kernel = _copy(trained_cnn[0])
    targets_per_kernel = [0.2, 0.4, 0.6, 0.8][:len(models.prunable(per_kernel))]
    C.prune(per_kernel, (x, targets, None), targets_per_kernel, epochs=1, learning_rate=0.002, batch_size=64)
    for kernel, target in zip(models.prunable(per_kernel), targets_per_kernel):
        assert (np.asarray(kernel) == 0).mean() == pytest.approx(target, abs=1 / np.asarray(kernel).size + 1e-9)
    with pytest.raises(ValueError, match="sparsity targets"):
        C.prune(_copy(trained_cnn[0]), (x, targets, None), [0.5], epochs=0, learning_rate=0.002, batch_size=64)


def test_int8_file_has_int8_weights(trained_cnn):
    model, (x, _) = trained_cnn
    float_blob = tflite.to_tflite(model)
    int8_blob = tflite.to_tflite(model, int8=True, calibration=x[:200])
    weights = tflite.weight_dtypes(int8_blob)
    assert set(weights) == {"CONV_2D", "FULLY_CONNECTED"} and len(weights["CONV_2D"]) == 3
    assert all(d == "int8" for ds in weights.values() for d in ds)
    assert all(d == "float32" for ds in tflite.weight_dtypes(float_blob).values() for d in ds)


def test_int8_accuracy_within_a_point_of_float(trained_mlp):
    model, (x, _) = trained_mlp
    x_test, y_test = _digits(300, 7)
    float_blob = tflite.to_tflite(model)
    int8_blob = tflite.to_tflite(model, int8=True, calibration=x[:200])
    assert all(d == "int8" for ds in tflite.weight_dtypes(int8_blob).values() for d in ds)
    acc_keras = scores.accuracy(np.asarray(model(x_test, training=False)), y_test)
    acc_float = scores.accuracy(tflite.Runner(float_blob).predict(x_test), y_test)
    acc_int8 = scores.accuracy(tflite.Runner(int8_blob).predict(x_test), y_test)
    assert acc_keras > 0.5  # the test means something only if the model learned
    assert acc_float == acc_keras
    assert abs(acc_float - acc_int8) <= 0.01
    assert len(int8_blob) < len(float_blob) / 2
    assert tflite.Runner(int8_blob).ms_per_image(x_test, batch=1, repeats=3) > 0


def test_head_ships_with_the_teachers_conv_layers():
    loop.set_determinism(0)
    teacher = models.teacher()
    head = models.student("head", (6,))
    full = models.deployable("head", head, teacher)
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    features, _ = models.teacher_with_features(teacher)(x, training=False)
    np.testing.assert_allclose(np.asarray(full(x, training=False)), np.asarray(head(features, training=False)),
                               rtol=1e-5, atol=1e-5)
    assert full.count_params() == models.deployed_params("head", head) == 74_188
    assert models.deployable("cnn", head) is head


def test_a_tflite_file_has_the_same_bytes_for_the_same_weights(trained_cnn, tmp_path):
    from distill.core import files

    model, (x, _) = trained_cnn
    files.save_model(model, tmp_path / "m.keras")
    blobs = {kind: set() for kind in ("float32", "int8")}
    for _ in range(2):  # two loads of one file, as two runs of a stage see it
        loaded = files.load_model(tmp_path / "m.keras")
        blobs["float32"].add(tflite.to_tflite(loaded))
        blobs["int8"].add(tflite.to_tflite(loaded, int8=True, calibration=x[:50]))
    assert all(len(b) == 1 for b in blobs.values())


def test_dropout_is_lowered_for_the_sparser_layer_after_it():
    teacher = models.teacher()  # dropout1 0.25 before the hidden Dense, dropout2 0.5 before the logits
    rates = C.scale_dropout(teacher, [0.5, 0.5, 0.96, 0.75])
    assert rates == {"dropout1": pytest.approx(0.25 * 0.2), "dropout2": pytest.approx(0.5 * 0.5)}
    assert teacher.get_layer("dropout1").rate == pytest.approx(0.05)
    assert list(C.scale_dropout(models.student("cnn", (4, 8)), 0.5).values()) == [0.0]  # no dropout stays none


def test_prune_fine_tunes_on_ready_batches_as_on_the_arrays_they_hold(trained_mlp):
    """compress hands a student that trained on the cached views ready Batches of those views; the
    arrays' form and ready Batches over the same arrays and seed fine-tune to the same weights."""
    model, (x, targets) = trained_mlp
    a, b = _copy(model), _copy(model)
    for twin in (a, b):
        twin.compile(loss=KD)
    loop.set_determinism(0)
    C.prune(a, (x[:256], targets[:256], None), 0.5, 1, 0.001, 64, seed=3)
    loop.set_determinism(0)
    C.prune(b, loop.Batches(x[:256], targets[:256], 64, seed=3), 0.5, 1, 0.001, 64, seed=3)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))
    assert models.sparsity(b) == pytest.approx(0.5, abs=0.01)
