"""Parallel backends and scale: Dask equals local, the store survives kills and races.

The Dask tests use an in-process ``LocalCluster`` (``processes=False``: worker threads of this
process, started in well under a second) and check on the scheduler that the tasks really ran
on its workers; one test starts real worker processes through the CLI (``--backend dask``) so
that pickling to another interpreter is exercised too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from emoclassic.audio import PooledFeatures
from emoclassic.exceptions import ConfigError
from emoclassic.features import FeatureStore, extract
from emoclassic.parallel import distributed_active, parallel_backend

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded in-process workers, shared by the module's Dask tests.

    In-process workers are threads of one process, and BLAS thread limits are process-wide:
    one worker leaving its single-thread section would let the other's matrix products go
    multi-threaded (last-bit float differences). Real workers are processes; here BLAS is
    held at one thread for the whole module instead.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        cl = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        )
        yield cl
        cl.close()


def _executed(cl) -> int:
    """Tasks the cluster's workers have run so far."""
    return sum(w.state.executed_count for w in cl.workers.values())


def _ran(cl, name: str) -> bool:
    """Whether the scheduler has seen a task (a joblib batch) calling ``name``."""
    return any(name in prefix for prefix in cl.scheduler.task_prefixes)


@pytest.fixture(scope="module")
def clips(demo_corpus):
    """32 utterances of the shared demo corpus (2 per speaker and class)."""
    _, manifest = demo_corpus
    return manifest.groupby(["speaker", "label"]).head(2).reset_index(drop=True)


# --------------------------------------------------------------------------- equality
def test_dask_extraction_equals_local(cluster, clips, tmp_path):
    local = extract(PooledFeatures(preset="compact", cache=None), clips)
    before = _executed(cluster)
    ext = PooledFeatures(preset="compact", cache=tmp_path / "cache")
    res = extract(ext, clips, backend="dask", scheduler=cluster.scheduler_address)
    assert _executed(cluster) > before and _ran(cluster, "_run_chunk")  # chunks ran on workers
    assert res.ids == local.ids and res.n_computed == len(clips) and res.n_cached == 0
    np.testing.assert_array_equal(res.features, local.features)
    # the workers wrote the store: a second run reads everything, computes nothing
    again = extract(ext, clips, backend="dask", scheduler=cluster.scheduler_address)
    assert (again.n_cached, again.n_computed) == (len(clips), 0)
    np.testing.assert_array_equal(again.features, local.features)
    assert len(FeatureStore(tmp_path / "cache")) == len(clips)


def test_dask_cv_equals_local(cluster, demo_corpus):
    from emoclassic.evaluation import run_cv

    _, manifest = demo_corpus
    spec = {
        "name": "par",
        "features": {"audio": {"type": "pooled", "preset": "compact"}},
        "classifier": {"name": "logreg", "max_iter": 500},
        "grid": {"classifier.C": [0.1, 10.0]},
        "cv": {"scheme": "group", "n_splits": 2, "inner_splits": 2},
    }
    local = run_cv(spec, manifest, cache=None)
    assert not _ran(cluster, "fit_and_score")
    dask = run_cv(spec, manifest, cache=None, backend="dask",
                  scheduler=cluster.scheduler_address)  # fmt: skip
    assert _ran(cluster, "fit_and_score")  # the grid's fits ran on the workers
    assert dask["metrics"] == local["metrics"]
    assert dask["predictions"] == local["predictions"]
    assert [f["best_params"] for f in dask["folds"]] == [f["best_params"] for f in local["folds"]]
    for g_local, g_dask in zip(local["grid"]["folds"], dask["grid"]["folds"], strict=True):
        assert g_dask["mean_test_score"] == g_local["mean_test_score"]


def test_cv_feature_tables_travel_to_dask_workers_once(cluster):
    """Inside a dask block a CV store pickles to a key; the tables are broadcast once."""
    import pickle

    from joblib import Parallel, delayed

    from emoclassic.features import FeatureTables

    store = FeatureTables()
    store.blocks["b"] = ({"a": 0}, np.arange(200_000, dtype=np.float32).reshape(-1, 100))
    full = len(pickle.dumps(store))
    assert full > 800_000
    with parallel_backend("dask", scheduler=cluster.scheduler_address):
        small = pickle.dumps(store)
        assert len(small) < 1_000  # the key, not the table
        back = pickle.loads(small)  # off a worker: fetched through the client
        np.testing.assert_array_equal(back.blocks["b"][1], store.blocks["b"][1])
        assert pickle.dumps(store) == small  # the same broadcast is reused
        sums = Parallel(n_jobs=2)(delayed(lambda s: float(s.blocks["b"][1].sum()))(store)
                                  for _ in range(3))  # fmt: skip
    assert sums == [float(store.blocks["b"][1].sum())] * 3
    assert len(pickle.dumps(store)) == full  # outside the block: the tables themselves


