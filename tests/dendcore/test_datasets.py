"""Tests for dendcore.datasets: the bundled MNIST, Fashion-MNIST and IDX error handling.

Broken-file cases use tiny synthetic IDX files written to tmp_path, so they
run in milliseconds and never touch the network or the bundled data.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from dendcore import datasets as ds
from dendcore.datasets import (
    Dataset,
    DatasetError,
    available_datasets,
    load_dataset,
    load_fashion_mnist,
    load_idx_dir,
    load_mnist,
    read_idx,
)

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not FASHION_DIR.is_dir(),
    reason=f"{FASHION_DIR} is missing (install Debian's dataset-fashion-mnist package)",
)


# ------------------------------------------------------------------ helpers


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x00000800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def make_dir(root: Path, n_train=6, n_test=4, hw=(4, 3), n_classes=3, gz=False, seed=0) -> dict:
    """Write a small, valid IDX dataset; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, *hw), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % n_classes,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, *hw), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(n_test, dtype=np.uint8) % n_classes,
    }
    root.mkdir(parents=True, exist_ok=True)
    for base, arr in arrays.items():
        write(root / base, idx_bytes(arr), gz=gz)
    return arrays


def assert_one_line_error(excinfo, filename: str, *fragments: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    assert filename in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


# ------------------------------------------------------------ bundled MNIST


def test_bundled_mnist_shapes_dtypes_and_values():
    mnist = load_mnist()
    assert mnist.name == "mnist"
    assert mnist.train_images.shape == (60000, 784)
    assert mnist.test_images.shape == (10000, 784)
    assert mnist.train_labels.shape == (60000,)
    assert mnist.test_labels.shape == (10000,)
    for images in (mnist.train_images, mnist.test_images):
        assert images.dtype == np.uint8
        assert images.flags.c_contiguous
        assert images.min() == 0 and images.max() == 255
    for labels in (mnist.train_labels, mnist.test_labels):
        assert labels.dtype == np.int64
    assert mnist.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.test_labels[:5].tolist() == [7, 2, 1, 0, 4]
    # Well-known class totals of the MNIST splits.
    assert np.bincount(mnist.train_labels).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ]
    assert np.bincount(mnist.test_labels, minlength=10).sum() == 10000
    assert mnist.classes == tuple("0123456789")
    assert mnist.n_inputs == 784 and mnist.n_classes == 10


