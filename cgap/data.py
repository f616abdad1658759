"""Datasets: digits (bundled with scikit-learn), Fashion-MNIST / MNIST (IDX files), CIFAR-10/100 (python pickles).

Every loader returns :class:`Splits`: normalised float32 NCHW tensors for train / val / test, the
input shape, the class count and the per-channel mean/std used (kept in checkpoints so export and
calibration normalise identically).  CIFAR's python-pickle batches are read with a restricted
unpickler that only builds dicts, lists, bytes, strings, numbers and numpy arrays, never arbitrary objects.
"""

from __future__ import annotations

import gzip
import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cgap_ir.errors import CgapError

FASHION_DEFAULT = Path("/usr/share/datasets/fashion-mnist")


class DatasetError(CgapError):
    """A dataset that is missing, incomplete or malformed."""


@dataclass
class Splits:
    """Normalised tensors (x: float32 N×C×H×W, y: int64 N) for train, val and test."""

    name: str
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    input_shape: tuple[int, int, int]
    num_classes: int
    mean: list[float]
    std: list[float]

    def describe(self) -> dict:
        """Return the plain facts stored in checkpoints (name, sizes, normalisation)."""
        return {"name": self.name, "train": len(self.train[1]), "val": len(self.val[1]), "test": len(self.test[1]),
                "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "mean": self.mean, "std": self.std}


# ------------------------------------------------------------------------------------------- readers

def _open(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: Path) -> np.ndarray:
    """Return the array stored in an IDX file (optionally gzipped); raise DatasetError if malformed."""
    try:
        with _open(path) as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read IDX file ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path}: not an unsigned-byte IDX file (bad magic)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if len(raw) != header + int(np.prod(dims)):
        raise DatasetError(f"{path}: IDX size {len(raw)} does not match declared dims {dims} (truncated?)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(stem)


def load_idx_folder(folder: Path, how_to_get: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (x_train, y_train, x_test, y_test) uint8 arrays from a folder of the four standard IDX files."""
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    try:
        paths = [_find(folder, n) for n in names]
    except FileNotFoundError as exc:
        raise DatasetError(f"{folder}: missing {exc.args[0]}[.gz]; {how_to_get}") from None
    xtr, ytr, xte, yte = (read_idx(p) for p in paths)
    if len(xtr) != len(ytr) or len(xte) != len(yte) or xtr.ndim != 3:
        raise DatasetError(f"{folder}: image and label counts disagree")
    return xtr[:, None], ytr, xte[:, None], yte


_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
}


class _PlainUnpickler(pickle.Unpickler):
    """An unpickler for data only: builtin containers, bytes, str, numbers and numpy arrays; no other global."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 - signature fixed by pickle
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def read_cifar_batch(path: Path) -> dict:
    """Return one CIFAR python batch as a dict with bytes keys, refusing anything but plain data."""
    try:
        with open(path, "rb") as fh:
            doc = _PlainUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, OSError) as exc:
        raise DatasetError(f"{path}: not a plain CIFAR batch ({exc})") from None
    if not isinstance(doc, dict) or b"data" not in doc:
        raise DatasetError(f"{path}: CIFAR batch has no 'data' entry")
    return doc


def _cifar_arrays(doc: dict, label_key: bytes, path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = doc[b"data"]
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else np.asarray(data, dtype=np.uint8)
    labels = np.asarray(doc.get(label_key, []), dtype=np.int64)
    if raw.size != len(labels) * 3072:
        raise DatasetError(f"{path}: {raw.size} bytes of images for {len(labels)} labels (expected 3072 each)")
    return raw.reshape(-1, 3, 32, 32), labels


def load_cifar10(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return CIFAR-10 arrays from a ``cifar-10-batches-py`` folder (or its parent)."""
    folder = folder / "cifar-10-batches-py" if (folder / "cifar-10-batches-py").is_dir() else folder
    files = [folder / f"data_batch_{i}" for i in range(1, 6)] + [folder / "test_batch"]
    for f in files:
        if not f.is_file():
            raise DatasetError(f"{folder}: missing {f.name}; download cifar-10-python.tar.gz from "
                               "https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass --data-dir")
    parts = [_cifar_arrays(read_cifar_batch(f), b"labels", f) for f in files]
    xtr = np.concatenate([p[0] for p in parts[:5]])
    ytr = np.concatenate([p[1] for p in parts[:5]])
    return xtr, ytr, parts[5][0], parts[5][1]


def load_cifar100(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return CIFAR-100 (fine labels) arrays from a ``cifar-100-python`` folder (or its parent)."""
    folder = folder / "cifar-100-python" if (folder / "cifar-100-python").is_dir() else folder
    arrays = []
    for name in ("train", "test"):
        f = folder / name
        if not f.is_file():
            raise DatasetError(f"{folder}: missing {name}; download cifar-100-python.tar.gz from "
                               "https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass --data-dir")
        arrays.append(_cifar_arrays(read_cifar_batch(f), b"fine_labels", f))
    return arrays[0][0], arrays[0][1], arrays[1][0], arrays[1][1]


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return scikit-learn's 8×8 digits scaled to 0..255, split 80/20 by a fixed permutation."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images * (255.0 / 16.0)).astype(np.float32)[:, None]
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    cut = int(0.8 * len(y))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


# ------------------------------------------------------------------------------------------- registry

_FASHION_HOWTO = ("install it with `apt-get install -y dataset-fashion-mnist` (Debian) or download the four "
                  "IDX files from https://github.com/zalandoresearch/fashion-mnist and pass --data-dir")
_MNIST_HOWTO = "download the four MNIST IDX files (train/t10k images and labels) and pass --data-dir"


def _fashion(data_dir: Path | None) -> tuple:
    return load_idx_folder(data_dir or FASHION_DEFAULT, _FASHION_HOWTO)


def _mnist(data_dir: Path | None) -> tuple:
    if data_dir is None:
        raise DatasetError(f"mnist needs --data-dir: {_MNIST_HOWTO}")
    return load_idx_folder(data_dir, _MNIST_HOWTO)


def _need_dir(loader: Callable[[Path], tuple], name: str) -> Callable[[Path | None], tuple]:
    def load(data_dir: Path | None) -> tuple:
        if data_dir is None:
            raise DatasetError(f"{name} needs --data-dir pointing at the unpacked python-version archive "
                               "(https://www.cs.toronto.edu/~kriz/cifar.html)")
        return loader(data_dir)
    return load


DATASETS: dict[str, tuple[Callable[[Path | None], tuple], int]] = {
    "digits": (lambda _dir: load_digits_arrays(), 10),
    "fashion-mnist": (_fashion, 10),
    "mnist": (_mnist, 10),
    "cifar10": (_need_dir(load_cifar10, "cifar10"), 10),
    "cifar100": (_need_dir(load_cifar100, "cifar100"), 100),
}


def _normalise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    out = (x.astype(np.float32) / 255.0 - mean[None, :, None, None]) / std[None, :, None, None]
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))


def _subset(x: np.ndarray, y: np.ndarray, n: int | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if n is None or n >= len(y):
        return x, y
    keep = np.sort(rng.permutation(len(y))[:n])
    return x[keep], y[keep]


def load_dataset(name: str, data_dir: str | Path | None = None, subset: int | None = None,
                 val_fraction: float = 0.1, seed: int = 0,
                 normalisation: tuple[list[float], list[float]] | None = None) -> Splits:
    """Return normalised train/val/test splits of dataset ``name``.

    ``subset`` caps the training set (val and test are capped at max(subset // 5, 100) images);
    the validation set is a fixed ``val_fraction`` of the training images; mean/std are the
    training split's per-channel statistics unless ``normalisation`` = (mean, std) is given (as
    stored in a checkpoint, so export and calibration see what training saw).
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if subset is not None and subset < 10:
        raise DatasetError(f"--subset must be at least 10, got {subset}")
    loader, num_classes = DATASETS[name]
    xtr, ytr, xte, yte = loader(Path(data_dir) if data_dir else None)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ytr))
    n_val = max(1, int(round(val_fraction * len(ytr))))
    xva, yva = xtr[order[:n_val]], ytr[order[:n_val]]
    xtr, ytr = xtr[order[n_val:]], ytr[order[n_val:]]
    small = None if subset is None else max(subset // 5, 100)
    xtr, ytr = _subset(xtr, ytr, subset, rng)
    xva, yva = _subset(xva, yva, small, rng)
    xte, yte = _subset(xte, yte, small, rng)
    if normalisation is not None:
        mean, std = (np.asarray(v, dtype=np.float32) for v in normalisation)
        if mean.shape != (xtr.shape[1],) or std.shape != (xtr.shape[1],):
            raise DatasetError(f"{name}: stored normalisation has {mean.size} channels, images have {xtr.shape[1]}")
    else:
        scaled = xtr.astype(np.float32) / 255.0
        mean = scaled.mean(axis=(0, 2, 3))
        std = np.maximum(scaled.std(axis=(0, 2, 3)), 1e-3)
    splits = [(_normalise(x, mean, std), torch.from_numpy(y.astype(np.int64))) for x, y in
              ((xtr, ytr), (xva, yva), (xte, yte))]
    return Splits(name, splits[0], splits[1], splits[2], tuple(int(d) for d in xtr.shape[1:]), num_classes,
                  [float(m) for m in mean], [float(s) for s in std])
