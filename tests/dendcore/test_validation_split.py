"""The validation split: tuning trains on part of the training set and scores on the rest, never the test set."""
from __future__ import annotations

import numpy as np
import pytest

from dendcore import PRESETS
from dendcore.datasets import (VALIDATION_SIZE, Dataset, DatasetError, is_dataset_name, load_dataset,
                               load_mnist)
from dendcore.trainer import Diagnostics, Trainer


def numbered(n_train=100, n_test=20, n_inputs=16, n_classes=3) -> Dataset:
    """Images that say who they are: pixel 0 and 1 hold the row number (base 256), pixel 2 the split."""
    def images(n, split):
        x = np.random.default_rng(split).integers(0, 256, (n, n_inputs), dtype=np.uint8)
        x[:, 0], x[:, 1], x[:, 2] = np.arange(n) // 256, np.arange(n) % 256, split
        return x
    return Dataset("numbered", images(n_train, 1), np.arange(n_train) % n_classes,
                   images(n_test, 2), np.arange(n_test) % n_classes, tuple("abc"))


def row_ids(images: np.ndarray) -> set[tuple[int, int]]:
    """(split, row) of each image."""
    return {(int(x[2]), int(x[0]) * 256 + int(x[1])) for x in images}


def test_held_out_images_are_never_trained_on():
    full = numbered()
    val = full.validation_split(30)
    assert val.name == "numbered-validation" and val.classes == full.classes
    assert len(val.train_labels) == 70 and len(val.test_labels) == 30
    held_out = {(1, r) for r in range(70, 100)}
    assert row_ids(val.test_images) == held_out                    # the last 30 training images...
    assert not any(s == 2 for s, _ in row_ids(val.train_images) | row_ids(val.test_images))   # no test image
    np.testing.assert_array_equal(val.test_labels, full.train_labels[70:])
    # ...and a trainer on the split, over several epochs and odd chunkings, never sees one of them
    tr = Trainer(PRESETS["glr17-1hl-rate"].spec.replace(hidden=(8,)), val, seed=3, diagnostics=Diagnostics.none())
    trained = np.concatenate([tr.train_examples(n).indices for n in (13, 50, 77, 110)])
    assert trained.size == 250 and trained.max() < 70
    seen = row_ids(val.train_images[trained])
    assert seen == {(1, r) for r in range(70)}                     # every kept image, over 3.5 epochs
    assert not seen & held_out
    assert tr.test().n_images == 30                                # "test" scores the held-out images


def test_a_split_must_leave_images_on_both_sides():
    for n in (0, 100, 101, -5):
        with pytest.raises(DatasetError, match="hold out"):
            numbered().validation_split(n)


def test_mnist_validation_is_the_last_10000_training_images():
    mnist = load_mnist()
    val = load_dataset("mnist-validation")
    assert load_dataset("MNIST_validation") is val                  # loaded once, spelt either way
    assert VALIDATION_SIZE == 10_000
    assert (len(val.train_labels), len(val.test_labels)) == (50_000, 10_000)
    assert np.shares_memory(val.test_images, mnist.train_images)     # a view, not a copy
    np.testing.assert_array_equal(val.test_images, mnist.train_images[50_000:])
    np.testing.assert_array_equal(val.train_labels, mnist.train_labels[:50_000])
    assert not np.shares_memory(val.test_images, mnist.test_images)
    assert is_dataset_name("mnist-validation") and is_dataset_name("mnist")
    assert not is_dataset_name("cifar-validation")


def test_a_sweep_keeps_the_validation_split_by_name():
    from dendcore.sweep import make_definition
    d = make_definition("glr17-1hl-rate", {"lr": [(0.21, 0.21)]}, 1, 100, dataset="mnist-validation")
    assert d["dataset"] == "mnist-validation" and d["test_images"] == 10_000
