"""Image-classification datasets in the IDX format (MNIST and its look-alikes).

Everything the engine trains on comes through here as a :class:`Dataset`:
flattened uint8 images (pixel bytes; the network sees pixel/255), int64 labels,
all read-only so one
in-process copy can be shared by every run, sweep worker and dashboard view
without anyone accidentally corrupting it.

Sources:

* ``"mnist"`` -- the copy bundled under ``dendcore/data/mnist`` (CC BY-SA 3.0,
  see ``ATTRIBUTION.md`` there), checked against known SHA-256 digests so that
  a damaged install fails loudly instead of training on garbage.
* ``"fashion-mnist"`` -- Debian's ``dataset-fashion-mnist`` package.
* any directory holding the four standard IDX files, plain or gzip-compressed.
* ``"<name>-validation"`` (e.g. ``"mnist-validation"``) -- a named dataset's
  :meth:`Dataset.validation_split`: the last 10,000 training images take the
  place of the test set, for tuning without ever looking at the test set.

Every problem with the files surfaces as :class:`DatasetError` carrying a
single line of the form ``"<path>: <problem>"``; the CLI and the dashboard
show that line to the user as is.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DatasetError",
    "Dataset",
    "read_idx",
    "load_idx_dir",
    "load_mnist",
    "load_fashion_mnist",
    "available_datasets",
    "load_dataset",
    "is_dataset_name",
    "VALIDATION_SIZE",
    "VALIDATION_SUFFIX",
    "MNIST_DIR",
    "FASHION_MNIST_DIR",
    "IDX_FILES",
]

MNIST_DIR = Path(__file__).resolve().parent / "data" / "mnist"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

# Role -> base file name (without ".gz"); every IDX dataset of this family
# uses these names, which is what lets a bare directory path be loaded.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# Digests of the *uncompressed* files: the compressed bytes depend on the
# gzip settings of whoever packaged them, the payload does not.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# Matches the archives Zalando Research publishes (their MD5s), as shipped by Debian.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_DESCRIPTIONS = {
    "mnist": "MNIST handwritten digits, 28x28 grey, 60000 train / 10000 test (bundled)",
    "fashion-mnist": "Fashion-MNIST clothing images, 28x28 grey, 60000 train / 10000 test "
    f"({FASHION_MNIST_DIR})",
}

# A directory whose contents match one of these, byte for byte, gets the
# proper class names even when it is loaded by path.
_KNOWN = (
    (MNIST_SHA256, MNIST_CLASSES),
    (FASHION_MNIST_SHA256, FASHION_MNIST_CLASSES),
)

_MAGIC_LABELS = 0x00000801
_MAGIC_IMAGES = 0x00000803
_KIND_MAGIC = {"labels": _MAGIC_LABELS, "images": _MAGIC_IMAGES}
_GZIP_MAGIC = b"\x1f\x8b"

# Threads only pay off on arrays big enough to hide the pool overhead; NumPy,
# zlib and hashlib all drop the GIL on large buffers so the threads do run
# in parallel.


class DatasetError(ValueError):
    """A dataset file is missing, damaged or inconsistent.

    The message is always one line, ``"<path>: <problem>"``.
    """

    def __init__(self, where: object, problem: str | None = None):
        # One-argument form keeps the exception picklable (sweep workers send
        # it across processes) and lets callers pass a ready-made message.
        if problem is None:
            message, self.path, self.problem = str(where), None, None
        else:
            self.path = str(where)
            self.problem = str(problem)
            message = f"{where}: {problem}"
        # Multi-line text from a wrapped exception would break the one-line
        # contract that log files and the dashboard's status bar rely on.
        super().__init__(" ".join(message.split()))


def _frozen(array: np.ndarray, dtype, ndim: int, what: str, name: str) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise DatasetError(f"dataset {name!r}", f"{what} must be a NumPy array, got {type(array).__name__}")
    if array.ndim != ndim:
        raise DatasetError(f"dataset {name!r}", f"{what} must be {ndim}-D, got shape {array.shape}")
    out = np.ascontiguousarray(array, dtype=dtype)
    # A view, so that locking it never flips the flag on an array the caller
    # still owns and may legitimately want to write to.
    out = out.view()
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A train/test split of flattened images with integer class labels.

    Images are the raw pixel bytes (uint8, one row per example; the network
    reads pixel/255: keeping bytes makes MNIST 47 MB instead of 376 MB, and
    the kernels convert one row at a time); labels are int64 in
    ``range(n_classes)``. All four arrays are C-contiguous and read-only.
    Constructing a Dataset by hand (e.g. a subset for a quick test) is fine:
    the arrays are converted and locked the same way.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        name = self.name
        fields = {
            "train_images": _frozen(self.train_images, np.uint8, 2, "train_images", name),
            "train_labels": _frozen(self.train_labels, np.int64, 1, "train_labels", name),
            "test_images": _frozen(self.test_images, np.uint8, 2, "test_images", name),
            "test_labels": _frozen(self.test_labels, np.int64, 1, "test_labels", name),
            "classes": tuple(str(c) for c in self.classes),
        }
        for key, value in fields.items():
            object.__setattr__(self, key, value)

        where = f"dataset {name!r}"
        tr, te = self.train_images, self.test_images
        if tr.shape[1] != te.shape[1]:
            raise DatasetError(where, f"train images have {tr.shape[1]} inputs but test images have {te.shape[1]}")
        if tr.shape[0] != self.train_labels.shape[0]:
            raise DatasetError(where, f"{tr.shape[0]} train images but {self.train_labels.shape[0]} train labels")
        if te.shape[0] != self.test_labels.shape[0]:
            raise DatasetError(where, f"{te.shape[0]} test images but {self.test_labels.shape[0]} test labels")
        if not self.classes:
            raise DatasetError(where, "no class names given")
        for split, labels in (("train", self.train_labels), ("test", self.test_labels)):
            if labels.size and (labels.min() < 0 or labels.max() >= len(self.classes)):
                raise DatasetError(
                    where,
                    f"{split} labels span {labels.min()}..{labels.max()} "
                    f"but there are only {len(self.classes)} classes",
                )

    @property
    def n_inputs(self) -> int:
        return int(self.train_images.shape[1])

    def unit_images(self, split: str, rows=slice(None)) -> np.ndarray:
        """Images of ``split`` ("train" or "test") as float64 in [0, 1]."""
        return getattr(self, f"{split}_images")[rows] / 255.0

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def validation_split(self, n_validation: int | None = None) -> "Dataset":
        """A dataset for tuning: the training set less its last ``n_validation`` images (default
        :data:`VALIDATION_SIZE`) to train on, and those held-out images as its "test" split.

        The real test set is not part of it, so a learning-rate sweep run on it can be reported on the
        test set afterwards without having been chosen on it.  The arrays are views of this dataset's.
        """
        n = VALIDATION_SIZE if n_validation is None else int(n_validation)
        total = self.train_images.shape[0]
        if not 0 < n < total:
            raise DatasetError(f"dataset {self.name!r}", f"cannot hold out {n} of {total} training images "
                               "for validation (need 0 < n < the number of training images)")
        cut = total - n
        return Dataset(name=self.name + VALIDATION_SUFFIX,
                       train_images=self.train_images[:cut], train_labels=self.train_labels[:cut],
                       test_images=self.train_images[cut:], test_labels=self.train_labels[cut:],
                       classes=self.classes)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={self.train_images.shape[0]}, "
            f"test={self.test_images.shape[0]}, n_inputs={self.n_inputs}, n_classes={self.n_classes})"
        )


# ---------------------------------------------------------------- IDX reading


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped if it is gzip data."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(path, "file not found") from None
    except IsADirectoryError:
        raise DatasetError(path, "is a directory, expected an IDX file") from None
    except PermissionError:
        raise DatasetError(path, "permission denied") from None
    except OSError as exc:
        raise DatasetError(path, f"cannot read file ({exc.strerror or exc})") from None

    # Sniff the content as well as the suffix: IDX data always starts with
    # two zero bytes, so it can never be mistaken for a gzip header, and a
    # mis-named file still loads.
    if path.suffix != ".gz" and not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        raise DatasetError(path, "corrupt gzip data (compressed stream ends early)") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise DatasetError(path, f"corrupt gzip data ({exc})") from None


def _parse_idx(data: bytes, path: Path, kind: str | None) -> np.ndarray:
    """View IDX bytes as a uint8 array shaped as the header says."""
    if len(data) < 4:
        raise DatasetError(path, f"truncated: {len(data)} bytes is too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if kind is not None:
        expected = _KIND_MAGIC[kind]
        if magic != expected:
            article = "an" if kind == "images" else "a"
            noun = "image" if kind == "images" else "label"
            raise DatasetError(
                path, f"not {article} IDX {noun} file (magic 0x{magic:08x}; expected 0x{expected:08x})"
            )
    elif magic not in (_MAGIC_LABELS, _MAGIC_IMAGES):
        raise DatasetError(
            path,
            f"not an IDX file (magic 0x{magic:08x}; expected 0x{_MAGIC_LABELS:08x} "
            f"for labels or 0x{_MAGIC_IMAGES:08x} for images)",
        )

    ndim = data[3]
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DatasetError(path, f"truncated: header needs {header_len} bytes, file has {len(data)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if any(d == 0 for d in shape[1:]):
        raise DatasetError(path, f"header declares an empty item shape {shape}")

    # Python ints, so a hostile header cannot overflow the size computation.
    expected_bytes = 1
    for d in shape:
        expected_bytes *= d
    found_bytes = len(data) - header_len
    if found_bytes < expected_bytes:
        raise DatasetError(path, f"truncated: expected {expected_bytes} bytes of data, found {found_bytes}")
    if found_bytes > expected_bytes:
        raise DatasetError(
            path, f"trailing data: expected {expected_bytes} bytes of data, found {found_bytes}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(shape)


def read_idx(path, *, kind: str | None = None) -> np.ndarray:
    """Read one IDX file of unsigned bytes, gzip-compressed or plain.

    Returns a read-only uint8 array with the shape from the file's header.
    ``kind`` ("images" or "labels") narrows the accepted magic number so the
    error says exactly what was expected; by default both are accepted.
    """
    if kind is not None and kind not in _KIND_MAGIC:
        raise ValueError(f"kind must be 'images', 'labels' or None, not {kind!r}")
    path = Path(path)
    return _parse_idx(_read_bytes(path), path, kind)


# ------------------------------------------------------------ directory loads


def _locate(directory: Path, base: str) -> Path:
    # Prefer the plain file when both exist: it is the cheaper one to read
    # and was most likely produced from the .gz by the user on purpose.
    for candidate in (directory / base, directory / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetError(directory / f"{base}[.gz]", "file not found")


def _load_one(path: Path, base: str, kind: str, expected_sha256: dict | None):
    data = _read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and base in expected_sha256:
        want = str(expected_sha256[base]).lower()
        if digest != want:
            raise DatasetError(
                path,
                f"SHA-256 mismatch (expected {want[:16]}..., found {digest[:16]}...); "
                "the file is damaged or not the expected version",
            )
    return _parse_idx(data, path, kind), digest


def load_idx_dir(directory, name: str | None = None, expected_sha256: dict | None = None) -> Dataset:
    """Load a directory holding the four standard IDX files (plain or .gz).

    ``expected_sha256`` maps base file names (e.g. ``"train-images-idx3-ubyte"``)
    to the SHA-256 of their uncompressed content; listed files are verified.
    The dataset is named after the directory unless ``name`` is given. Class
    names are the digits ``"0".."k-1"`` (k = highest training label + 1)
    unless the files are recognised as MNIST or Fashion-MNIST.
    """
    directory = Path(directory)
    if not directory.exists():
        raise DatasetError(directory, "directory not found")
    if not directory.is_dir():
        raise DatasetError(directory, "not a directory")
    if expected_sha256 is not None:
        unknown = sorted(set(expected_sha256) - set(IDX_FILES.values()))
        if unknown:
            raise DatasetError(
                directory,
                f"expected_sha256 names unknown file(s) {', '.join(unknown)}; "
                f"use the base names {', '.join(IDX_FILES.values())}",
            )
    if name is None:
        name = directory.resolve().name or str(directory)

    paths = {role: _locate(directory, base) for role, base in IDX_FILES.items()}
    kinds = {role: role.split("_")[1] for role in IDX_FILES}

    # Decompression and hashing release the GIL,
    # so a small pool roughly halves the cold-load time on a 2-core machine.
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            role: pool.submit(_load_one, paths[role], IDX_FILES[role], kinds[role], expected_sha256)
            for role in IDX_FILES
        }
        # Report the first failure in a fixed order so the same broken
        # directory always yields the same message.
        loaded = {role: futures[role].result() for role in IDX_FILES}
        raw = {role: arr for role, (arr, _) in loaded.items()}
        digests = {IDX_FILES[role]: digest for role, (_, digest) in loaded.items()}

        for split in ("train", "test"):
            images, labels = raw[f"{split}_images"], raw[f"{split}_labels"]
            if images.shape[0] != labels.shape[0]:
                raise DatasetError(
                    paths[f"{split}_labels"],
                    f"{labels.shape[0]} labels but {paths[f'{split}_images'].name} "
                    f"holds {images.shape[0]} images",
                )
            if images.shape[0] == 0:
                raise DatasetError(paths[f"{split}_images"], "contains no images")
        tr_hw, te_hw = raw["train_images"].shape[1:], raw["test_images"].shape[1:]
        if tr_hw != te_hw:
            raise DatasetError(
                paths["test_images"],
                f"images are {te_hw[0]}x{te_hw[1]} but the training images are {tr_hw[0]}x{tr_hw[1]}",
            )

        classes = _classes_for(digests, raw["train_labels"])
        for split in ("train", "test"):
            labels = raw[f"{split}_labels"]
            top = int(labels.max())
            if top >= len(classes):
                raise DatasetError(
                    paths[f"{split}_labels"],
                    f"label {top} is out of range for {len(classes)} classes (0..{len(classes) - 1})",
                )

        train_images = raw["train_images"].reshape(raw["train_images"].shape[0], -1)
        test_images = raw["test_images"].reshape(raw["test_images"].shape[0], -1)

    return Dataset(
        name=name,
        train_images=train_images,
        train_labels=raw["train_labels"].astype(np.int64),
        test_images=test_images,
        test_labels=raw["test_labels"].astype(np.int64),
        classes=classes,
    )


def _classes_for(digests: dict[str, str], train_labels: np.ndarray) -> tuple[str, ...]:
    for known, classes in _KNOWN:
        if digests == known:
            return classes
    # Unknown data: the training set defines the label space, so a test label
    # the network never saw a class for is reported instead of ignored.
    return tuple(str(i) for i in range(int(train_labels.max()) + 1))


# ----------------------------------------------------------- named datasets


@functools.lru_cache(maxsize=1)
def load_mnist() -> Dataset:
    """The bundled MNIST, verified by SHA-256; loaded once per process."""
    return load_idx_dir(MNIST_DIR, name="mnist", expected_sha256=MNIST_SHA256)


@functools.lru_cache(maxsize=2)
def _load_fashion_cached(directory: str) -> Dataset:
    return load_idx_dir(directory, name="fashion-mnist", expected_sha256=FASHION_MNIST_SHA256)


def _fashion_installed(directory: Path) -> bool:
    return directory.is_dir() and all(
        (directory / b).is_file() or (directory / f"{b}.gz").is_file() for b in IDX_FILES.values()
    )


def load_fashion_mnist() -> Dataset:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package; cached."""
    directory = Path(FASHION_MNIST_DIR)
    if not directory.is_dir():
        raise DatasetError(
            directory,
            "Fashion-MNIST is not installed (install it with: sudo apt-get install dataset-fashion-mnist)",
        )
    # Keyed on the directory so tests (or a relocated install) that point
    # FASHION_MNIST_DIR elsewhere are not served a stale copy.
    return _load_fashion_cached(str(directory))


