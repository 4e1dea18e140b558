"""Loading and validation: every kind of bad input ends in one DataError that names the file,
the array and the fix; good variants (flat labels, float labels, subsets) load."""

import re
import zipfile

import numpy as np
import pytest
import torch
from conftest import make_arrays, make_npz

from zodarts.data import DatasetWarning, load_dataset, md5_of
from zodarts.errors import DataError


def load_error(path_or_name, **kwargs) -> str:
    with pytest.raises(DataError) as err:
        load_dataset(path_or_name, **kwargs)
    return str(err.value)


# --- good files -----------------------------------------------------------------------------------

def test_grey_npz_loads_as_uint8_nchw(npz_factory):
    ds = load_dataset(npz_factory("toy", sizes=(10, 4, 6), classes=3))
    assert (ds.name, ds.task, ds.channels, ds.classes, ds.image_size) == ("toy", "multi-class",
                                                                          1, 3, 28)
    train = ds.splits["train"]
    assert train.images.dtype == torch.uint8 and train.images.shape == (10, 1, 28, 28)
    assert train.labels.dtype == torch.int64 and train.labels.shape == (10,)
    assert len(train) == 10 and ds.md5_status is None and ds.path.name == "toy.npz"
    assert ds.class_counts() == {"train": [4, 3, 3], "val": [2, 1, 1], "test": [2, 2, 2]}
    assert ds.label_names == ("class 0", "class 1", "class 2")


def test_rgb_npz_becomes_channels_first(npz_factory):
    path = npz_factory("rgb", channels=3, image_size=16)
    raw = np.load(path)["train_images"]
    ds = load_dataset(path)
    assert ds.channels == 3 and ds.task == "binary"
    assert ds.splits["train"].images.shape == (40, 3, 16, 16)
    assert torch.equal(ds.splits["train"].images, torch.from_numpy(raw).permute(0, 3, 1, 2))


def test_flat_labels_accepted(npz_factory):
    ds = load_dataset(npz_factory(flat_labels=True))
    assert ds.splits["val"].labels.shape == (8,)


def test_float_labels_holding_integers_accepted(npz_factory):
    arrays = make_arrays()
    replace = {k: v.astype(np.float32) for k, v in arrays.items() if k.endswith("labels")}
    ds = load_dataset(npz_factory(replace=replace))
    assert ds.splits["train"].labels.dtype == torch.int64 and ds.classes == 2


def test_any_integer_label_dtype_accepted(npz_factory):
    arrays = make_arrays()
    replace = {k: v.astype(np.int32) for k, v in arrays.items() if k.endswith("labels")}
    assert load_dataset(npz_factory(replace=replace)).classes == 2


def test_multi_label_inferred(npz_factory):
    ds = load_dataset(npz_factory(multi_label=5))
    assert ds.task == "multi-label" and ds.classes == 5
    assert ds.splits["train"].labels.shape == (40, 5)
    assert len(ds.class_counts()["train"]) == 5


def test_registry_named_file_gets_registry_metadata_and_md5_status(tmp_path):
    path = make_npz(tmp_path / "breastmnist.npz", sizes=(20, 4, 6))
    with pytest.warns(DatasetWarning) as record:
        ds = load_dataset("breastmnist", data_root=tmp_path)
    assert len(record) == 3  # one line per split that differs from the official sizes
    assert "train split has 20 images, the official breastmnist has 546" in str(record[0].message)
    assert ds.name == "breastmnist" and ds.label_names == ("malignant", "normal, benign")
    assert ds.md5_status == "modified" and ds.path == path


def test_split_size_warning_is_a_warning_not_an_error(tmp_path):
    make_npz(tmp_path / "breastmnist.npz", sizes=(546, 78, 100))
    with pytest.warns(DatasetWarning) as record:
        ds = load_dataset(tmp_path / "breastmnist.npz")
    messages = [str(w.message) for w in record]
    assert len(messages) == 1 and "test split has 100 images" in messages[0]
    assert len(ds.splits["test"]) == 100


def test_official_md5_status(tmp_path, monkeypatch):
    import dataclasses

    from zodarts.data import REGISTRY

    path = make_npz(tmp_path / "breastmnist.npz", sizes=(546, 78, 156))
    entry = dataclasses.replace(REGISTRY["breastmnist"], md5=md5_of(path))
    monkeypatch.setitem(REGISTRY, "breastmnist", entry)
    assert load_dataset("breastmnist", data_root=tmp_path).md5_status == "official"
    assert load_dataset("breastmnist", data_root=tmp_path, check_md5=False).md5_status is None