def test_mnist_pixels_are_exactly_the_idx_bytes():
    mnist = load_mnist()
    raw = read_idx(ds.MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    assert raw.shape == (10000, 28, 28) and raw.dtype == np.uint8
    np.testing.assert_array_equal(mnist.test_images, raw.reshape(10000, -1))
    raw_train = read_idx(ds.MNIST_DIR / "train-images-idx3-ubyte.gz")
    assert raw_train.shape == (60000, 28, 28) and raw_train.dtype == np.uint8
    np.testing.assert_array_equal(mnist.train_images, raw_train.reshape(60000, -1))


def test_mnist_unit_images_are_exactly_byte_over_255():
    mnist = load_mnist()
    raw = {
        "train": read_idx(ds.MNIST_DIR / "train-images-idx3-ubyte.gz").reshape(60000, -1),
        "test": read_idx(ds.MNIST_DIR / "t10k-images-idx3-ubyte.gz").reshape(10000, -1),
    }
    for split, rows in (("train", [0, 1, 59999]), ("test", slice(3, 7)), ("test", 42)):
        unit = mnist.unit_images(split, rows)
        assert unit.dtype == np.float64
        np.testing.assert_array_equal(unit, raw[split][rows] / 255.0)
        assert 0.0 <= unit.min() and unit.max() <= 1.0
    # The default is the whole split.
    whole = mnist.unit_images("test")
    assert whole.shape == (10000, 784) and whole.dtype == np.float64
    assert whole.min() == 0.0 and whole.max() == 1.0
    # A fresh array: scaling never writes into the shared read-only bytes.
    whole[0, 0] = 0.5
    assert mnist.test_images[0, 0] == raw["test"][0, 0]


def test_mnist_train_images_fit_in_60_mb():
    # uint8 pixels: 60000 * 784 bytes = 47 MB (float64 would be 376 MB).
    mnist = load_mnist()
    assert mnist.train_images.nbytes < 60_000_000
    assert mnist.train_images.nbytes == 60000 * 784


def test_mnist_is_cached_and_read_only():
    mnist = load_mnist()
    assert load_mnist() is mnist
    assert load_dataset("mnist") is mnist
    for array in (mnist.train_images, mnist.train_labels, mnist.test_images, mnist.test_labels):
        assert not array.flags.writeable
        with pytest.raises(ValueError):
            array[0] = 0
    with pytest.raises(AttributeError):
        mnist.name = "other"


def test_sha256_catches_one_changed_byte(tmp_path):
    # Copy the real MNIST, then relabel the first training example (5 -> 3):
    # still a perfectly valid IDX file, so only the digest can notice.
    for base in ds.IDX_FILES.values():
        if base != "train-labels-idx1-ubyte":
            shutil.copy(ds.MNIST_DIR / f"{base}.gz", tmp_path)
    labels = bytearray(gzip.decompress((ds.MNIST_DIR / "train-labels-idx1-ubyte.gz").read_bytes()))
    assert labels[8] == 5
    labels[8] = 3
    write(tmp_path / "train-labels-idx1-ubyte", bytes(labels), gz=True)

    with pytest.raises(DatasetError) as excinfo:
        load_idx_dir(tmp_path, expected_sha256=ds.MNIST_SHA256)
    assert_one_line_error(
        excinfo,
        "train-labels-idx1-ubyte.gz",
        "SHA-256 mismatch",
        ds.MNIST_SHA256["train-labels-idx1-ubyte"][:12],
    )

    # Without digests the altered copy loads, but is no longer recognised as
    # MNIST, and the change is visible.
    altered = load_idx_dir(tmp_path)
    assert altered.name == tmp_path.name
    assert altered.train_labels[0] == 3
    assert altered.classes == tuple("0123456789")


def test_sha256_accepts_matching_digest_and_rejects_unknown_keys(tmp_path):
    import hashlib

    arrays = make_dir(tmp_path)
    digests = {base: hashlib.sha256(idx_bytes(a)).hexdigest() for base, a in arrays.items()}
    assert load_idx_dir(tmp_path, expected_sha256=digests).n_classes == 3
    with pytest.raises(DatasetError) as excinfo:
        load_idx_dir(tmp_path, expected_sha256={"train-images.gz": "00"})
    assert_one_line_error(excinfo, str(tmp_path), "unknown file")


# ------------------------------------------------------------- good IDX dirs


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_dir_loads_plain_and_gzip(tmp_path, gz):
    root = tmp_path / "tiny"
    arrays = make_dir(root, gz=gz)
    data = load_idx_dir(root)
    assert data.name == "tiny"
    assert data.n_inputs == 12  # any HxW is accepted, here 4x3
    assert data.n_classes == 3 and data.classes == ("0", "1", "2")
    assert data.train_images.dtype == np.uint8 and data.test_images.dtype == np.uint8
    np.testing.assert_array_equal(data.train_images, arrays["train-images-idx3-ubyte"].reshape(6, 12))
    np.testing.assert_array_equal(data.test_images, arrays["t10k-images-idx3-ubyte"].reshape(4, 12))
    np.testing.assert_array_equal(
        data.unit_images("train", slice(1, 4)),
        arrays["train-images-idx3-ubyte"].reshape(6, 12)[1:4] / 255.0,
    )
    np.testing.assert_array_equal(data.test_labels, arrays["t10k-labels-idx1-ubyte"])
    assert data.train_labels.dtype == np.int64
    assert not data.test_images.flags.writeable
    # A path string goes through load_dataset too.
    assert load_dataset(str(root)).n_inputs == 12


def test_read_idx_returns_header_shape(tmp_path):
    images = np.arange(2 * 5 * 7, dtype=np.uint8).reshape(2, 5, 7)
    path = write(tmp_path / "img-idx3-ubyte", idx_bytes(images))
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (2, 5, 7)
    np.testing.assert_array_equal(out, images)
    labels = write(tmp_path / "lab-idx1-ubyte", idx_bytes(np.array([1, 2, 3])), gz=True)
    assert read_idx(labels, kind="labels").tolist() == [1, 2, 3]


def test_custom_dataset_is_locked_without_touching_callers_array():
    # Already uint8 and contiguous, so the Dataset holds a view of the
    # caller's own buffer: locking must not flip the caller's flag.
    images = np.zeros((3, 4), dtype=np.uint8)
    data = Dataset("x", images, np.array([0, 1, 1]), np.ones((2, 4), np.uint8), np.array([1, 0]), ("a", "b"))
    assert data.train_images.dtype == np.uint8
    assert not data.train_images.flags.writeable
    assert images.flags.writeable
    with pytest.raises(DatasetError, match="labels span"):
        Dataset("x", images, np.array([0, 1, 2]), np.ones((2, 4)), np.array([1, 0]), ("a", "b"))


# -------------------------------------------------------------- broken files


def test_truncated_payload(tmp_path):
    good = idx_bytes(np.zeros((3, 4, 4), dtype=np.uint8))
    path = write(tmp_path / "short-idx3-ubyte", good[:-5])
    with pytest.raises(DatasetError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, "short-idx3-ubyte", "truncated: expected 48 bytes of data, found 43")

    gz_path = write(tmp_path / "shortgz-idx3-ubyte", good[:-5], gz=True)
    with pytest.raises(DatasetError) as excinfo:
        read_idx(gz_path)
    assert_one_line_error(excinfo, "shortgz-idx3-ubyte.gz", "truncated")


def test_truncated_file_in_directory(tmp_path):
    make_dir(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DatasetError) as excinfo:
        load_idx_dir(tmp_path)
    assert_one_line_error(excinfo, "t10k-images-idx3-ubyte", "truncated")


def test_trailing_bytes_are_rejected(tmp_path):
    path = write(tmp_path / "long-idx1-ubyte", idx_bytes(np.array([1, 2])) + b"\0")
    with pytest.raises(DatasetError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, "long-idx1-ubyte", "expected 2 bytes of data, found 3")


@pytest.mark.parametrize(
    "damage",
    ["flipped", "cut", "not_gzip"],
)
def test_corrupt_gzip(tmp_path, damage):
    rng = np.random.default_rng(1)
    blob = gzip.compress(idx_bytes(rng.integers(0, 256, (20, 8, 8), dtype=np.uint8)))
    if damage == "flipped":
        middle = len(blob) // 2
        blob = blob[:middle] + bytes(b ^ 0xFF for b in blob[middle : middle + 16]) + blob[middle + 16 :]
    elif damage == "cut":
        blob = blob[: len(blob) // 2]
    else:
        blob = b"this is not gzip at all"
    path = tmp_path / "broken-idx3-ubyte.gz"
    path.write_bytes(blob)
    with pytest.raises(DatasetError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, "broken-idx3-ubyte.gz", "gzip")


def test_corrupt_gzip_in_directory(tmp_path):
    make_dir(tmp_path, gz=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DatasetError) as excinfo:
        load_idx_dir(tmp_path)
    assert_one_line_error(excinfo, "train-labels-idx1-ubyte.gz", "corrupt gzip")


def test_wrong_magic(tmp_path):
    make_dir(tmp_path)
    # A label file sitting where the training images should be.
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros(6, dtype=np.uint8)))
    with pytest.raises(DatasetError) as excinfo:
        load_idx_dir(tmp_path)
    assert_one_line_error(
        excinfo,
        "train-images-idx3-ubyte",
        "not an IDX image file (magic 0x00000801; expected 0x00000803)",
    )


