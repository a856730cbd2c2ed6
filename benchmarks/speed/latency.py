"""Latency for live use, side by side in one run (issue 16): cold, warm, served, streamed.

On one core (every BLAS/OpenMP pool and torch held to one thread), with an audio-only model
and a fused (audio + MiniLM text) model:

(a) cold whole-process ``emoclassic predict --model M CLIP.wav [--text ...] --format json -q``:
    start-up, imports, model loading (sha256 and version checks), one clip; the median and
    the best of ``--cold-repeats`` fresh processes, each on a different clip; beside it the
    floor no cold start can go under: a fresh interpreter importing scikit-learn's pipeline
    (with SciPy), pandas, soundfile and soxr;
(b) warm ``Recognizer.predict_file`` on distinct 3 s clips (no clip twice: no result cache
    can stand in for the work): median and p95 of ``--n`` calls after one untimed call;
(c) ``emoclassic serve``: the same clips POSTed one at a time to a server on 127.0.0.1 (the
    request's whole round trip: upload, decode, predict, JSON); median and p95;
(d) ``emoclassic stream``: ``--stream-seconds`` of audio (the clips end to end) piped as raw
    16-bit PCM into one process with 2 s windows every 0.5 s: whole-process wall time
    (start-up and model loading included) as a real-time factor, and the number of windows.

(c) and (d) are skipped ("not measured") when the command is not there or ``--skip`` names
them. Targets (issue 16): warm audio <= 30 ms and fused <= 60 ms median on a 3 s clip; cold
audio <= 1.5 s, fused <= 4 s; stream >= 20x real time.

Models: ``--audio-model``/``--fused-model`` (saved .joblib), else fitted here on a generated
corpus from ``--audio-spec`` (recommended-audio) and ``--fused-spec`` (recommended-fusion)
into ``--work`` (kept, so a second run reuses them).

    .venv/bin/python benchmarks/speed/latency.py --work /tmp/latency
    .venv/bin/python benchmarks/speed/latency.py --audio-model A.joblib --fused-model F.joblib
    .venv/bin/python benchmarks/speed/latency.py --smoke     # tiny models and inputs, seconds
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402

TEXT = "well that is just wonderful news for all of us"
SMOKE_AUDIO_SPEC = {"name": "latency-smoke-audio",
                    "features": {"audio": {"type": "pooled", "preset": "compact"}},
                    "classifier": {"name": "logreg"}}  # fmt: skip
SMOKE_FUSED_SPEC = {"name": "latency-smoke-fused",
                    "features": {"audio": {"type": "pooled", "preset": "compact"},
                                 "words": {"type": "tfidf"}},
                    "classifier": {"name": "logreg"}}  # fmt: skip


def console_script() -> str:
    script = Path(sys.executable).parent / "emoclassic"
    found = str(script) if script.exists() else shutil.which("emoclassic")
    if not found:
        raise SystemExit("no 'emoclassic' command found; pip install -e . first")
    return found


def has_command(name: str) -> bool:
    proc = subprocess.run([console_script(), name, "--help"], capture_output=True, text=True)
    return proc.returncode == 0


def summary(seconds: list[float]) -> dict:
    s = sorted(seconds)
    return {"n": len(s), "median_ms": round(1000 * statistics.median(s), 1),
            "p95_ms": round(1000 * s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))], 1),
            "best_ms": round(1000 * s[0], 1)}  # fmt: skip


# --------------------------------------------------------------------------- inputs
def three_second_clips(folder: Path, n: int, seconds: float = 3.0) -> list[str]:
    """``n`` distinct clips of exactly ``seconds`` s (the scale-corpus generator)."""
    df = bench.make_clips(folder, n, seconds=(seconds, seconds), seed=7)
    return [str(p) for p in df["path"]]


def fit_model(spec, manifest, out: Path, cache: Path) -> Path:
    """Fit ``spec`` on ``manifest`` and save it (reused when ``out`` exists)."""
    if out.is_file() and out.with_suffix(".json").is_file():
        return out
    from emoclassic.artifacts import save_model
    from emoclassic.evaluation import fit_final
    from emoclassic.spec import load_spec

    spec = load_spec(spec)
    est = fit_final(spec, manifest, cache=str(cache), progress=False)
    save_model(est, out, spec=spec, train_manifest=manifest)
    return out


# --------------------------------------------------------------------------- (a) cold
def cold(model: Path, clips: list[str], text: str | None, repeats: int) -> dict:
    times = []
    for clip in clips[:repeats]:
        argv = [console_script(), "predict", "--model", str(model), clip, "--format", "json",
                "-q", *(["--text", text] if text else [])]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        json.loads(proc.stdout)
    out = summary(times)
    return {"n": out["n"], "median_s": round(out["median_ms"] / 1000, 2),
            "best_s": round(out["best_ms"] / 1000, 2)}


def import_floor(repeats: int) -> dict:
    """What a cold ``predict`` cannot avoid: a fresh interpreter importing scikit-learn's
    pipeline (SciPy comes with it), pandas, soundfile and soxr, then exiting."""
    argv = [sys.executable, "-c", "import sklearn.pipeline, sklearn.svm, pandas, soundfile, soxr"]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True)
        times.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(times), 2), "best_s": round(min(times), 2)}


def imported_heavy(model: Path, clip: str, text: str | None) -> list[str]:
    """Heavy packages a cold ``predict`` imports (from ``python -X importtime``)."""
    argv = [sys.executable, "-X", "importtime", "-m", "emoclassic.cli", "predict", "--model",
            str(model), clip, "--format", "json", "-q", *(["--text", text] if text else [])]
    proc = subprocess.run(argv, capture_output=True, text=True)
    heavy = ("torch", "transformers", "sentence_transformers", "xgboost", "librosa", "numba",
             "matplotlib", "dask", "opensmile")
    found = set()
    for line in proc.stderr.splitlines():
        name = line.rsplit("|", 1)[-1].strip()
        if name in heavy:
            found.add(name)
    return sorted(found)


# --------------------------------------------------------------------------- (b) warm
def warm(model: Path, clips: list[str], text: str | None) -> dict:
    from emoclassic import Recognizer

    rec = Recognizer.load(model)
    rec.predict_file(clips[0], text=text)  # the first call loads lazily held parts
    times = []
    for clip in clips[1:]:
        t0 = time.perf_counter()
        rec.predict_file(clip, text=text)
        times.append(time.perf_counter() - t0)
    return summary(times)


# --------------------------------------------------------------------------- (c) serve
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _multipart(path: str, text: str | None) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [(f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; '
              f'filename="{Path(path).name}"\r\nContent-Type: audio/wav\r\n\r\n').encode()
             + Path(path).read_bytes() + b"\r\n"]  # fmt: skip
    if text:
        parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\n'
                      f"{text}\r\n").encode())  # fmt: skip
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), boundary


def served(model: Path, clips: list[str], text: str | None) -> dict:
    port = _free_port()
    proc = subprocess.Popen([console_script(), "serve", "--model", str(model), "--host",
                             "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.perf_counter()
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    raise SystemExit("serve did not start: "
                                     + proc.stderr.read().decode()[-2000:]) from None
                time.sleep(0.1)
        start_s = time.perf_counter() - t0
        times = []
        for k, clip in enumerate(clips):
            body, boundary = _multipart(clip, text)
            req = urllib.request.Request(base + "/predict", data=body, method="POST", headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}"})
            t = time.perf_counter()
            with urllib.request.urlopen(req, timeout=60) as r:
                json.loads(r.read())
            if k:  # the first request is the warm-up
                times.append(time.perf_counter() - t)
        return {**summary(times), "start_s": round(start_s, 2)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --------------------------------------------------------------------------- (d) stream
def streamed(model: Path, clips: list[str], seconds: float, text: str | None) -> dict:
    import soundfile as sf

    parts, total = [], 0
    while total < seconds * bench.SR:
        for clip in clips:
            y, sr = sf.read(clip, dtype="int16")
            parts.append(y)
            total += len(y)
            if total >= seconds * bench.SR:
                break
    pcm = np.concatenate(parts)[: int(seconds * bench.SR)].astype("<i2").tobytes()
    argv = [console_script(), "stream", "--model", str(model), "--window", "2", "--hop", "0.5",
            "--rate", str(bench.SR), "--channels", "1", "--sample-format", "s16le",
            *(["--text", text] if text else [])]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(argv, input=pcm, capture_output=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n"
                         f"{proc.stderr.decode()[-2000:]}")  # fmt: skip
    lines = [json.loads(x) for x in proc.stdout.decode().splitlines() if x.strip()]
    return {"audio_s": seconds, "wall_s": round(wall, 2), "rtf": round(seconds / wall, 1),
            "windows": len(lines)}


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--audio-model", help="a saved audio-only model (.joblib)")
    ap.add_argument("--fused-model", help="a saved audio + text model (.joblib)")
    ap.add_argument("--audio-spec", default="recommended-audio")
    ap.add_argument("--fused-spec", default="recommended-fusion")
    ap.add_argument("--work", help="folder for the generated corpus, clips and fitted models")
    ap.add_argument("--n", type=int, default=51, help="warm calls and requests (distinct clips)")
    ap.add_argument("--cold-repeats", type=int, default=5)
    ap.add_argument("--stream-seconds", type=float, default=300.0)
    ap.add_argument("--skip", nargs="*", default=[], choices=["serve", "stream"],
                    help="leave these measurements out")
    ap.add_argument("--json", help="also write the results here")
    args = bench.parse_args(ap, argv)
    if args.smoke:
        args.n, args.cold_repeats, args.stream_seconds = 4, 1, 8.0
    with bench.workdir(args.work) as work:
        print(f"# latency ({bench.describe_machine()})", flush=True)
        clips = three_second_clips(work / "clips3s", max(args.n, args.cold_repeats) + 1)
        models = {"audio": args.audio_model, "fused": args.fused_model}
        if not all(models.values()):
            train = bench.make_clips(work / "train", 48 if args.smoke else None,
                                     speakers=None if args.smoke else 8)
            specs = {"audio": SMOKE_AUDIO_SPEC if args.smoke else args.audio_spec,
                     "fused": SMOKE_FUSED_SPEC if args.smoke else args.fused_spec}
            for kind in models:
                if not models[kind]:
                    models[kind] = fit_model(specs[kind], train, work / f"{kind}.joblib",
                                             work / "cache")  # fmt: skip
        results: dict = {"machine": bench.machine(), "models": {k: str(v) for k, v in
                                                                models.items()}}  # fmt: skip
        texts = {"audio": None, "fused": TEXT}
        results["import_floor"] = import_floor(args.cold_repeats)
        print(f"import floor (scikit-learn, SciPy, pandas, soundfile, soxr): "
              f"{json.dumps(results['import_floor'])}", flush=True)
        serve_ok = "serve" not in args.skip and has_command("serve")
        stream_ok = "stream" not in args.skip and has_command("stream")
        for kind, model in models.items():
            model, text = Path(model), texts[kind]
            row: dict = {"heavy_imports_in_cold_predict": imported_heavy(model, clips[0], text)}
            row["cold"] = cold(model, clips[1:], text, args.cold_repeats)
            row["warm"] = warm(model, clips[: args.n], text)
            row["serve"] = (served(model, clips[: args.n], text) if serve_ok
                            else "not measured")  # fmt: skip
            row["stream"] = (streamed(model, clips, args.stream_seconds, text) if stream_ok
                             else "not measured")  # fmt: skip
            results[kind] = row
            print(f"{kind}: {json.dumps(row)}", flush=True)
        head = ["model", "cold predict median s (best)", "warm median ms (p95)",
                "serve median ms (p95)", "stream RTF (windows)", "heavy imports (cold)"]
        rows = []
        for kind in models:
            r = results[kind]
            srv, stm = r["serve"], r["stream"]
            rows.append([
                kind,
                f"{r['cold']['median_s']} ({r['cold']['best_s']})",
                f"{r['warm']['median_ms']} ({r['warm']['p95_ms']})",
                f"{srv['median_ms']} ({srv['p95_ms']})" if isinstance(srv, dict) else srv,
                f"{stm['rtf']}x ({stm['windows']})" if isinstance(stm, dict) else stm,
                ", ".join(r["heavy_imports_in_cold_predict"]) or "none",
            ])
        print()
        bench.print_table(head, rows)
        if args.json:
            bench.write_json(args.json, results)


if __name__ == "__main__":
    main()
