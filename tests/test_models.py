import numpy as np
import pytest

from distill.training import models


def test_teacher_is_the_seed_network():
    t = models.teacher()
    assert t.count_params() == models.TEACHER_PARAMS == 1_199_882
    assert models.conv_param_count(t) == models.TEACHER_CONV_PARAMS == 18_816
    assert t.get_layer(models.FEATURES_LAYER).output.shape[-1] == models.TEACHER_FEATURES == 9216
    assert [type(layer).__name__ for layer in t.layers] == [
        "Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout", "Dense"]


def test_teacher_with_features_gives_both_outputs():
    import numpy as np

    both = models.teacher_with_features(models.teacher())
    f, z = both(np.zeros((2, 28, 28, 1), np.float32), training=False)
    assert f.shape == (2, 9216) and z.shape == (2, 10)


def test_student_param_counts_per_family():
    head = models.student("head", (6,))
    assert models.deployed_params("head", head) == 9216 * 6 + 6 + 6 * 10 + 10 + 18_816 == 74_188
    mlp = models.student("mlp", (64, 32))
    assert models.deployed_params("mlp", mlp) == (784 * 64 + 64) + (64 * 32 + 32) + (32 * 10 + 10)
    cnn = models.student("cnn", (8, 16, 16, 32))
    convs = 9 * (1 * 8 + 8 * 16 + 16 * 16 + 16 * 32)  # 3x3 kernels, no bias
    batchnorm = 4 * (8 + 16 + 16 + 32)  # gamma, beta, moving mean, moving variance
    assert models.deployed_params("cnn", cnn) == convs + batchnorm + 32 * 10 + 10 == 8_754
    assert cnn.outputs[0].shape[-1] == 10 and cnn.inputs[0].shape[1:] == (28, 28, 1)


def test_cnn_pools_after_the_first_two_convs():
    cnn = models.student("cnn", (4, 8, 8, 16))
    pools = [i for i, layer in enumerate(cnn.layers) if type(layer).__name__ == "MaxPooling2D"]
    convs = [i for i, layer in enumerate(cnn.layers) if type(layer).__name__ == "Conv2D"]
    assert len(pools) == 2 and convs[0] < pools[0] < convs[1] < pools[1] < convs[2]
    assert [tuple(cnn.layers[i].output.shape[1:3]) for i in convs] == [(28, 28), (14, 14), (7, 7), (7, 7)]


def test_unknown_arch_and_bad_head_widths():
    import pytest

    with pytest.raises(ValueError, match="unknown arch 'rnn'"):
        models.student("rnn", (4,))
    with pytest.raises(ValueError, match="a head student has one hidden layer"):
        models.student("head", (4, 4))


def test_student_params_counts_a_network_not_built_yet():
    assert models.student_params("head", (6,)) == 74_188
    assert models.student_params("cnn", [8, 16, 16, 32]) == 8_754


def test_sep_shares_one_separable_block_across_its_repeats():
    import keras

    model = models.student("sep", (8, 24, 2))
    assert model.count_params() == 1698  # the calibration network
    depthwise = [layer for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert len(depthwise) == 2  # the first separable conv and the shared one, whatever the repeats
    assert models.student("sep", (8, 24, 3)).count_params() == 1698 + 4 * 24  # one more BatchNorm only
    assert model(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 10)
    with pytest.raises(ValueError, match="sep student takes stem-width-repeats"):
        models.student("sep", (8, 24))


def test_batchnorm_trains_like_keras_with_the_fused_kernel(tmp_path):
    import keras

    x = np.random.default_rng(0).normal(2.0, 3.0, (16, 5, 5, 4)).astype(np.float32)
    ours, theirs = models.BatchNorm(momentum=0.9), keras.layers.BatchNormalization(momentum=0.9)
    for layer in (ours, theirs):
        layer.build(x.shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, 4)), layer.beta.assign(np.linspace(-1.0, 1.0, 4))
    np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), atol=1e-4)
    np.testing.assert_allclose(ours.moving_mean, theirs.moving_mean, atol=1e-5)
    n = 16 * 5 * 5  # the fused kernel's batch variance is the unbiased one
    np.testing.assert_allclose(ours.moving_variance, 0.9 + 0.1 * x.var(axis=(0, 1, 2)) * n / (n - 1), rtol=1e-4)
    # a network of them: saved and loaded, the same outputs
    model = models.student("sep", (2, 4, 1))
    assert sum(isinstance(layer, models.BatchNorm) for layer in model.layers) == 3
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    sample = np.random.default_rng(1).random((3, 28, 28, 1), np.float32)
    np.testing.assert_array_equal(model.predict(sample, verbose=0), again.predict(sample, verbose=0))


