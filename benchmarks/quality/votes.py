"""Annotators' votes (issue 18): how much listeners agree on real data, and what training on
the votes buys.

1. **Agreement in CREMA-D.** The corpus's crowd ratings (``processedResults/tabulatedVotes.csv``,
   read by ``emoclassic.data.read_cremad_votes`` as ``read_cremad`` does) for each presentation
   (voice only, face only, both): quantiles of the agreement (the share of the votes held by
   the most voted emotion), the share of clips with agreement >= 0.75, tied tops (no majority)
   and how often the majority is the portrayed emotion; then per portrayed emotion for the
   voice-only ratings. Default table: ``../shared/data/cremad_votes/raw/`` (``--votes``).
2. **Hard, soft and weighted labels** on the generated demo corpus with simulated votes (no
   corpus with audio and votes is at hand): a *listener* model is fitted on a second demo corpus
   (another seed, so nothing of the evaluated clips is seen), and each of ``--annotators``
   annotators names the portrayed emotion with probability ``--care``, else an emotion drawn
   from the listener's probabilities for that clip; so clips the listener finds ambiguous get
   split votes, as with real listeners. The label stays the portrayed emotion (as CREMA-D's).
   ``emoclassic.evaluation.run_cv`` then compares ``[labels] mode`` hard, soft and weighted on
   the same speaker-grouped folds: UA and ECE over all items and over the items with agreement
   >= 0.75.

    .venv/bin/python benchmarks/quality/votes.py                # both parts
    .venv/bin/python benchmarks/quality/votes.py --part cremad
    .venv/bin/python benchmarks/quality/votes.py --smoke        # tiny generated input

Tables print as Markdown; ``--json`` saves the numbers.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root
from benchmarks import _common as bench  # noqa: E402

VOTES = bench.ROOT.parent / "shared" / "data" / "cremad_votes" / "raw" / "tabulatedVotes.csv"
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
HIGH = 0.75
MODES = ("hard", "soft", "weighted")


# --------------------------------------------------------------------------- 1. CREMA-D
def agreement_rows(table: dict[str, dict[str, float]]) -> dict:
    """Agreement statistics of one presentation's votes ({clip: {emotion: raters}})."""
    import numpy as np

    from emoclassic.data._acted import CREMAD_EMOTIONS
    from emoclassic.data._votes import agreement, majority

    clips = sorted(table)
    agree = np.array([agreement(table[c]) for c in clips])
    top = [majority(table[c]) for c in clips]
    intended = [CREMAD_EMOTIONS.get(c.split("_")[2], "?") for c in clips]
    hit = np.array([t == i for t, i in zip(top, intended, strict=True)])

    def summary(mask) -> dict:
        a = agree[mask]
        return {
            "n": int(mask.sum()),
            "mean": round(float(a.mean()), 3),
            **{f"q{int(q * 100)}": round(float(np.quantile(a, q)), 3) for q in QUANTILES},
            "share_ge_0.75": round(float((a >= HIGH).mean()), 3),
            "tied": round(float(np.mean([t is None for t, m in zip(top, mask, strict=True)
                                         if m])), 3),  # fmt: skip
            "majority_is_portrayed": round(float(hit[mask].mean()), 3),
        }

    out = {"all": summary(np.ones(len(clips), dtype=bool))}
    for emotion in sorted(set(intended)):
        out[emotion] = summary(np.array([i == emotion for i in intended]))
    return out


