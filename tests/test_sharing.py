import keras
import numpy as np
import pytest
from test_compression import KD, _copy, _trained

from distill.compression import codec, sharing, tflite
from distill.compression.config import CONV, DENSE, OUTPUT
from distill.training import evaluation, loop, losses, models


@pytest.fixture(scope="module")
def trained():
    """A small MLP trained on synthetic digits, then pruned in one shot to 60% zeros."""
    model, (x, targets) = _trained("mlp", (32,))
    tflite.prune(model, (x, targets, None), 0.6, epochs=0, learning_rate=0.002, batch_size=64)
    return model, (x, targets)


def test_layer_kinds():
    assert sharing.layer_kinds(models.teacher()) == [CONV, CONV, DENSE, OUTPUT]
    assert sharing.layer_kinds(models.student("cnn", (4, 8))) == [CONV, CONV, OUTPUT]
    assert sharing.layer_kinds(models.student("mlp", (16, 8))) == [DENSE, DENSE, OUTPUT]


def test_codebook_is_linear_kmeans():
    values = np.r_[np.full(50, -1.0), np.full(30, 0.2), np.full(20, 2.0)].astype(np.float32)
    centroids, labels = sharing.codebook(values, 2)
    assert len(centroids) == 4 and labels.dtype == np.uint8
    assert sorted(set(centroids[labels].tolist())) == pytest.approx([-1.0, 0.2, 2.0])  # the three clusters, exactly
    assert centroids.min() == -1.0 and centroids.max() == 2.0  # linear init keeps the extremes


def test_centroid_gradient_sums_the_gradients_of_its_weights():
    kernel = keras.Variable(np.array([[0.0, 1.0], [1.1, -2.0]], np.float32))
    s = sharing.SharedKernel(kernel, 1)  # two centroids: about 1.05 and -2.0; the zero stays pruned
    assert np.asarray(s.centroids).tolist() == pytest.approx([-2.0, 1.05])
    g = np.array([[5.0, 1.0], [2.0, 3.0]], np.float32)
    assert np.asarray(s.centroid_gradient(g)).tolist() == [3.0, 3.0]  # the pruned weight's 5.0 goes nowhere


def test_sharing_and_finetuning_keep_zeros_and_codebook_size(trained):
    model = _copy(trained[0])
    model.compile(loss=KD)
    x, targets = trained[1]
    zeros_before = [np.asarray(k) == 0 for k in tflite.prunable(model)]
    before = evaluation.accuracy(loop.predict(model, x), targets[:, :10].argmax(1))
    shared = sharing.share(model, [3, 2])
    sharing.finetune(model, shared, loop.Batches(x, targets, 64), KD, 2, 0.002, losses.LabelAccuracy())
    for kernel, zeros, bits in zip(tflite.prunable(model), zeros_before, [3, 2]):
        w = np.asarray(kernel)
        assert ((w == 0) == zeros).all()  # pruned weights stay pruned, kept ones stay nonzero
        assert len(np.unique(w[w != 0])) <= 2 ** bits
    after = evaluation.accuracy(loop.predict(model, x), targets[:, :10].argmax(1))
    assert after > before - 0.05 and after > 0.5  # 8 and 4 values per layer still classify


def test_network_round_trips_bit_for_bit_through_a_file(trained):
    model = _copy(trained[0])
    shared = sharing.share(model, [4, 4])
    sharing.round_floats(model, shared, "float16")
    blob = sharing.encode(model, shared, "mlp-32", "float16")
    decoded = sharing.decode(blob)
    assert decoded.name == "mlp" and len(decoded.weights) == len(model.weights)
    for a, b in zip(model.get_weights(), decoded.get_weights()):
        assert np.array_equal(a, b)
    x = trained[1][0][:200]
    assert np.array_equal(loop.predict(model, x), loop.predict(decoded, x))
    assert len(blob) < sum(w.size for w in model.get_weights()) * 0.6  # well under a byte per weight


def test_cnn_with_batchnorm_and_the_teacher_build_and_decode():
    cnn = models.student("cnn", (4, 8))
    tflite.prune(cnn, None, 0.5, epochs=0, learning_rate=0.001, batch_size=1)
    shared = sharing.share(cnn, [3, 3, 3])
    sharing.round_floats(cnn, shared, "float32")
    decoded = sharing.decode(sharing.encode(cnn, shared, "cnn-4-8", "float32"))
    assert all(np.array_equal(a, b) for a, b in zip(cnn.get_weights(), decoded.get_weights()))
    assert sharing.build("teacher").count_params() == models.TEACHER_PARAMS
    assert sharing.build("head-6").count_params() == models.student_params("head", (6,))


def test_file_naming_an_unknown_network_is_refused():
    blob = codec.encode("resnet-50", [np.zeros(3, np.float32)], "float16")
    with pytest.raises(codec.FormatError, match="resnet-50"):
        sharing.decode(blob)