def test_the_public_records_shapes_have_their_parameter_counts():
    # ruslangrimov/mnist-minimal-model: 1,936; JoshWarn/Parameter-Efficient-MNIST: 997 (README counts)
    assert models.student("tied", (8, 26, 3, 16), 0.1).count_params() == 1936
    assert models.student("vsep", (7, 10, 10, 11, 12), 0.1).count_params() == 997
    for arch, widths in (("tied", (4, 11, 3, 8)), ("tied", (6, 18, 2, 8)), ("vsep", (4, 6, 6, 6, 7)), ("vsep", (5, 8))):
        model = models.student(arch, widths)
        assert models.size(arch, widths) == (model.count_params(), len(model.get_weights())), (arch, widths)


def test_tied_applies_one_separable_conv_at_11x11_with_a_norm_per_use():
    model = models.student("tied", (8, 26, 3, 16), 0.1)
    depthwise = [layer for layer in model.layers if type(layer).__name__ == "DepthwiseConv2D"]
    assert len(depthwise) == 2  # the valid one and the shared one, whatever the repeats
    assert model.get_layer("shared_depthwise").output.shape[1:3] == (11, 11)
    norms = [layer for layer in model.layers if isinstance(layer, models.SampleNorm)]
    assert len(norms) == 3 + 3 and all(layer.count_params() == 2 for layer in norms)
    assert models.student("tied", (8, 26, 4, 16)).count_params() == 1936 + 2  # one more norm only
    with pytest.raises(ValueError, match="tied student takes stem-width-repeats-dense"):
        models.student("tied", (8, 26, 3))


def test_vsep_takes_the_map_from_13x13_down_two_pixels_a_layer():
    model = models.student("vsep", (7, 10, 10, 11, 12))
    assert [model.get_layer(f"sep{i}_pointwise").output.shape[1] for i in range(1, 5)] == [11, 9, 7, 5]
    assert not any("Normalization" in type(layer).__name__ for layer in model.layers)
    with pytest.raises(ValueError, match="vsep student takes a stem and 1 to 6"):
        models.student("vsep", (7, 10, 10, 10, 10, 10, 10, 10))


def test_samplenorm_normalizes_each_example_over_all_its_values():
    norm = models.SampleNorm()
    x = np.random.default_rng(0).normal(3.0, 2.0, (4, 5, 5, 3)).astype(np.float32)
    x[1] *= 10  # another scale per example: each is normalized on its own
    y = np.asarray(norm(x))
    assert np.allclose(y.reshape(4, -1).mean(axis=1), 0, atol=1e-5)
    assert np.allclose(y.reshape(4, -1).std(axis=1), 1, atol=1e-3)
    norm.gamma.assign(2.0)
    norm.beta.assign(0.5)
    assert np.allclose(np.asarray(norm(x)), 2 * y + 0.5, atol=1e-5)


@pytest.mark.parametrize("arch, widths", [("tied", (2, 4, 2, 4)), ("vsep", (3, 4, 5))])
def test_new_families_save_and_load_with_the_same_outputs(tmp_path, arch, widths):
    from distill.core import files

    model = models.student(arch, widths, 0.1)
    x = np.random.default_rng(1).random((3, 28, 28, 1), np.float32)
    files.save_model(model, tmp_path / "m.keras")
    again = files.load_model(tmp_path / "m.keras")
    assert np.array_equal(np.asarray(model(x)), np.asarray(again(x)))