def cremad_part(path: Path) -> dict:
    from emoclassic.data import read_cremad_votes
    from emoclassic.data._acted import CREMAD_PRESENTATIONS

    results = {p: agreement_rows(read_cremad_votes(path, p)) for p in CREMAD_PRESENTATIONS}
    head = ["presentation", "clips", "mean", *[f"q{int(q * 100)}" for q in QUANTILES],
            "≥ 0.75", "tied top", "majority = portrayed"]  # fmt: skip

    def cells(name, s):
        return [name, s["n"], s["mean"], *[s[f"q{int(q * 100)}"] for q in QUANTILES],
                f"{100 * s['share_ge_0.75']:.1f} %", f"{100 * s['tied']:.1f} %",
                f"{100 * s['majority_is_portrayed']:.1f} %"]  # fmt: skip

    bench.print_table(head, [cells(p, r["all"]) for p, r in results.items()],
                      title=f"CREMA-D agreement by presentation ({path})")  # fmt: skip
    voice = results["audio"]
    bench.print_table(["portrayed", *head[1:]],
                      [cells(e, s) for e, s in voice.items() if e != "all"],
                      title="CREMA-D voice-only agreement by portrayed emotion")  # fmt: skip
    return results


def smoke_votes(folder: Path) -> Path:
    """A tiny tabulatedVotes.csv in the published format (three presentations, 24 clips)."""
    import numpy as np

    rng = np.random.default_rng(0)
    codes = ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]
    lines = ['"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote"']
    for kind in (1, 2, 3):
        for clip in range(24):
            counts = rng.multinomial(9, np.full(6, 1 / 12) + np.eye(6)[clip % 6] / 2)
            name = f"10{clip:02d}_DFA_{codes[clip % 6]}_XX"
            lines.append(f'"{kind * 100000 + clip + 1}",{",".join(map(str, counts))},"{name}",'
                         f'9,{counts.max() / 9},"X"')  # fmt: skip
    path = folder / "processedResults" / "tabulatedVotes.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- 2. soft labels
def simulate_votes(manifest, listener_proba, classes, *, annotators: int, care: float, seed: int):
    """``manifest`` with ``votes``: each annotator names the label with probability ``care``,
    else draws from the listener's probabilities for the clip (rows of ``listener_proba``)."""
    import numpy as np

    from emoclassic.data._votes import format_votes

    rng = np.random.default_rng(seed)
    votes = []
    for label, p in zip(manifest["label"], listener_proba, strict=True):
        counts: dict[str, int] = {}
        for _ in range(annotators):
            c = label if rng.random() < care else classes[rng.choice(len(classes), p=p)]
            counts[c] = counts.get(c, 0) + 1
        votes.append(format_votes(counts))
    out = manifest.copy()
    out["votes"] = votes
    return out


def _scores(report, agreement_of: dict[str, float]) -> dict:
    """UA and ECE of a report over all items and over the high-agreement ones."""
    import numpy as np

    from emoclassic.evaluation import expected_calibration_error
    from emoclassic.evaluation._metrics import compute_metrics

    preds = report["predictions"]
    labels = sorted({p["label"] for p in preds})

    def part(rows) -> dict:
        y = [r["label"] for r in rows]
        m = compute_metrics(y, [r["predicted"] for r in rows], labels=labels)["metrics"]
        proba = np.array([[r["probabilities"][c] for c in labels] for r in rows])
        return {"n": len(rows), "ua": round(m["ua"], 4),
                "ece": round(float(expected_calibration_error(y, proba, labels)), 4)}  # fmt: skip

    high = [p for p in preds if agreement_of[p["id"]] >= HIGH]
    return {"all": part(preds), "high_agreement": part(high)}


