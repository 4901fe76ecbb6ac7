"""The 8x8 digits (scikit-learn's bundled copy of the UCI set), kept as raw bytes in the user's cache.

Importing `sklearn.datasets` costs about 0.9 s, more than reading 117 kB. So the first load
writes the images and labels as uint8 bytes (1797 x 64 pixels in 0..16, then 1797 labels)
to `digits-1797x65.u8` in the cache folder, and every later load reads that file and checks
its sha256 against the one below. A file that is missing, damaged or changed is rebuilt
from scikit-learn; a cache folder that cannot be written only costs the slow load.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

CACHE_ENV = "LMCTUI_CACHE_DIR"  # overrides the cache folder (tests point it at a temporary one)
CACHE_FILE = "digits-1797x65.u8"
DIGITS_COUNT, PIXELS = 1797, 64
DIGITS_SHA256 = "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"


def cache_dir() -> Path:
    """$LMCTUI_CACHE_DIR, else $XDG_CACHE_HOME/lmctui, else ~/.cache/lmctui."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "lmctui"


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) float64 in 0..16, labels (1797,) int64), as scikit-learn's load_digits gives them."""
    raw = _read_cache()
    if raw is None:
        raw = _from_sklearn()
        if _sha256(raw) == DIGITS_SHA256:  # another scikit-learn's copy would be used, never cached
            _write_cache(raw)
    pixels = np.frombuffer(raw, dtype=np.uint8, count=DIGITS_COUNT * PIXELS)
    labels = np.frombuffer(raw, dtype=np.uint8, offset=DIGITS_COUNT * PIXELS)
    return pixels.reshape(DIGITS_COUNT, 8, 8).astype(np.float64), labels.astype(np.int64)


def _read_cache() -> bytes | None:
    try:
        raw = (cache_dir() / CACHE_FILE).read_bytes()
    except OSError:
        return None
    return raw if _sha256(raw) == DIGITS_SHA256 else None


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _from_sklearn() -> bytes:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no network

    bunch = load_digits()
    return bunch.images.reshape(DIGITS_COUNT, PIXELS).astype(np.uint8).tobytes() + bunch.target.astype(np.uint8).tobytes()


def _write_cache(raw: bytes) -> None:
    """Temp file and rename, so a reader never sees half a file; any OSError leaves no cache."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".digits-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
        os.replace(tmp, folder / CACHE_FILE)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
