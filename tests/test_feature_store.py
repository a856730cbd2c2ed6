"""The feature store and the base extractor: caching, atomicity, bad items, parallel runs."""

from __future__ import annotations

import numpy as np
import pytest

from emoclassic.exceptions import AudioError, BatchError, ConfigError
from emoclassic.features import (
    BaseExtractor,
    FeatureStore,
    Item,
    extract,
    file_identity,
    make_key,
)


class SquareExtractor(BaseExtractor):
    """Toy extractor: item "k" -> [k, k**2]; "bad*" items fail; counts its computations."""

    calls: list = []

    def __init__(self, *, power=2, cache=None, n_jobs=1, on_error="raise"):
        self.power = power
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error

    def _items(self, X):
        return [Item(id=str(x), key_parts=(str(x),), payload=x) for x in X]

    def _compute_one(self, item):
        SquareExtractor.calls.append(item.id)
        if str(item.payload).startswith("bad"):
            raise AudioError(f"{item.id}: cannot decode; re-encode it as WAV")
        k = float(item.payload)
        return np.array([k, k**self.power])

    def get_feature_names_out(self, input_features=None):
        return np.array(["k", f"k_pow{self.power}"], dtype=object)


def test_store_roundtrip_is_float32_and_atomic(tmp_path):
    store = FeatureStore(tmp_path / "s")
    key = make_key("a", {"x": 1})
    assert store.get(key) is None
    store.put(key, np.arange(4, dtype=np.float64))
    got = store.get(key)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.arange(4))
    assert len(store) == 1
    assert not list((tmp_path / "s").rglob(".tmp-*"))  # no temp files left behind


def test_corrupt_entry_is_a_miss(tmp_path):
    store = FeatureStore(tmp_path)
    key = make_key("z")
    store.put(key, np.ones(3))
    store._path(key).write_bytes(b"garbage")
    assert store.get(key) is None


def test_keys_depend_on_every_part():
    assert make_key("a", {"n": 1}) == make_key("a", {"n": 1})
    assert make_key("a", {"n": 1}) != make_key("a", {"n": 2})
    assert make_key("a", {"n": 1}) != make_key("b", {"n": 1})


def test_file_identity_changes_with_content(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"one")
    a, ca = file_identity(p), file_identity(p, content=True)
    p.write_bytes(b"three")
    assert file_identity(p) != a
    assert file_identity(p, content=True) != ca


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_cache_reuses_results_and_skips_compute(tmp_path, n_jobs):
    SquareExtractor.calls = []
    store = FeatureStore(tmp_path / "c")
    ext = SquareExtractor(cache=store, n_jobs=n_jobs)
    X = [str(i) for i in range(20)]
    first = ext.fit_transform(X)
    assert first.shape == (20, 2)
    np.testing.assert_allclose(first[:, 1], np.arange(20) ** 2)
    SquareExtractor.calls = []
    second = ext.transform(X)
    np.testing.assert_array_equal(first, second)
    assert SquareExtractor.calls == []  # fully cached: nothing recomputed
    assert store.hits == 20 and store.writes == (20 if n_jobs == 1 else 0)
    # a different configuration is a different cache entry
    third = SquareExtractor(power=3, cache=tmp_path / "c").transform(X)
    np.testing.assert_allclose(third[:, 1], np.arange(20) ** 3)


def test_single_bad_item_raises_its_own_error():
    with pytest.raises(AudioError, match="re-encode"):
        SquareExtractor().transform(["bad.wav"])


def test_batch_keeps_going_and_caches_the_good_items(tmp_path):
    ext = SquareExtractor(cache=tmp_path)
    X = ["1", "bad_a", "2", "bad_b", "3"]
    with pytest.raises(BatchError) as info:
        ext.transform(X)
    assert [f.id for f in info.value.failures] == ["bad_a", "bad_b"]
    SquareExtractor.calls = []
    res = extract(ext, X)
    assert res.ids == ["1", "2", "3"]
    assert res.ok.tolist() == [True, False, True, False, True]
    assert res.features.shape == (3, 2)
    assert sorted(SquareExtractor.calls) == ["bad_a", "bad_b"]  # good ones came from the cache
    nan_rows = SquareExtractor(on_error="nan").transform(X)
    assert np.isnan(nan_rows[1]).all() and not np.isnan(nan_rows[0]).any()


def test_invalid_on_error_is_a_config_error():
    with pytest.raises(ConfigError, match="on_error"):
        SquareExtractor(on_error="ignore").transform(["1"])