def soft_part(folder: Path, *, smoke: bool, annotators: int, care: float, classifiers: list[str],
              folds: int, cache: str | None, seed: int = 0) -> dict:  # fmt: skip
    import numpy as np

    from emoclassic import config_context
    from emoclassic.data import validate_manifest
    from emoclassic.evaluation import fit_final, run_cv

    speakers, per_class = (4, 3) if smoke else (8, 12)
    corpus = bench.make_clips(folder / "eval", speakers=speakers, per_class=per_class, seed=0)
    other = bench.make_clips(folder / "listener", speakers=speakers, per_class=per_class, seed=1)
    features = {"audio": {"type": "pooled", "preset": "compact"}}
    listener_spec = {"name": "listener", "features": features,
                     "classifier": {"name": "logreg", "C": 0.05}}  # fmt: skip
    cache = cache or str(folder / "cache")
    with warnings.catch_warnings(), config_context(cache=cache, progress=False):
        warnings.simplefilter("ignore")
        listener = fit_final(listener_spec, other, params={})
        proba = listener.predict_proba(corpus)
    classes = [str(c) for c in listener.classes_]
    voted = validate_manifest(simulate_votes(corpus, proba, classes, annotators=annotators,
                                             care=care, seed=seed), check_files=False)  # fmt: skip
    agreement_of = dict(zip(voted["id"], voted["agreement"], strict=True))
    a = voted["agreement"].to_numpy()
    majority_is_label = np.mean([v.split(":")[0] == lab for v, lab in
                                 zip(voted["votes"], voted["label"], strict=True)])  # fmt: skip
    print(f"\nsimulated votes (seed {seed}): {len(voted)} clips, {annotators} annotators, "
          f"care {care}; "
          f"agreement mean {a.mean():.3f}, ≥ 0.75: {100 * (a >= HIGH).mean():.1f} %, "
          f"top vote = label {100 * majority_is_label:.1f} %")
    grids = {"svc": {"classifier.C": [1.0, 10.0]}, "logreg": {"classifier.C": [0.1, 1.0]}}
    results: dict = {"votes": {"n": int(len(voted)), "annotators": annotators, "care": care,
                               "seed": seed,
                               "agreement_mean": round(float(a.mean()), 4),
                               "share_ge_0.75": round(float((a >= HIGH).mean()), 4)}}  # fmt: skip
    rows = []
    for clf in classifiers:
        for mode in MODES:
            spec = {"name": f"{clf}-{mode}", "features": features,
                    "classifier": {"name": clf, "class_weight": "balanced"},
                    "grid": grids.get(clf, {}),
                    "cv": {"scheme": "group", "n_splits": 2 if smoke else folds,
                           "inner_splits": 2 if smoke else 3},
                    "labels": {"mode": mode}}  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                report = run_cv(spec, voted, cache=cache, progress=False)
            s = _scores(report, agreement_of)
            results[f"{clf}/{mode}"] = s
            rows.append([clf, mode, s["all"]["ua"], s["all"]["ece"], s["high_agreement"]["n"],
                         s["high_agreement"]["ua"], s["high_agreement"]["ece"]])  # fmt: skip
    bench.print_table(["classifier", "labels", "UA (all)", "ECE (all)", "n (agr ≥ 0.75)",
                       "UA (agr ≥ 0.75)", "ECE (agr ≥ 0.75)"], rows,
                      title="hard, soft and weighted labels on the demo corpus (simulated votes)")
    return results


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("cremad", "soft", "both"), default="both")
    ap.add_argument("--votes", type=Path, default=VOTES, help="CREMA-D's tabulatedVotes.csv")
    ap.add_argument("--annotators", type=int, default=7)
    ap.add_argument("--care", type=float, default=0.5,
                    help="chance an annotator names the portrayed emotion")
    ap.add_argument("--seed", type=int, default=0, help="seed of the simulated votes")
    ap.add_argument("--classifiers", nargs="*", default=["svc", "logreg"])
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--cache", help="feature cache folder (default: a temporary one)")
    ap.add_argument("--work", help="keep generated clips here (default: a temporary folder)")
    ap.add_argument("--json", help="write the results here too")
    args = bench.parse_args(ap, argv)
    logging.basicConfig(level=logging.WARNING)
    results = {}
    with bench.workdir(args.work) as tmp:
        if args.part in ("cremad", "both"):
            path = smoke_votes(tmp / "cremad") if args.smoke else args.votes
            if path.is_file():
                results["cremad"] = cremad_part(path)
            else:
                print(f"no {path}: CREMA-D part skipped (give --votes)")
        if args.part in ("soft", "both"):
            results["soft"] = soft_part(tmp, smoke=args.smoke, annotators=args.annotators,
                                        care=args.care, classifiers=args.classifiers,
                                        folds=args.folds, cache=args.cache,
                                        seed=args.seed)  # fmt: skip
    if args.json:
        bench.write_json(args.json, results)


if __name__ == "__main__":
    main()
