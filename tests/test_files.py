import json
import zipfile

import numpy as np
import pytest

from distill.core import files
from distill.core.files import InputError
from distill.training import loop, models


def test_atomic_write_leaves_old_file_or_nothing(tmp_path):
    target = tmp_path / "out" / "a.json"
    files.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), files.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed half-way")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]


def test_a_keras_file_has_the_same_bytes_for_the_same_weights(tmp_path):
    loop.set_determinism(0)
    model = models.student("cnn", (2, 4))
    model.compile(loss="mse")
    files.save_model(model, tmp_path / "a.keras")
    import time

    time.sleep(1.1)  # Keras stamps the save time to the second
    files.save_model(model, tmp_path / "b.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.keras") as zf:
        assert "date_saved" not in json.loads(zf.read("metadata.json"))
        assert {info.date_time for info in zf.infolist()} == {files.ZIP_EPOCH}
    loaded = files.load_model(tmp_path / "a.keras")
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True))


def test_a_keras_file_does_not_depend_on_python_object_ids(tmp_path):
    import keras

    for name in ("a", "b"):  # as two runs of a stage: same seed, fresh objects, same names
        keras.backend.clear_session()
        loop.set_determinism(0)
        files.save_model(models.teacher(), tmp_path / f"{name}.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.keras") as zf:
        assert '"shared_object_id": 1' in zf.read("config.json").decode()


@pytest.mark.parametrize("reader, name, content, what", [
    (files.read_json, "r.json", b"{oops", "not a readable JSON file"),
    (files.load_npy, "a.npy", b"\x93NUMPY garbage", "not a readable .npy array"),
    (files.load_npz, "a.npz", b"PK\x03\x04 not a zip", "not a readable .npz archive"),
    (files.load_model, "m.keras", b"PK\x03\x04 not a zip", "not a readable Keras model"),
])
def test_damaged_and_missing_inputs_name_the_file(tmp_path, reader, name, content, what):
    with pytest.raises(InputError, match=f"{name}: not found; run the stage that writes it"):
        reader(tmp_path / name)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=f"{name}: {what}") as e:
        reader(tmp_path / name)
    assert "dvc repro" in str(e.value)