def test_registry_size_suffix(tmp_path):
    make_npz(tmp_path / "breastmnist_64.npz", sizes=(546, 78, 156), image_size=64)
    ds = load_dataset("breastmnist", data_root=tmp_path, size=64)
    assert ds.image_size == 64 and ds.md5_status == "modified"


# --- missing and corrupt files --------------------------------------------------------------------

def test_missing_file_lists_every_place_and_the_command(tmp_path, isolated_roots, monkeypatch):
    monkeypatch.setenv("MEDMNIST_ROOT", str(tmp_path / "env"))
    (tmp_path / "cli").mkdir()   # a --data-root that does not exist is refused before this
    message = load_error("dermamnist", data_root=tmp_path / "cli")
    assert str(tmp_path / "cli" / "dermamnist.npz") in message
    assert str(tmp_path / "env" / "dermamnist.npz") in message
    assert str(isolated_roots / ".medmnist" / "dermamnist.npz") in message
    assert f"zodarts fetch dermamnist --root {tmp_path / 'cli'}" in message


def test_missing_file_size_flag(isolated_roots):
    message = load_error("pathmnist", size=64)
    assert "pathmnist_64.npz" in message and "--size 64" in message
    assert "sizes 28, 64, 128, 224" in load_error("pathmnist", size=32)


def test_unknown_name_or_path():
    message = load_error("no-such-dataset")
    assert "no-such-dataset" in message and "breastmnist" in message


def test_truncated_file(tmp_path):
    path = make_npz(tmp_path / "breastmnist.npz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    message = load_error(path)
    assert str(path) in message and "truncated" in message
    assert f"zodarts fetch breastmnist --root '{tmp_path}'" in message and "rm " in message


def test_non_zip_garbage(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"<html>not found</html>" * 10)
    message = load_error(path)
    assert str(path) in message and "not a valid .npz" in message


def test_pickle_is_never_loaded(tmp_path):
    import pickle

    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps({"train_images": 1}))
    assert "not a valid .npz" in load_error(path)


def test_corrupt_member_crc(tmp_path):
    path = make_npz(tmp_path / "toy.npz")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        member = zf.getinfo("train_images.npy")
    middle = member.header_offset + 200 + member.compress_size // 2
    data[middle:middle + 16] = bytes(255 - b for b in data[middle:middle + 16])
    path.write_bytes(bytes(data))
    message = load_error(path)
    assert str(path) in message and "corrupt" in message


def test_missing_array(npz_factory):
    path = npz_factory(drop=["val_labels"])
    message = load_error(path)
    assert str(path) in message and "val_labels" in message and "missing" in message


def test_mismatched_counts(npz_factory):
    arrays = make_arrays()
    message = load_error(npz_factory(replace={"test_labels": arrays["test_labels"][:-3]}))
    assert "test_images has 16 images but test_labels has 13" in message


def test_out_of_range_labels(npz_factory):
    labels = np.zeros((8, 1), dtype=np.uint8)
    labels[5] = 7
    message = load_error(npz_factory("breastmnist", replace={"val_labels": labels}))
    assert "val_labels" in message and "[0, 2)" in message and "index 5" in message


def test_negative_labels(npz_factory):
    labels = -np.ones((8, 1), dtype=np.int64)
    assert "val_labels" in load_error(npz_factory(replace={"val_labels": labels}))


def test_multi_label_values_must_be_binary(npz_factory):
    labels = np.full((8, 4), 2, dtype=np.uint8)
    message = load_error(npz_factory(multi_label=4, replace={"val_labels": labels}))
    assert "0 or 1" in message


def test_float_labels_non_integer(npz_factory):
    labels = np.full((8, 1), 0.5, dtype=np.float32)
    message = load_error(npz_factory(replace={"val_labels": labels}))
    assert "val_labels" in message and "non-integer" in message


def test_nan_labels(npz_factory):
    labels = np.full((8, 1), np.nan, dtype=np.float64)
    assert "non-integer" in load_error(npz_factory(replace={"val_labels": labels}))


def test_wrong_image_dtype(npz_factory):
    images = np.zeros((40, 28, 28), dtype=np.float32)
    message = load_error(npz_factory(replace={"train_images": images}))
    assert "train_images" in message and "float32" in message and "uint8" in message


def test_wrong_image_ndim(npz_factory):
    images = np.zeros((40, 28 * 28), dtype=np.uint8)
    message = load_error(npz_factory(replace={"train_images": images}))
    assert "train_images" in message and "(40, 784)" in message