def test_non_ubyte_idx_is_rejected(tmp_path):
    # dtype byte 0x0D (float32) is valid IDX but not what the loader handles.
    path = write(tmp_path / "float-idx1-ubyte", idx_bytes(np.zeros(4, np.uint8), magic=0x00000D01))
    with pytest.raises(DatasetError) as excinfo:
        read_idx(path)
    assert_one_line_error(excinfo, "float-idx1-ubyte", "magic 0x00000d01")


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError) as excinfo:
        read_idx(tmp_path / "nope-idx1-ubyte.gz")
    assert_one_line_error(excinfo, "nope-idx1-ubyte.gz", "file not found")

    make_dir(tmp_path / "d")
    (tmp_path / "d" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError) as excinfo:
        load_idx_dir(tmp_path / "d")
    assert_one_line_error(excinfo, "t10k-labels-idx1-ubyte", "file not found")

    with pytest.raises(DatasetError) as excinfo:
        load_idx_dir(tmp_path / "no-such-dir")
    assert_one_line_error(excinfo, "no-such-dir", "not found")


def test_label_image_count_mismatch(tmp_path):
    make_dir(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(DatasetError) as excinfo:
        load_idx_dir(tmp_path)
    assert_one_line_error(excinfo, "train-labels-idx1-ubyte", "5 labels", "6 images")


def test_image_size_mismatch_between_splits(tmp_path):
    make_dir(tmp_path)
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((4, 5, 5), dtype=np.uint8)))
    with pytest.raises(DatasetError) as excinfo:
        load_idx_dir(tmp_path)
    assert_one_line_error(excinfo, "t10k-images-idx3-ubyte", "5x5", "4x3")


