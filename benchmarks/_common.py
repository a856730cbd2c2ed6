"""What every benchmark script shares: generated clips, the timer, peak memory, results output.

The scripts live in ``speed/``, ``quality/``, ``studies/`` and ``tools/`` and are run from the
repository root as ``.venv/bin/python benchmarks/<folder>/<script>.py``; each puts the
repository root on ``sys.path`` (one line) and imports this module as
``from benchmarks import _common as bench``. Nothing heavy is imported at module level, so a
script can still set thread variables before numpy loads. ``make bench-smoke`` runs every
script with ``--smoke``.

- clips: :func:`make_clips` (the library's demo generator, cut to size), :func:`corpus_files`,
  :func:`load_meld_text`, :func:`text_corpus`;
- timing: :func:`timed` (one call) and :func:`best_of` (best of N, several functions interleaved
  so that they share the machine's load), wall and CPU seconds;
- memory: :func:`run_child` (a fresh process; the peak RSS of its whole process tree, sampled,
  and its last JSON line), and inside such a child :func:`reset_peak_rss` / :func:`peak_rss_mib`;
- results: :func:`write_json`, :func:`markdown_table` / :func:`print_table`, :func:`machine`;
- ``--smoke``: :func:`parse_args` and :func:`workdir` (a temporary folder unless one is given).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
AUDIO_EXT = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}
SMOKE_HELP = "tiny generated input, one repeat: checks that the whole script runs (seconds)"


# --------------------------------------------------------------------------- run set-up
def parse_args(parser, argv: Sequence[str] | None = None):
    """``parser.parse_args(argv)`` with every benchmark's ``--smoke`` flag added first."""
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    return parser.parse_args(argv)


@contextlib.contextmanager
def workdir(path: str | os.PathLike | None = None, prefix: str = "emoclassic-bench-"
            ) -> Iterator[Path]:  # fmt: skip
    """``path`` (created, kept) or a temporary folder deleted on exit."""
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def load1() -> float:
    """The 1-minute load average, rounded: printed beside timings on a shared machine."""
    return round(os.getloadavg()[0], 2)


