"""The fully cached path: the same vectors and the same cache keys as the normal path, read
without scikit-learn or pandas (emoclassic/features/_cached.py, emoclassic/data/_rows.py)."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import emoclassic
from emoclassic.data import read_manifest
from emoclassic.data._rows import read_plain_manifest
from emoclassic.features import (
    FeatureStore,
    _cached,
    cached_extraction,
    extract,
    make_key,
    remember_extraction,
)
from emoclassic.features._store import (
    STORE_FORMAT,
    _dumps,
    config_prefix,
    key_function,
    key_prefix,
    read_vector,
)

READ = {"require_labels": False, "check_files": False}


# --------------------------------------------------------------------------- cache keys
def _old_key_prefix(config):
    """key_prefix as it was before config_prefix/key_function (users' caches hold its keys)."""
    head = hashlib.sha256(_dumps([STORE_FORMAT, emoclassic.__version__, config]).encode("utf-8"))

    def key(*parts):
        h = head.copy()
        h.update(_dumps(list(parts)).encode("utf-8"))
        return h.hexdigest()

    return key


def test_keys_are_those_of_the_previous_code(monkeypatch):
    from emoclassic.audio import PooledFeatures

    ident = "/data/a.wav|32000|1700000000000000000"
    for config in (PooledFeatures()._config(), PooledFeatures(preset="large-vq")._config(),
                   {"class": "X", "a": [1, 2.5, None]}):
        for parts in ((ident, None, None), (ident, 0.25, 1.5)):
            old = _old_key_prefix(config)(parts)
            assert key_prefix(config)(parts) == old
            assert key_function(config_prefix(config))(parts) == old
    # literal keys of the 0.1.0 store (computed with the code before this change)
    monkeypatch.setattr(emoclassic, "__version__", "0.1.0")
    cfg = {"class": "PooledFeatures", "preset": "default", "sr": 16000, "fmax": None,
           "f0_min": 60.0}
    assert make_key(cfg, (ident, None, None)) == (
        "031ae8fa3126b7edd592a0b82e927f73d62ad97d1eec95c1439dafae7a13294a")
    assert key_prefix(cfg)((ident, 0.25, 1.5)) == (
        "f9b9e976d1428c0b78800e62d0f6ca4081c94a355bc9164d8fb1f305f54efe4e")


# --------------------------------------------------------------------------- store entries
def test_read_vector_is_np_load(tmp_path):
    store = FeatureStore(tmp_path / "c")
    for i, n in enumerate((0, 1, 853, 6068)):
        store.put(f"{i:02d}key", np.random.default_rng(i).normal(size=n))
        path = store._path(f"{i:02d}key")
        got, want = read_vector(path), np.load(path, allow_pickle=False)
        assert got.dtype == want.dtype == np.float32 and got.shape == want.shape == (n,)
        assert np.array_equal(got, want) and got.flags.writeable
    # anything but the store's own format goes through np.load
    for name, arr in (("f64", np.arange(5.0)), ("2d", np.ones((3, 4), np.float32)),
                      ("fortran", np.asfortranarray(np.ones((3, 4), np.float32))),
                      ("big", np.arange(4, dtype=">f4"))):
        path = tmp_path / f"{name}.npy"
        np.save(path, arr)
        got, want = read_vector(path), np.load(path)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want)
    # a truncated entry fails as np.load fails (the store counts it as a miss)
    path = store._path("02key")
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ValueError):
        np.load(path, allow_pickle=False)
    with pytest.raises(ValueError):
        read_vector(path)
    assert store.get("02key") is None


# --------------------------------------------------------------------------- manifests
def _same_columns(plain: dict, frame) -> None:
    assert set(plain) == {c for c in frame.columns[:12]}
    for name, values in plain.items():
        expected = frame[name].tolist()
        if name == "utterance_index":  # Int64: ints and pd.NA
            expected = [None if pd.isna(v) else int(v) for v in expected]
        assert len(values) == len(expected)
        for got, want in zip(values, expected, strict=True):
            if isinstance(want, float) and math.isnan(want):
                assert isinstance(got, float) and math.isnan(got), name
            else:
                assert got == want and type(got) is type(want), (name, got, want)