def test_test_label_outside_training_classes(tmp_path):
    make_dir(tmp_path, n_classes=3)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.array([0, 1, 2, 7])))
    with pytest.raises(DatasetError) as excinfo:
        load_idx_dir(tmp_path)
    assert_one_line_error(excinfo, "t10k-labels-idx1-ubyte", "label 7 is out of range")


def test_dataset_error_is_a_picklable_value_error():
    err = DatasetError("/x/y.gz", "corrupt gzip data (bad\nthing)")
    assert isinstance(err, ValueError)
    assert str(err) == "/x/y.gz: corrupt gzip data (bad thing)"
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is DatasetError and str(again) == str(err)


# ------------------------------------------------------------ named datasets


def test_unknown_name(tmp_path):
    with pytest.raises(DatasetError) as excinfo:
        load_dataset("cifar-1000")
    assert_one_line_error(excinfo, "cifar-1000", "unknown dataset")
    a_file = write(tmp_path / "file.txt", b"x")
    with pytest.raises(DatasetError, match="not a directory"):
        load_dataset(str(a_file))


def test_available_datasets_lists_mnist():
    found = available_datasets()
    assert "mnist" in found and isinstance(found["mnist"], str)
    assert ("fashion-mnist" in found) == FASHION_DIR.is_dir()


def test_fashion_mnist_missing_gives_install_hint(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DatasetError) as excinfo:
        load_fashion_mnist()
    assert_one_line_error(excinfo, "absent", "apt-get install dataset-fashion-mnist")
    assert "fashion-mnist" not in available_datasets()


@needs_fashion
def test_fashion_mnist_by_name_and_path():
    by_name = load_dataset("fashion-mnist")
    assert by_name is load_fashion_mnist()
    assert by_name.name == "fashion-mnist"
    assert by_name.train_images.shape == (60000, 784)
    assert by_name.test_images.shape == (10000, 784)
    assert by_name.classes == (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )
    assert np.bincount(by_name.train_labels).tolist() == [6000] * 10
    assert not by_name.train_images.flags.writeable
    assert by_name.train_images.dtype == np.uint8 and by_name.test_images.dtype == np.uint8
    base = "t10k-images-idx3-ubyte"
    raw = read_idx(next(p for p in (FASHION_DIR / base, FASHION_DIR / f"{base}.gz") if p.is_file()))
    np.testing.assert_array_equal(by_name.test_images, raw.reshape(10000, -1))
    np.testing.assert_array_equal(by_name.unit_images("test", slice(0, 5)), raw.reshape(10000, -1)[:5] / 255.0)

    by_path = load_dataset(str(FASHION_DIR))
    # Loading by path recognises the files by digest, so the names survive.
    assert by_path.name == "fashion-mnist"
    assert by_path.classes == by_name.classes
    np.testing.assert_array_equal(by_path.test_images, by_name.test_images)
    np.testing.assert_array_equal(by_path.train_labels, by_name.train_labels)