def test_backend_block_routes_every_parallel_call(cluster, clips):
    """Inside the context even ``n_jobs=1`` extractors use the cluster; outside, nothing."""
    assert not distributed_active()
    with parallel_backend("dask", scheduler=cluster.scheduler_address) as info:
        assert info.backend == "dask" and info.n_workers == 2 and distributed_active()
        before = _executed(cluster)
        out = PooledFeatures(preset="compact", cache=None).transform(clips)  # 2 chunks
        assert _executed(cluster) > before
    assert not distributed_active()
    ref = PooledFeatures(preset="compact", cache=None).transform(clips)
    np.testing.assert_array_equal(out, ref)


def test_cli_dask_local_cluster_processes(clips, tmp_path):
    """``features --backend dask`` without --scheduler: real worker processes, same matrix."""
    from emoclassic.cli import main

    manifest = tmp_path / "m.csv"
    clips.head(12).to_csv(manifest, index=False)
    outs = {}
    for backend in ("local", "dask"):
        outs[backend] = tmp_path / f"{backend}.npz"
        with pytest.raises(SystemExit) as exit_info:
            main(["features", "--manifest", str(manifest), "--preset", "compact", "--cache",
                  "none", "--backend", backend, "--jobs", "1", "--out", str(outs[backend]),
                  "-q"])  # fmt: skip
        assert exit_info.value.code == 0
    a, b = np.load(outs["local"]), np.load(outs["dask"])
    assert list(a["ids"]) == list(b["ids"])
    np.testing.assert_array_equal(a["X"], b["X"])


# --------------------------------------------------------------------------- errors
def test_missing_dask_says_how_to_install(monkeypatch, clips, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ConfigError, match=r'pip install "emoclassic\[dask\]"') as err:
        extract(PooledFeatures(cache=None), clips.head(2), backend="dask")
    assert "\n" not in str(err.value)

    from emoclassic.cli import main

    manifest = tmp_path / "m.csv"
    clips.head(2).to_csv(manifest, index=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["features", "--manifest", str(manifest), "--cache", "none", "--backend", "dask",
              "--out", str(tmp_path / "f.npz")])  # fmt: skip
    assert not (tmp_path / "f.npz").exists()
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert err_lines[-1].startswith("error: ") and 'pip install "emoclassic[dask]"' in err_lines[-1]


def test_bad_backend_and_stray_scheduler():
    with pytest.raises(ConfigError, match="local, dask"), parallel_backend("spark"):
        pass
    with pytest.raises(ConfigError, match="--backend dask"), parallel_backend(
        "local", scheduler="tcp://127.0.0.1:8786"
    ):
        pass
    with pytest.raises(ConfigError, match="does not exist"), parallel_backend(
        "dask", scheduler="/nonexistent/scheduler.json"
    ):
        pass


# --------------------------------------------------------------------------- the store
_SLOW_EXTRACTOR = '''
import os, sys, time
import numpy as np
import soundfile as sf
from emoclassic.features import BaseExtractor, Item, file_identity

class SlowStats(BaseExtractor):
    """Mean, std and peak of each file; appends one line per computed item to COUNT_FILE."""

    def __init__(self, cache=None, n_jobs=1, on_error="raise", batch_size=2):
        self.cache = cache
        self.n_jobs = n_jobs
        self.on_error = on_error
        self.batch_size = batch_size

    def _items(self, X):
        return [Item(str(p), (file_identity(p),), str(p)) for p in X]

    def _compute_one(self, item):
        time.sleep(float(os.environ.get("SLOW_SECONDS", "0")))
        with open(os.environ["COUNT_FILE"], "a") as fh:
            fh.write(item.id + "\\n")
        y, _ = sf.read(item.payload, dtype="float32")
        return np.array([y.mean(), y.std(), np.abs(y).max()], dtype=np.float32)

    def get_feature_names_out(self, input_features=None):
        return np.array(["mean", "std", "peak"], dtype=object)

if __name__ == "__main__":
    from emoclassic.features import extract
    paths = sys.argv[2:]
    extract(SlowStats(cache=sys.argv[1]), paths)
'''


