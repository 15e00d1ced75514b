from distill import models


def test_teacher_is_the_seed_network():
    t = models.teacher()
    assert t.count_params() == models.TEACHER_PARAMS == 1_199_882
    assert models.conv_param_count(t) == models.TEACHER_CONV_PARAMS == 18_816
    assert t.get_layer(models.FEATURES_LAYER).output.shape[-1] == models.TEACHER_FEATURES == 9216
    assert [type(l).__name__ for l in t.layers] == [
        "Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout", "Dense"]


def test_teacher_with_features_gives_both_outputs():
    import numpy as np

    both = models.teacher_with_features(models.teacher())
    f, z = both(np.zeros((2, 28, 28, 1), np.float32), training=False)
    assert f.shape == (2, 9216) and z.shape == (2, 10)