PLAIN = {
    "ids.csv": "id,path,label,speaker\nu1,a.wav,anger,s1\nu2,sub/b.wav,,s2\nu3,/abs/c.wav,sad,\n",
    "derived.csv": ("path,start,end,text,utterance_index,split\n"
                    "a.wav,,,hello there ,0,train\na.wav,0.5,1.25,,3.0,VAL\n"
                    "b.wav,1,,x, 2,testing\n"),
    "tabs.tsv": "path\tlabel\temotion code\na.wav\tneutral\t03\nb.wav\thappy\t\n",
    "sniffed.txt": "path\tlabel\na.wav\tx\n",
    "crlf.csv": "\ufeffpath,label\r\na.wav,x\r\nb.wav,y\r\n",
    "spaces.csv": " path , label \n a.wav ,  x\nb.wav,y \n",
    "text-only.csv": "id,text,label\n1,just words,anger\n2,more,sad\n",
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_manifest_equals_read_manifest(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(PLAIN[name].encode("utf-8"))
    plain = read_plain_manifest(path, **READ)
    assert plain is not None
    _same_columns(plain, read_manifest(path, **READ))


def test_plain_manifest_maps_columns_as_read_manifest(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("key,file,emotion,who,words\nk1,a.wav,anger,s1,hi\nk2,b.wav,sad,s2,yo\n")
    options = {"id_column": "key", "path_column": "file", "label_column": "emotion",
               "speaker_column": "who", "text_column": "words", **READ}
    plain = read_plain_manifest(path, **options)
    assert plain is not None
    _same_columns(plain, read_manifest(path, **options))


@pytest.mark.parametrize("text, options", [
    ('path,label\n"a,b.wav",x\n', {}),  # quoting
    ("path,label\na.wav,x\n\nb.wav,y\n", {}),  # a blank line
    ("path,label\na.wav,x,extra\n", {}),  # ragged
    ("path,label\na.wav\n", {}),  # ragged
    ("path,path\na.wav,b.wav\n", {}),  # a column twice
    ("path,,label\na.wav,1,x\n", {}),  # an unnamed column
    ("path,label\n", {}),  # no rows
    ("id,path,label\n1,a.wav,x\n1,b.wav,y\n", {}),  # a problem read_manifest reports
    ("path,label\na.wav,\n", {"require_labels": True}),  # an empty label
    ("path,emotion,label\na.wav,x,y\n", {"label_column": "emotion"}),  # label -> user_label
    ("path,label\na.wav,x\n", {"label_column": "emotion"}),  # no such column
    ("text\nhello\n", {"require_labels": True}),  # no label column
])
def test_plain_manifest_leaves_the_rest_to_read_manifest(tmp_path, text, options):
    path = tmp_path / "m.csv"
    path.write_text(text)
    assert read_plain_manifest(path, **{**READ, **options}) is None


def test_plain_manifest_reads_no_json_and_no_cp1252(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"path": "a.wav", "label": "x"}\n')
    assert read_plain_manifest(tmp_path / "m.jsonl", **READ) is None
    (tmp_path / "m.csv").write_bytes("path,label\ncaf\xe9.wav,x\n".encode("cp1252"))
    assert read_plain_manifest(tmp_path / "m.csv", **READ) is None
    assert read_plain_manifest(tmp_path / "missing.csv", **READ) is None


# --------------------------------------------------------------------------- extraction
@pytest.fixture
def clips(tmp_path, write_tone):
    folder = tmp_path / "clips"
    for i in range(5):
        write_tone(folder / f"t{i}.wav", freq=200.0 + 90 * i, seconds=0.4 + 0.1 * i)
    manifest = folder / "manifest.csv"
    manifest.write_text(
        "path,start,end,label\n" + "".join(f"t{i}.wav,,,x\n" for i in range(5))
        + "t4.wav,0.1,0.5,y\n"
    )
    return manifest, tmp_path / "cache"


def _normal_path(manifest, cache, options):
    from emoclassic.fusion import make_extractor

    ex = make_extractor("pooled", options, cache=str(cache))
    return ex, extract(ex, read_manifest(manifest, **READ))


def test_cached_extraction_equals_extract(clips):
    manifest, cache = clips
    options = {"preset": "compact"}
    assert cached_extraction("pooled", options, manifest, cache=str(cache), **READ) is None
    ex, result = _normal_path(manifest, cache, options)
    assert result.n_computed == 6 and not result.failures
    assert cached_extraction("pooled", options, manifest, cache=str(cache), **READ) is None
    assert remember_extraction("pooled", options, ex, str(cache))
    assert remember_extraction("pooled", options, ex, FeatureStore(cache))  # unchanged: kept
    fast = cached_extraction("pooled", options, manifest, cache=str(cache), **READ)
    assert fast is not None
    assert fast.features.dtype == np.float32
    assert np.array_equal(fast.features, result.features)
    assert fast.ids == result.ids
    assert fast.feature_names == [str(n) for n in result.feature_names]
    assert fast.failures == [] and fast.ok.all() and (fast.n_cached, fast.n_computed) == (6, 0)
    # the same entries the normal path wrote: reading it again computes nothing
    assert len(FeatureStore(cache)) == 6
    _, again = _normal_path(manifest, cache, options)
    assert (again.n_cached, again.n_computed) == (6, 0)


def test_cached_extraction_gives_way_whenever_something_is_not_plainly_there(clips, monkeypatch):
    manifest, cache = clips
    options = {"preset": "compact"}
    ex, _ = _normal_path(manifest, cache, options)
    assert remember_extraction("pooled", options, ex, str(cache))

    def fast(**kw):
        return cached_extraction("pooled", kw.pop("options", options), manifest,
                                 cache=kw.pop("cache", str(cache)), **READ)

    assert fast() is not None
    assert fast(options={"preset": "default"}) is None  # another request: no record
    assert fast(cache=None) is None and fast(cache="off") is None
    monkeypatch.setattr(_cached, "_FINGERPRINT", "another build of emoclassic")
    assert fast() is None
    monkeypatch.undo()
    assert fast() is not None
    wav = manifest.parent / "t2.wav"
    st = wav.stat()
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a changed file: a new key
    assert fast() is None
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert fast() is not None
    entry = next((cache).glob("??/*.npy"))
    entry.unlink()  # one vector missing
    assert fast() is None


def test_only_classes_that_say_so_are_recorded(clips):
    from emoclassic.audio import PooledFeatures

    class Mine(PooledFeatures):  # may compute something else under the same parameters
        pass

    manifest, cache = clips
    assert not remember_extraction("pooled", {}, Mine(), str(cache))
    assert not remember_extraction("pooled", {}, PooledFeatures(), None)
    assert remember_extraction("pooled", {}, PooledFeatures(), str(cache))


def test_the_cached_path_imports_neither_scikit_learn_nor_pandas(clips):
    manifest, cache = clips
    ex, result = _normal_path(manifest, cache, {})
    assert remember_extraction("pooled", {}, ex, str(cache))
    code = (
        "import sys, numpy as np; from emoclassic.features import cached_extraction; "
        f"r = cached_extraction('pooled', {{}}, {str(manifest)!r}, cache={str(cache)!r}, "
        "require_labels=False, check_files=False); assert r is not None; "
        f"np.save({str(Path(cache) / 'out.npy')!r}, r.features); "
        "heavy = [m for m in ('sklearn', 'pandas', 'scipy', 'librosa', 'torch') "
        "if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert np.array_equal(np.load(Path(cache) / "out.npy"), result.features)


def test_feature_and_data_packages_import_lazily():
    code = (
        "import sys, emoclassic.features as f, emoclassic.data as d; "
        "heavy = [m for m in ('sklearn', 'pandas') if m in sys.modules]; "
        "assert not heavy, heavy; "
        "[getattr(f, n) for n in f.__all__]; [getattr(d, n) for n in d.__all__]; "
        "assert 'sklearn' in sys.modules and 'pandas' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