def test_wrong_label_ndim(npz_factory):
    labels = np.zeros((8, 1, 1), dtype=np.uint8)
    assert "val_labels" in load_error(npz_factory(replace={"val_labels": labels}))


def test_inconsistent_sizes_across_splits(npz_factory):
    images = np.zeros((16, 32, 32), dtype=np.uint8)
    message = load_error(npz_factory(replace={"test_images": images}))
    assert "test_images are 32×32" in message and "train_images are 28×28" in message


def test_inconsistent_channels_across_splits(npz_factory):
    images = np.zeros((16, 28, 28, 3), dtype=np.uint8)
    assert "channel" in load_error(npz_factory(replace={"test_images": images}))


def test_registry_file_with_wrong_channels(tmp_path):
    path = make_npz(tmp_path / "pathmnist.npz", channels=1, classes=9)
    assert "pathmnist has 3" in load_error(path)


def test_empty_split(npz_factory):
    path = npz_factory(replace={"val_images": np.zeros((0, 28, 28), np.uint8),
                                "val_labels": np.zeros((0, 1), np.uint8)})
    assert "val split is empty" in load_error(path)


def test_single_class_rejected(npz_factory):
    assert "two classes" in load_error(npz_factory(classes=1))


# --- image folders --------------------------------------------------------------------------------

def write_images(folder, count, size=(12, 12), mode="L", seed=0):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        shape = size[::-1] + ((3,) if mode == "RGB" else ())
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(
            folder / f"{i:03d}.png")


def test_image_folder(tmp_path):
    root = tmp_path / "scans"
    write_images(root / "healthy", 30)
    write_images(root / "sick", 20)
    (root / "sick" / "notes.txt").write_text("ignored")
    ds = load_dataset(root)
    assert (ds.name, ds.task, ds.channels, ds.classes, ds.image_size) == ("scans", "binary", 1,
                                                                          2, 12)
    assert ds.label_names == ("healthy", "sick")
    sizes = {s: len(split) for s, split in ds.splits.items()}
    assert sizes == {"train": 35, "val": 5, "test": 10}
    counts = ds.class_counts()
    assert counts["test"] == [6, 4] and counts["train"] == [21, 14]
    again = load_dataset(root)
    assert torch.equal(again.splits["test"].images, ds.splits["test"].images)


def test_image_folder_rgb(tmp_path):
    root = tmp_path / "colour"
    write_images(root / "a", 10, mode="RGB")
    write_images(root / "b", 10)  # grey images join the colour ones as RGB
    ds = load_dataset(root)
    assert ds.channels == 3 and ds.splits["train"].images.shape[1:] == (3, 12, 12)


def test_image_folder_with_own_splits(tmp_path):
    root = tmp_path / "presplit"
    for split, n in (("train", 16), ("test", 4)):
        write_images(root / split / "a", n)
        write_images(root / split / "b", n)
    ds = load_dataset(root)
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 28, "val": 4, "test": 8}


def test_image_folder_mixed_sizes(tmp_path):
    root = tmp_path / "mixed"
    write_images(root / "a", 5)
    write_images(root / "b", 5, size=(16, 12))
    message = load_error(root)
    assert "differ in size" in message and "12×12" in message and "16×12" in message


def test_image_folder_unreadable_image(tmp_path):
    root = tmp_path / "broken"
    write_images(root / "a", 5)
    write_images(root / "b", 5)
    (root / "b" / "bad.png").write_bytes(b"not a png")
    assert "bad.png" in load_error(root)


def test_image_folder_needs_classes(tmp_path):
    write_images(tmp_path / "one" / "only", 5)
    assert "at least two" in load_error(tmp_path / "one")


# --- digits ---------------------------------------------------------------------------------------

def test_digits():
    ds = load_dataset("digits")
    assert (ds.name, ds.task, ds.channels, ds.classes, ds.image_size) == ("digits", "multi-class",
                                                                          1, 10, 8)
    from zodarts.data import REGISTRY

    assert {s: len(v) for s, v in ds.splits.items()} == REGISTRY["digits"].splits
    images = torch.cat([s.images for s in ds.splits.values()])
    assert images.dtype == torch.uint8 and images.max() == 255 and images.min() == 0
    assert ds.path is None and ds.md5_status is None
    # Stratified: every class has 9–11 % of its images in val, 19–21 % in test.
    counts = {s: np.array(c) for s, c in ds.class_counts().items()}
    total = sum(counts.values())
    assert np.all(np.abs(counts["test"] / total - 0.2) < 0.01)
    assert re.fullmatch(r"\d", ds.label_names[3])
