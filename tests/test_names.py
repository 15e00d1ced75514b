import pytest

from distill.core import names
from distill.core.names import StudentSpec


@pytest.mark.parametrize("value, widths", [(6, (6,)), ([8, 16], (8, 16)), ("8-16-32", (8, 16, 32)), ("4", (4,))])
def test_widths_notation_parses(value, widths):
    assert names.parse_widths(value) == widths


@pytest.mark.parametrize("value, message", [
    ("8-x", "must be widths like"), (True, "must be widths like"), ([8, 2.5], "must be widths like"),
    ([], "must give 1 to 8 widths, got 0"), ("1-2-3-4-5-6-7-8-9", "must give 1 to 8 widths, got 9"),
    (0, "widths must be between 1 and 4096, got 0"), ([4, 5000], "got 5000"),
])
def test_widths_notation_refuses(value, message):
    with pytest.raises(ValueError, match=message):
        names.parse_widths(value)


def test_widths_format_and_hidden_round_trip():
    assert names.format_widths((8, 16, 32)) == "8-16-32"
    assert names.hidden_value((6,)) == 6 and names.hidden_value((8, 16)) == "8-16"
    for widths in [(6,), (8, 16, 16, 32)]:
        assert names.parse_widths(names.hidden_value(widths)) == widths


def test_student_spec_names():
    spec = StudentSpec("cnn", (8, 16, 32), "hard")
    assert (spec.name, spec.network, spec.hidden) == ("cnn-8-16-32-hard", "cnn-8-16-32", "8-16-32")
    assert StudentSpec("head", (6,), "kd").name == "head-6-kd"


def test_a_head_has_one_width():
    assert names.widths_problem("head", (4, 4)) == "a head student has one hidden layer, got 2 widths"
    assert names.widths_problem("head", (4,)) is None and names.widths_problem("cnn", (4, 4)) is None


def test_names_are_distinct_and_constants_match():
    assert (names.MSE, names.KD, names.HARD, names.DKD) == names.LOSSES and names.HEAD in names.ARCHS
    for group in (names.LOSSES, names.ARCHS, names.OPTIMIZERS, names.SCHEDULES, names.TFLITE_KINDS):
        assert len(set(group)) == len(group)


def test_headline_keeps_the_shared_keys_a_record_has_in_their_order():
    from distill.core import names

    record = {"name": "x", "params": 10, "per_seed": [], "val_accuracy": 0.9, "accuracy": 0.95, "accuracy_std": None}
    assert list(names.headline(record).items()) == [("accuracy", 0.95), ("accuracy_std", None),
                                                    ("val_accuracy", 0.9), ("params", 10)]


def test_a_study_run_is_its_student_and_its_schedule():
    from distill.compression import config as recipe

    assert names.scheduled("sep-8-24-2-kd", 36) == "sep-8-24-2-kd-e36"
    assert names.split_schedule("sep-8-24-2-kd-e36") == ("sep-8-24-2-kd", 36)
    for plain in ("sep-8-24-2-kd", "teacher", "head-6-e", "mlp-64-kd-e0", "e12"):
        assert names.split_schedule(plain) == (plain, None)
    assert recipe.parse_subject("sep-8-24-2-kd-e36") == recipe.parse_subject("sep-8-24-2-kd")
    assert recipe.network_name("sep-8-24-2-kd-e36") == "sep-8-24-2"
    with pytest.raises(ValueError, match="grid point"):
        recipe.parse_subject("sep-8-24-2-e36")
