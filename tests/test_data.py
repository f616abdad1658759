"""Datasets: IDX and CIFAR readers on files generated here, the bundled digits, clear errors when missing."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cgap.data import FASHION_DEFAULT, DatasetError, load_dataset, read_idx


def _write_idx(path: Path, arr: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(data) if gz else data)


def _idx_folder(folder: Path, n_train: int = 300, n_test: int = 60, gz: bool = True) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    _write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28)), gz)
    _write_idx(folder / "train-labels-idx1-ubyte", rng.integers(0, 10, n_train), gz)
    _write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)), gz)
    _write_idx(folder / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n_test), gz)
    return folder


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_loads_with_split_and_normalisation(tmp_path, gz):
    splits = load_dataset("mnist", _idx_folder(tmp_path / "m", gz=gz), val_fraction=0.1)
    assert splits.input_shape == (1, 28, 28) and splits.num_classes == 10
    assert len(splits.train[1]) == 270 and len(splits.val[1]) == 30 and len(splits.test[1]) == 60
    assert abs(float(splits.train[0].mean())) < 1e-3 and abs(float(splits.train[0].std()) - 1) < 1e-2
    assert splits.train[0].dtype == torch.float32 and splits.train[1].dtype == torch.int64


def test_subset_caps_every_split(tmp_path):
    splits = load_dataset("fashion-mnist", _idx_folder(tmp_path / "f"), subset=100)
    assert len(splits.train[1]) == 100 and len(splits.val[1]) == 30 and len(splits.test[1]) == 60


def test_truncated_idx_is_named(tmp_path):
    folder = _idx_folder(tmp_path / "t", gz=False)
    target = folder / "train-images-idx3-ubyte"
    target.write_bytes(target.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.*truncated"):
        read_idx(target)


def test_missing_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetError, match="apt-get install -y dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path)
    with pytest.raises(DatasetError, match="cifar10 needs --data-dir"):
        load_dataset("cifar10")
    with pytest.raises(DatasetError, match="unknown dataset 'svhn'"):
        load_dataset("svhn")


def test_digits_is_bundled():
    splits = load_dataset("digits")
    assert splits.input_shape == (1, 8, 8)
    assert len(splits.train[1]) + len(splits.val[1]) + len(splits.test[1]) == 1797


@pytest.mark.skipif(not FASHION_DEFAULT.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_fashion_mnist_from_debian_package():
    splits = load_dataset("fashion-mnist", subset=500)
    assert splits.input_shape == (1, 28, 28) and len(splits.train[1]) == 500
    assert set(splits.test[1].tolist()) <= set(range(10))


def _cifar_folder(root: Path, n: int = 20) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        doc = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": rng.integers(0, 10, n).tolist(),
               b"batch_label": name.encode()}
        with open(folder / name, "wb") as fh:
            pickle.dump(doc, fh, protocol=2)
    return folder


def test_cifar10_folder_loads(tmp_path):
    _cifar_folder(tmp_path)
    splits = load_dataset("cifar10", tmp_path)   # the parent of cifar-10-batches-py works too
    assert splits.input_shape == (3, 32, 32) and len(splits.test[1]) == 20
    assert len(splits.train[1]) + len(splits.val[1]) == 100 and len(splits.mean) == 3


def test_cifar100_folder_loads(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, n in (("train", 50), ("test", 10)):
        doc = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
               b"fine_labels": rng.integers(0, 100, n).tolist()}
        (folder / name).write_bytes(pickle.dumps(doc, protocol=2))
    splits = load_dataset("cifar100", folder)
    assert splits.num_classes == 100 and len(splits.test[1]) == 10


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cifar_batch_with_code_payload_is_refused(tmp_path):
    folder = _cifar_folder(tmp_path)
    marker = tmp_path / "PWNED"
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": _Payload(marker)}, protocol=2))
    with pytest.raises(DatasetError, match="data_batch_3.*refusing to load global"):
        load_dataset("cifar10", folder)
    assert not marker.exists()