def machine() -> dict:
    """Python version, CPU count, load averages and UTC time: recorded with every result."""
    return {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def describe_machine() -> str:
    m = machine()
    return (f"cpus: {m['cpus']}, python {m['python']}, load average {m['load_avg'][0]}, "
            f"{m['utc']}")  # fmt: skip


# --------------------------------------------------------------------------- clips
def make_clips(
    folder: str | os.PathLike,
    n: int | None = None,
    *,
    speakers: int | None = None,
    per_class: int | None = None,
    seconds: tuple[float, float] = (1.2, 2.2),
    seed: int = 0,
    n_jobs: int = 1,
):
    """Speech-like 16 kHz WAV clips from the library's demo generator; returns the manifest.

    The manifest has absolute paths, labels (4 emotions), speakers, transcripts, dialogues and
    train/dev/test splits (by speaker). Either ``speakers`` x 4 classes x ``per_class`` clips
    (:func:`emoclassic.data.make_demo_corpus`), or ``n`` clips: of one length
    (``seconds=(s, s)``) from :func:`emoclassic.data.make_scale_corpus` (``n_jobs`` processes,
    resumable), else a demo corpus just large enough, cut to ``n`` rows spread over speakers and
    classes. The same arguments in the same ``folder`` reuse the clips already written.
    """
    import pandas as pd

    from emoclassic.data import make_demo_corpus, make_scale_corpus

    folder = Path(folder)
    lo, hi = (float(s) for s in seconds)
    fixed = n is not None and lo == hi
    if not fixed:
        if speakers is None:
            speakers = 10 if n is None else max(1, min(10, -(-n // 8)))
        if per_class is None:
            per_class = max(1, -(-(n or 40) // (speakers * 4)))
    key = json.dumps([n, speakers, per_class, lo, hi, seed])
    stamp, manifest = folder / "make_clips.json", folder / "manifest.csv"
    if stamp.is_file() and stamp.read_text() == key and manifest.is_file():
        df = pd.read_csv(manifest)
        df["path"] = [str((folder / p).resolve()) for p in df["path"]]
        return df
    stamp.unlink(missing_ok=True)
    if fixed:
        df = make_scale_corpus(folder, n, n_speakers=speakers, duration=lo, seed=seed,
                               n_jobs=n_jobs)  # fmt: skip
    else:
        df = make_demo_corpus(folder, n_speakers=speakers, n_per_class=per_class,
                              duration=(lo, hi), seed=seed)  # fmt: skip
    if n is not None and n < len(df):  # each speaker's first utterances: every speaker, mixed
        rank = df.groupby("speaker").cumcount()
        df = df.loc[sorted(rank.sort_values(kind="stable").index[:n])].reset_index(drop=True)
        df.assign(path=[os.path.relpath(p, folder) for p in df["path"]]).to_csv(manifest,
                                                                                index=False)
    stamp.write_text(key)
    return df


def corpus_files(spec: str, n: int | None = None) -> tuple[str, list[str]]:
    """``NAME:FOLDER`` or ``FOLDER`` -> (name, the first ``n`` audio files below it, sorted)."""
    name, _, path = spec.partition(":") if ":" in spec else (Path(spec).name, ":", spec)
    files = sorted(str(p) for p in Path(path).rglob("*") if p.suffix.lower() in AUDIO_EXT)
    if not files:
        sys.exit(f"no audio files under {path}")
    return name, files[:n] if n else files


#: MELD text from the shared data folder beside the repository (``--labels`` elsewhere)
MELD_LABELS = ROOT.parent / "shared" / "data" / "meld_text" / "labels.csv"


def load_meld_text(path: str | os.PathLike | None = None):
    """MELD text ``labels.csv`` (split, dialogue_id, utterance_id, speaker, text, emotion) as a
    manifest-like frame; dialogue ids restart per split, so the split prefixes them."""
    import pandas as pd

    raw = pd.read_csv(path or MELD_LABELS,
                      dtype={"text": "string", "speaker": "string", "split": "string"})
    dialogue = raw["split"] + "_" + raw["dialogue_id"].astype(str)
    return pd.DataFrame({
        "id": dialogue + "_" + raw["utterance_id"].astype(str),
        "text": raw["text"],
        "label": raw["emotion"].astype("string"),
        "speaker": raw["speaker"],
        "dialogue_id": dialogue,
        "utterance_index": raw["utterance_id"].astype(int),
        "split": raw["split"],
    })


def text_corpus(labels: str | os.PathLike | None, folder: Path, smoke: bool = False):
    """(frame, source): MELD text (:func:`load_meld_text`), or with ``smoke`` the transcripts
    of a tiny generated demo corpus (4 speakers x 4 classes x 2; train, dev and test by speaker)
    written under ``folder``."""
    if smoke:
        df = make_clips(folder / "demo", speakers=4, per_class=2, seconds=(0.5, 0.5))
        return df, "demo corpus transcripts"
    return load_meld_text(labels), str(labels or MELD_LABELS)


# --------------------------------------------------------------------------- timing
@dataclass
class Timing:
    """Wall and CPU seconds (of this process) of one call, or the best of several."""

    wall: float
    cpu: float
    result: Any = None


def timed(fn: Callable, *args, **kwargs) -> Timing:
    """Run ``fn(*args, **kwargs)`` once: its wall and CPU seconds and its result."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return Timing(time.perf_counter() - w0, time.process_time() - c0, out)


def best_of(fns: Callable | Mapping[str, Callable], repeat: int = 1, *, warmup: bool = False):
    """Best (minimum) wall and CPU seconds of ``repeat`` calls of each function.

    With a mapping of name -> function the functions run interleaved within each repeat (so
    that load from other processes hits them alike) and a dict of :class:`Timing` is returned;
    with one function, its :class:`Timing`. ``warmup`` calls each once untimed first. The
    ``result`` is that of the last call.
    """
    single = callable(fns)
    named: Mapping[str, Callable] = {"": fns} if single else fns  # type: ignore[dict-item]
    if warmup:
        for fn in named.values():
            fn()
    best: dict[str, Timing] = {}
    for _ in range(max(1, repeat)):
        for name, fn in named.items():
            t = timed(fn)
            prev = best.get(name)
            if prev is not None:
                t = Timing(min(t.wall, prev.wall), min(t.cpu, prev.cpu), t.result)
            best[name] = t
    return best[""] if single else best


# --------------------------------------------------------------------------- memory
def _tree_rss(pid: int, cpu: dict[int, float] | None = None) -> int:
    """RSS in bytes of ``pid`` and all its descendants (0 once it is gone).

    With psutil, ``cpu`` collects each process's CPU seconds (user + system) so far.
    """
    try:
        import psutil
    except ImportError:
        return _tree_rss_proc(pid)
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
            if cpu is not None:
                t = p.cpu_times()
                cpu[p.pid] = max(cpu.get(p.pid, 0.0), t.user + t.system)
    return total


def _tree_rss_proc(pid: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * page
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def run_child(cmd: Sequence[str], *, env: Mapping[str, str] | None = None,
              interval: float = 0.1) -> dict:  # fmt: skip
    """Run ``cmd`` in a fresh process; return the JSON object of its last stdout line, plus
    ``process_s`` (wall seconds of the whole process), ``peak_tree_rss_mb`` (the RSS of its
    process tree, workers included, sampled every ``interval`` s) and ``tree_cpu_s`` (the tree's
    CPU seconds, start-up included; with psutil only). Its stderr goes to ours."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, text=True,
                            env=None if env is None else dict(env))  # fmt: skip
    peak = 0
    cpu: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid, cpu))
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(cmd)[:300]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["process_s"] = wall
    result["peak_tree_rss_mb"] = round(peak / 2**20, 1)
    result["tree_cpu_s"] = round(sum(cpu.values()), 1)
    return result


def rss_mib(field: str = "VmRSS") -> float:
    """This process's ``/proc/self/status`` memory field in MiB (VmRSS now, VmHWM peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux ``clear_refs``); False where
    that is not possible (then :func:`peak_rss_mib` is the peak since the process started)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mib(reset: bool = False) -> float:
    """Peak RSS in MiB: since :func:`reset_peak_rss` (``reset=True``), else since start."""
    if reset:
        return rss_mib("VmHWM")
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- results
def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (anything else as ``str``), atomically, folders made."""
    from emoclassic._atomic import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def markdown_row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[Any]] = ()) -> str:
    """A Markdown table: the header, its rule and ``rows`` (cells as given, ``str()``-ed)."""
    lines = [markdown_row(head), "|" + "---|" * len(head)]
    return "\n".join(lines + [markdown_row(r) for r in rows])


def print_table(head: Sequence[str], rows: Sequence[Sequence[Any]] = (), *,
                title: str | None = None) -> None:  # fmt: skip
    """Print :func:`markdown_table` (after a ``### title`` line); with no rows, the header
    alone, for scripts that print each row as it is measured (:func:`markdown_row`)."""
    if title:
        print(f"\n### {title}\n")
    print(markdown_table(head, rows), flush=True)