def test_killed_extraction_resumes_without_redoing_saved_work(tmp_path, write_tone, monkeypatch):
    paths = [str(write_tone(tmp_path / "wav" / f"t{i:02d}.wav", 200 + 40 * i, seconds=0.2))
             for i in range(24)]  # fmt: skip
    (tmp_path / "slowext.py").write_text(textwrap.dedent(_SLOW_EXTRACTOR))
    cache, count = tmp_path / "cache", tmp_path / "count.txt"
    env = {**os.environ, "SLOW_SECONDS": "0.1", "COUNT_FILE": str(count),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "slowext.py"), str(cache), *paths],
                            env=env)  # fmt: skip
    store = FeatureStore(cache)
    deadline = time.monotonic() + 60
    while len(store) < 6 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # no cleanup, no atexit: as a crash or `kill -9`
    proc.wait()
    saved = len(store)
    assert 6 <= saved < len(paths), "the run was not killed mid-way"
    computed_before = count.read_text().split()

    monkeypatch.setenv("COUNT_FILE", str(count))
    monkeypatch.setenv("SLOW_SECONDS", "0")
    monkeypatch.syspath_prepend(str(tmp_path))
    count.write_text("")
    from slowext import SlowStats

    res = extract(SlowStats(cache=cache), paths)
    redone = count.read_text().split()
    assert res.n_cached == saved and res.n_computed == len(paths) - saved
    assert len(redone) == len(paths) - saved
    assert not set(redone) & set(computed_before[:saved])  # nothing saved was recomputed
    fresh = extract(SlowStats(cache=None), paths)
    np.testing.assert_array_equal(res.features, fresh.features)


def test_store_is_safe_under_concurrent_writers(tmp_path):
    """Threads race to write and read the same keys: readers see whole arrays or misses."""
    store = FeatureStore(tmp_path / "s")
    keys = [f"{k:02x}" + "ab" * 31 for k in range(8)]
    bad: list[str] = []

    def writer(seed: int) -> None:
        s = FeatureStore(tmp_path / "s")  # each writer its own handle, as separate processes
        for i in range(60):
            k = keys[(seed + i) % len(keys)]
            s.put(k, np.full(512, float(int(k[:2], 16)), dtype=np.float32))
            got = s.get(keys[i % len(keys)])
            if got is not None and (got.shape != (512,) or len(set(got.tolist())) != 1):
                bad.append(keys[i % len(keys)])

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
    assert len(store) == len(keys)
    assert not [p for p in (tmp_path / "s").rglob("*") if p.is_file() and p.suffix != ".npy"]
    for k in keys:
        np.testing.assert_array_equal(store.get(k), np.full(512, int(k[:2], 16), np.float32))


# --------------------------------------------------------------------------- scale corpus
def test_scale_corpus_is_sized_deterministic_and_resumable(tmp_path):
    from emoclassic.data import make_demo_corpus, make_scale_corpus, read_manifest

    df = make_scale_corpus(tmp_path / "c", 30, duration=0.5, n_speakers=3)
    assert len(df) == 30 and df["speaker"].nunique() == 3 and df["label"].nunique() == 4
    assert len(read_manifest(tmp_path / "c" / "manifest.csv")) == 30
    files = sorted((tmp_path / "c" / "wav").rglob("*.wav"))
    assert len(files) == 30 and {f.stat().st_size for f in files} == {44 + 2 * 8000}
    stamps = {f: f.stat().st_mtime_ns for f in files}
    victim = files[7]
    content = victim.read_bytes()
    victim.write_bytes(content[:100])  # a clip cut short by a crash
    again = make_scale_corpus(tmp_path / "c", 30, duration=0.5, n_speakers=3, n_jobs=2)
    assert again.equals(df)
    assert victim.read_bytes() == content  # rewritten, identically
    assert all(f.stat().st_mtime_ns == stamps[f] for f in files if f != victim)  # kept
    # the same clips as the demo generator with the same plan (one generator, two sizes)
    demo = make_demo_corpus(tmp_path / "d", n_speakers=3, n_per_class=3, duration=(0.5, 0.5))
    first = df["id"].iloc[0]
    row = demo.set_index("id").loc[first]
    assert Path(row["path"]).read_bytes() == (tmp_path / "c" / "wav" / row["speaker"]
                                              / f"{first}.wav").read_bytes()  # fmt: skip