def available_datasets() -> dict[str, str]:
    """Datasets loadable by name on this machine, with a one-line description."""
    found = {"mnist": _DESCRIPTIONS["mnist"]}
    if _fashion_installed(Path(FASHION_MNIST_DIR)):
        found["fashion-mnist"] = _DESCRIPTIONS["fashion-mnist"]
    return found


_LOADERS = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist}

VALIDATION_SIZE = 10_000            # training images held out by a validation split
VALIDATION_SUFFIX = "-validation"   # "mnist-validation" is MNIST's validation split


def _name_key(text: str) -> str:
    return text.strip().lower().replace("_", "-")


def is_dataset_name(name_or_path) -> bool:
    """Is this a dataset *name* (``"mnist"``, ``"mnist-validation"``, ...) rather than a path?"""
    if isinstance(name_or_path, Path):
        return False
    key = _name_key(str(name_or_path))
    if key.endswith(VALIDATION_SUFFIX):
        key = key[:-len(VALIDATION_SUFFIX)]
    return key in _LOADERS


@functools.lru_cache(maxsize=4)
def _validation_of(key: str) -> Dataset:
    return _LOADERS[key]().validation_split()


def load_dataset(name_or_path) -> Dataset:
    """Load ``"mnist"``, ``"fashion-mnist"``, their validation splits (``"mnist-validation"``) or an IDX
    directory by path.

    Names win over same-named directories in the working directory; write
    ``./mnist`` to force the path.
    """
    text = str(name_or_path)
    key = _name_key(text)
    if is_dataset_name(name_or_path):
        if key.endswith(VALIDATION_SUFFIX):
            return _validation_of(key[:-len(VALIDATION_SUFFIX)])
        return _LOADERS[key]()
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return load_idx_dir(path)
    if path.exists():
        raise DatasetError(path, "not a directory; expected a folder holding the four IDX files")
    raise DatasetError(
        text,
        f"unknown dataset: not one of {', '.join(_LOADERS)} and no such directory",
    )
