"""The digits' cache: the oracle is scikit-learn's load_digits; a damaged or missing file is rebuilt."""

import hashlib

import numpy as np
import pytest
from sklearn.datasets import load_digits

from lmctui.core import digits
from lmctui.core.digits import CACHE_ENV, CACHE_FILE, DIGITS_SHA256, load_digits_arrays


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def assert_sklearns(images, labels):
    bunch = load_digits()
    assert images.dtype == bunch.images.dtype and np.array_equal(images, bunch.images)
    assert np.array_equal(labels, bunch.target)


def test_the_first_load_writes_the_cache_and_every_load_gives_sklearns_digits(cache):
    assert_sklearns(*load_digits_arrays())
    assert hashlib.sha256((cache / CACHE_FILE).read_bytes()).hexdigest() == DIGITS_SHA256
    assert_sklearns(*load_digits_arrays())


def test_a_cached_load_does_not_ask_sklearn(cache, monkeypatch):
    load_digits_arrays()
    monkeypatch.setattr(digits, "_from_sklearn", lambda: pytest.fail("the cache was not used"))
    assert_sklearns(*load_digits_arrays())


@pytest.mark.parametrize("damage", [lambda raw: raw[:-1], lambda raw: bytes([raw[0] ^ 1]) + raw[1:], lambda raw: b""])
def test_a_damaged_cache_file_is_rebuilt(cache, damage):
    load_digits_arrays()
    path = cache / CACHE_FILE
    path.write_bytes(damage(path.read_bytes()))
    assert_sklearns(*load_digits_arrays())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == DIGITS_SHA256


def test_a_cache_folder_that_cannot_be_written_only_costs_the_slow_load(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    assert_sklearns(*load_digits_arrays())
    assert blocker.read_text() == "not a folder"
