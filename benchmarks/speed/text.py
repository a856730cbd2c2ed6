"""Text branch speed: MiniLM through ``SentenceEmbedder`` against the bare library.

Side by side in one run: the shipped all-MiniLM-L6-v2 through ``SentenceEmbedder`` and through
the bare library (``SentenceTransformer(folder).encode``), each as a whole fresh process
(``python -c``, the exact programs are printed and saved): process wall time (interpreter,
imports, model load and encoding), time until the model is ready, and sentences/s of the
encoding call itself, on the first ``--n`` MELD train utterances, ``--threads`` torch threads,
the same batch size, no cache. The two are interleaved (order alternating) and each figure is
the best of ``--repeats``; our encode rate must stay >= 0.8x the library's. The float32 vectors
of both are compared, and a warm feature-store rerun of ours is timed in a process of its own.
The text quality on MELD is ``benchmarks/quality/text.py``.

    .venv/bin/python benchmarks/speed/text.py [--n 2000] [--threads 2] [--batch-size 64]
        [--repeats 2] [--dtypes float32,bfloat16,int8]
    .venv/bin/python benchmarks/speed/text.py --smoke   # 16 demo sentences, float32, 1 repeat

Results print as markdown rows and are saved to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402

logger = logging.getLogger("bench_text")


# -- speed -----------------------------------------------------------------------------------
#: the two programs timed, each in a fresh process: what a user of either would write
_PRELUDE = """\
import json, sys, time
t0 = time.perf_counter()
args = json.loads(sys.argv[1])
texts = json.load(open(args["texts"], encoding="utf-8"))
"""
_REPORT = """\
import numpy as np
np.save(args["vectors"], np.asarray(X, dtype=np.float32))
print(json.dumps({"import_s": t_import - t0, "ready_s": t_ready - t0, "encode_s": t_done - t_ready,
                  "encode_cpu_s": cpu, "rerun_s": globals().get("rerun_s")}))
"""
OURS = _PRELUDE + """\
from emoclassic.text import SentenceEmbedder
t_import = time.perf_counter()
emb = SentenceEmbedder(n_threads=args["threads"], batch_size=args["batch_size"],
                       dtype=args["dtype"], missing="error", cache=args.get("cache"))
emb.transform(texts[:1])  # loads the model
t_ready = time.perf_counter()
c = time.process_time()
X = emb.transform(texts)
t_done, cpu = time.perf_counter(), time.process_time() - c
if args.get("cache"):  # the same call again, served from the feature store
    t = time.perf_counter()
    emb.transform(texts)
    rerun_s = time.perf_counter() - t
""" + _REPORT
BARE = _PRELUDE + """\
import torch
from sentence_transformers import SentenceTransformer
torch.set_num_threads(args["threads"])
t_import = time.perf_counter()
model = SentenceTransformer(args["model"], device="cpu", local_files_only=True)
if args["dtype"] == "bfloat16":
    model.to(torch.bfloat16)
elif args["dtype"] == "int8":  # what SentenceEmbedder(dtype="int8") does to the Transformer
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    quantize_dynamic(model[0].auto_model, {torch.nn.Linear: per_channel_dynamic_qconfig},
                     dtype=torch.qint8, inplace=True)
model.encode(texts[:1], batch_size=args["batch_size"], show_progress_bar=False)
t_ready = time.perf_counter()
c = time.process_time()
X = model.encode(texts, batch_size=args["batch_size"], show_progress_bar=False)
X = X.float().numpy() if hasattr(X, "float") else X
t_done, cpu = time.perf_counter(), time.process_time() - c
""" + _REPORT


def _run_child(program: str, args: dict) -> dict:
    """Run one program in a fresh interpreter; its phases plus the process's wall seconds."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")  # fmt: skip
    return bench.run_child([sys.executable, "-c", program, json.dumps(args)], env=env)


def bench_speed(
    df: pd.DataFrame,
    *,
    n: int,
    threads: int,
    batch_size: int,
    repeats: int = 2,
    dtypes=("float32", "bfloat16"),
) -> dict:
    """Ours against bare ``SentenceTransformer.encode``, fresh processes, interleaved."""
    from emoclassic.text import default_model_path

    texts = df.loc[df["split"] == "train", "text"].head(n).tolist()
    bench.print_table(["program", "dtype", "process wall s", "ready s (import + load)", "encode s",
                 "sentences/s (encode)", "sentences per CPU-second", "ours / bare"])  # fmt: skip
    rows: list[dict] = []
    load = [bench.load1()]
    with bench.workdir(prefix="bench_text_") as tmp:
        (tmp / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
        base = {"texts": str(tmp / "texts.json"), "threads": threads, "batch_size": batch_size,
                "model": str(default_model_path())}  # fmt: skip
        for dtype in dtypes:
            best: dict[str, dict] = {}
            for rep in range(repeats):
                order = ("bare", "ours") if rep % 2 == 0 else ("ours", "bare")
                for name in order:
                    args = {**base, "dtype": dtype, "vectors": str(tmp / f"{name}-{dtype}.npy")}
                    res = _run_child(OURS if name == "ours" else BARE, args)
                    load.append(bench.load1())
                    logger.info("%s %s run %d: %s", name, dtype, rep + 1, res)
                    prev = best.get(name)
                    if prev is not None:  # best of the repeats, figure by figure
                        res = {k: min(v, prev[k]) if isinstance(v, float) else v
                               for k, v in res.items()}  # fmt: skip
                    best[name] = res
            ours, bare = np.load(tmp / f"ours-{dtype}.npy"), np.load(tmp / f"bare-{dtype}.npy")
            diff = float(np.abs(ours - bare).max())
            cos = float((ours * bare).sum(axis=1).min())
            # reduced precision against the library's float32 vectors (when they were computed)
            ref32 = tmp / "bare-float32.npy"
            vs32 = {}
            if dtype != "float32" and ref32.is_file():
                full = np.load(ref32)
                vs32 = {n: float((v * full).sum(axis=1).min()) for n, v in
                        (("ours", ours), ("bare", bare))}  # fmt: skip
            for name in ("bare", "ours"):
                r = best[name]
                rate = len(texts) / r["encode_s"]
                ratio = (best["bare"]["encode_s"] / r["encode_s"]) if name == "ours" else None
                row = {
                    "program": name,
                    "dtype": dtype,
                    "sentences": len(texts),
                    "distinct": len(set(texts)),
                    "threads": threads,
                    "batch_size": batch_size,
                    "process_s": round(r["process_s"], 2),
                    "ready_s": round(r["ready_s"], 2),
                    "import_s": round(r["import_s"], 2),
                    "encode_s": round(r["encode_s"], 2),
                    "sentences_per_s": round(rate, 1),
                    "sentences_per_cpu_s": round(len(texts) / r["encode_cpu_s"], 1),
                }
                if name in vs32:
                    row["min_cosine_vs_float32"] = round(vs32[name], 5)
                if ratio is not None:
                    row["encode_ratio_vs_bare"] = round(ratio, 2)
                    row["process_ratio_vs_bare"] = round(
                        best["bare"]["process_s"] / r["process_s"], 2
                    )
                    row["max_abs_diff_vs_bare"] = diff
                    row["min_cosine_vs_bare"] = cos
                rows.append(row)
                shown = (
                    f"{row['encode_ratio_vs_bare']}x encode, {row['process_ratio_vs_bare']}x "
                    f"process" if ratio is not None else "–"
                )
                program = "SentenceEmbedder" if name == "ours" else "SentenceTransformer.encode"
                print(bench.markdown_row([program, dtype, row["process_s"], row["ready_s"],
                                    row["encode_s"], row["sentences_per_s"],
                                    row["sentences_per_cpu_s"], shown]), flush=True)  # fmt: skip
            against = "".join(
                f", {n} vs the library's float32: min cosine {c:.5f}" for n, c in vs32.items()
            )
            print(
                f"<!-- {dtype}: ours vs bare vectors: max |diff| {diff:.2e}, min cosine "
                f"{cos:.6f}{against} -->",
                flush=True,
            )
        cached = _run_child(
            OURS, {**base, "dtype": dtypes[0], "vectors": str(tmp / "cached.npy"),
                   "cache": str(tmp / "store")},  # fmt: skip
        )
    load.append(bench.load1())
    summary = {
        "rows": rows,
        "cached_rerun_s": round(cached["rerun_s"], 3),
        "loadavg_1min": [round(x, 1) for x in (min(load), max(load))],
        "cpus": os.cpu_count(),
        "repeats": repeats,
        "programs": {"ours": OURS, "bare": BARE},
    }
    ok = all(r["encode_ratio_vs_bare"] >= 0.8 for r in rows if "encode_ratio_vs_bare" in r)
    summary["ours_at_least_0_8x_bare"] = ok
    print(
        f"\n{len(texts)} train utterances ({len(set(texts))} distinct), {threads} threads, "
        f"batch {batch_size}, best of {repeats}; ours served from a warm feature store: "
        f"{summary['cached_rerun_s']} s; load average {summary['loadavg_1min'][0]}-"
        f"{summary['loadavg_1min'][1]} on {summary['cpus']} CPUs; ours >= 0.8x bare: {ok}",
        flush=True,
    )
    return summary


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=None,
                        help="MELD text labels.csv (default: ../shared/data/meld_text)")
    parser.add_argument("--n", type=int, default=2000, help="sentences timed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="best of")
    parser.add_argument("--dtypes", default="float32,bfloat16",
                        help="compute precisions (float32, bfloat16, int8)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench_text_speed.json"))
    args = bench.parse_args(parser, argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with bench.workdir(prefix="bench_text_speed_") as tmp:
        if args.smoke:  # the demo corpus's transcripts instead of MELD
            args.n, args.repeats, args.batch_size, args.out = 32, 1, 16, tmp / "text.json"
            args.dtypes = "float32"  # 3 fresh processes: each loads torch and the model
        df, source = bench.text_corpus(args.labels, tmp, args.smoke)
        speed = bench_speed(
            df,
            n=args.n,
            threads=args.threads,
            batch_size=args.batch_size,
            repeats=args.repeats,
            dtypes=tuple(d.strip() for d in args.dtypes.split(",") if d.strip()),
        )
        bench.write_json(args.out, {"labels": source, "speed": speed})


if __name__ == "__main__":
    main()
