"""Several corpora and manifests as one table, on one label space.

Each input keeps its ``corpus`` (a reader's name; a user manifest without a ``corpus`` column
is named after its file stem by :func:`load_inputs`). A label map (``--label-map``) moves user
labels, and the labels of their ``votes``, onto the canonical vocabulary; ``classes``
(``--classes``) chooses the label space: ``"shared"`` (the classes every labelled corpus
has), ``"union"`` (all of them) or an explicit list. Rows outside it are dropped (a row with
votes but no label stays), logged per corpus and counted in the
:class:`CombineReport`, which also rides on the frame (``frame.attrs["emoclassic_combine"]``)
so that a cross-validation report can say what was left out.

An id held by more than one input is prefixed with its corpus name in each of them
(``emodb:03a01Fa``); every other id stays as it was.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import DataError
from ._labels import CANONICAL_EMOTIONS, is_canonical, to_canonical
from ._votes import agreement, format_votes, map_votes, parse_votes

logger = logging.getLogger(__name__)

__all__ = [
    "CombineReport",
    "combine_manifests",
    "load_inputs",
    "load_test_sets",
    "parse_classes",
    "read_label_map",
]

#: the key of :meth:`CombineReport.to_dict` in a combined frame's ``attrs``
ATTRS_KEY = "emoclassic_combine"
#: what a user manifest's rows are called when the file has no ``corpus`` column
_USER = "user"
_MODES = ("shared", "union")


@dataclass
class CombineReport:
    """What :func:`combine_manifests` did: the label space and the rows left out.

    ``dropped`` counts the rows outside the label space by corpus and label;
    ``inputs`` gives each corpus's rows before and after; ``prefixed`` counts the ids that
    were prefixed with their corpus name because another input held them too.
    """

    mode: str
    classes: list[str]
    inputs: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    label_map: dict[str, str] = field(default_factory=dict)
    prefixed: int = 0

    @property
    def n_dropped(self) -> int:
        return sum(sum(labels.values()) for labels in self.dropped.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "classes": list(self.classes),
            "inputs": {k: dict(v) for k, v in self.inputs.items()},
            "dropped": {k: dict(v) for k, v in self.dropped.items()},
            "n_dropped": self.n_dropped,
            "label_map": dict(self.label_map),
            "prefixed": self.prefixed,
        }


# --------------------------------------------------------------------------- label maps
def _map_target(original: str, target: str, source: str) -> str:
    canon = str(target).strip().lower()
    if not is_canonical(canon):
        raise DataError(
            f"--label-map {source}: {original}={target} maps to {target!r}, which is not a "
            f"canonical emotion; fix the entry (choose among {', '.join(CANONICAL_EMOTIONS)})"
        )
    return canon


def _pairs_of_file(file: Path) -> list[tuple[str, str]]:
    text = file.read_text(encoding="utf-8-sig")
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"--label-map {file}: not valid JSON ({exc}); give an object "
                '{"original": "canonical", ...}'
            ) from exc
        if isinstance(data, dict):
            return [(str(k), str(v)) for k, v in data.items()]
        if isinstance(data, list):
            pairs = []
            for item in data:
                if isinstance(item, dict) and {"original", "canonical"} <= set(item):
                    pairs.append((str(item["original"]), str(item["canonical"])))
                elif isinstance(item, list | tuple) and len(item) == 2:
                    pairs.append((str(item[0]), str(item[1])))
                else:
                    raise DataError(
                        f"--label-map {file}: entry {item!r} is not an "
                        "[original, canonical] pair; fix the file"
                    )
            return pairs
        raise DataError(f'--label-map {file}: give a JSON object {{"original": "canonical", ...}}')
    dialect = "excel-tab" if file.suffix.lower() in (".tsv", ".tab") else "excel"
    rows = [r for r in csv.reader(text.splitlines(), dialect=dialect) if any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["original", "canonical"]:
        rows = rows[1:]
    pairs = []
    for number, row in enumerate(rows, start=1):
        if len(row) < 2 or not row[0].strip():
            raise DataError(
                f"--label-map {file}: line {number} {row!r} is not original,canonical; fix the file"
            )
        pairs.append((row[0], row[1]))
    return pairs


def read_label_map(value: str | os.PathLike[str] | Mapping[str, str] | None) -> dict[str, str]:
    """A label map as ``{original: canonical}`` from a mapping, a CSV/TSV/JSON file
    (``original,canonical`` rows, a header optional; a JSON object) or inline text
    ``"angry=anger,sad=sadness"``. Every target must be a canonical emotion."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        pairs, source = [(str(k), str(v)) for k, v in value.items()], "mapping"
    else:
        text = str(value)
        file = Path(text).expanduser()
        if file.is_file():
            pairs, source = _pairs_of_file(file), str(file)
        elif "=" in text:
            pairs, source = [], text
            for item in filter(None, (p.strip() for p in text.split(","))):
                original, eq, target = item.partition("=")
                if not eq or not original.strip() or not target.strip():
                    raise DataError(
                        f"--label-map {text}: {item!r} is not ORIGINAL=CANONICAL; "
                        "write e.g. angry=anger,sad=sadness"
                    )
                pairs.append((original, target))
        else:
            raise DataError(
                f"--label-map {text}: no such file, and not ORIGINAL=CANONICAL "
                "pairs; give a CSV/JSON file or e.g. angry=anger,sad=sadness"
            )
    out: dict[str, str] = {}
    for original, target in pairs:
        key = original.strip()
        canon = _map_target(key, target.strip(), source)
        if key in out and out[key] != canon:
            raise DataError(
                f"--label-map {source}: {key!r} is mapped twice ({out[key]} and "
                f"{canon}); keep one entry"
            )
        out[key] = canon
    return out


def _label_mapper(mapping: Mapping[str, str]):
    """One label through the map: exact match first, then case-insensitive."""
    folded = {k.strip().lower(): v for k, v in mapping.items()}

    def one(label: Any) -> Any:
        if not isinstance(label, str):
            return label
        if label in mapping:
            return mapping[label]
        return folded.get(label.strip().lower(), label)

    return one


def _apply_map(labels: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """Labels with the map applied: exact match first, then case-insensitive."""
    if not mapping:
        return labels
    return labels.map(_label_mapper(mapping)).astype(object)


def _map_vote_column(frame: pd.DataFrame, mapping: Mapping[str, str]) -> None:
    """The ``votes`` of ``frame`` through the same map as its labels (in place): votes for
    labels that meet are summed, and ``agreement`` follows."""
    if not mapping or "votes" not in frame.columns:
        return
    one = _label_mapper(mapping)
    votes = [map_votes(parse_votes(v), one) for v in frame["votes"]]
    frame["votes"] = pd.Series([format_votes(v) for v in votes], index=frame.index, dtype=object)
    frame["agreement"] = [agreement(v) for v in votes]


# --------------------------------------------------------------------------- label space
def parse_classes(classes: str | Sequence[str] | None) -> str | list[str]:
    """``"shared"``, ``"union"`` or the list of an explicit ``"a,b,c"`` (None: shared)."""
    if classes is None:
        return "shared"
    if isinstance(classes, str):
        text = classes.strip()
        if text.lower() in _MODES:
            return text.lower()
        items = [c.strip() for c in text.split(",") if c.strip()]
    else:
        items = [str(c).strip() for c in classes if str(c).strip()]
    if not items:
        raise DataError(
            f"--classes {classes!r}: give shared, union or a list such as anger,happiness,sadness"
        )
    return list(dict.fromkeys(items))


def _labelled(frame: pd.DataFrame) -> pd.Series:
    labels = frame["label"] if "label" in frame.columns else pd.Series([], dtype=object)
    return labels[labels.notna() & (labels.astype(str).str.strip() != "")].astype(str)


def _non_canonical_hint(per_corpus: Mapping[str, Counter]) -> str:
    hints = sorted(
        {
            f"{label}={to_canonical(label)}"
            for counts in per_corpus.values()
            for label in counts
            if not is_canonical(label) and is_canonical(to_canonical(label))
        }
    )
    example = ",".join(hints[:4]) or "angry=anger,sad=sadness"
    return f"map labels onto the canonical names with --label-map (e.g. {example})"


def _label_space(mode: str | list[str], per_corpus: Mapping[str, Counter]) -> list[str]:
    present = [set(c) for c in per_corpus.values() if c]
    everything = set().union(*present) if present else set()
    if isinstance(mode, list):
        unknown = [c for c in mode if c not in everything]
        if unknown:
            raise DataError(
                f"--classes: unknown class {unknown[0]!r}"
                + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                + f"; the inputs hold {', '.join(sorted(everything)) or 'no labels'}: "
                "fix the list"
            )
        return list(mode)
    if mode == "union" or not present:
        return sorted(everything)
    shared = set.intersection(*present)
    if not shared:
        held = "; ".join(f"{name}: {', '.join(sorted(c))}" for name, c in per_corpus.items() if c)
        raise DataError(
            f"--classes shared: the inputs share no class ({held}); "
            f"{_non_canonical_hint(per_corpus)}, or choose --classes union or a list"
        )
    return sorted(shared)


# --------------------------------------------------------------------------- combining
def _inputs(
    frames: Sequence[pd.DataFrame] | Mapping[str, pd.DataFrame],
) -> list[tuple[str, pd.DataFrame]]:
    """``[(name, frame)]`` with every row's ``corpus`` set; duplicate names are an error."""
    if isinstance(frames, pd.DataFrame):
        frames = [frames]
    items = list(frames.items()) if isinstance(frames, Mapping) else [(None, f) for f in frames]
    if not items:
        raise DataError("no input to combine; give at least one --manifest or --corpus")
    out: list[tuple[str, pd.DataFrame]] = []
    owner: dict[str, int] = {}
    for position, (name, frame) in enumerate(items):
        if not isinstance(frame, pd.DataFrame):
            raise DataError(
                f"input {position + 1}: expected a manifest DataFrame; got {type(frame).__name__}"
            )
        frame = frame.copy()
        corpus = frame["corpus"] if "corpus" in frame.columns else pd.Series(None, frame.index)
        unnamed = corpus.isna() | corpus.astype(str).isin(["", _USER])
        if name is not None:
            corpus = corpus.where(~unnamed, str(name))
        else:
            corpus = corpus.where(~unnamed, _USER)
        frame["corpus"] = corpus.astype(str).to_numpy(dtype=object)
        for value in dict.fromkeys(frame["corpus"]):
            if value in owner:
                raise DataError(
                    f"--corpus/--manifest: corpus name {value!r} given twice; give each corpus "
                    "once (a manifest is named by its corpus column, else its file stem: "
                    "rename one file or set its corpus column)"
                )
            owner[value] = position
        out.append((str(name) if name is not None else f"input {position + 1}", frame))
    return out


def _prefix_shared_ids(named: list[tuple[str, pd.DataFrame]]) -> int:
    """Prefix ids held by more than one input with their corpus name (in place)."""
    seen: Counter = Counter()
    for _, frame in named:
        seen.update(set(frame["id"].astype(str)))
    shared = {i for i, n in seen.items() if n > 1}
    if not shared:
        return 0
    changed = 0
    for _, frame in named:
        ids = frame["id"].astype(str)
        hit = ids.isin(shared)
        changed += int(hit.sum())
        frame.loc[hit, "id"] = frame.loc[hit, "corpus"].astype(str) + ":" + ids[hit]
    logger.info(
        "%d id(s) held by more than one input were prefixed with their corpus name (e.g. %s)",
        changed,
        next(iter(sorted(shared))),
    )
    return changed


def combine_manifests(
    frames: Sequence[pd.DataFrame] | Mapping[str, pd.DataFrame],
    *,
    classes: str | Sequence[str] | None = "shared",
    label_map: str | os.PathLike[str] | Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, CombineReport]:
    """One manifest from several, on one label space; returns ``(frame, report)``.

    ``frames``: manifests (each row's ``corpus`` names its input; rows without one, or with
    ``"user"``, are named by the mapping's key when ``frames`` is a mapping name -> frame).
    Two inputs with the same corpus name are an error. ``label_map`` (a mapping, a CSV/JSON
    file or ``"angry=anger,sad=sadness"``) renames labels onto the canonical vocabulary;
    ``classes`` is ``"shared"`` (every labelled corpus has it), ``"union"`` or a list. Rows whose
    label lies outside are dropped (a warning per corpus; counts in ``report.dropped``); rows
    without a label (prediction data) are kept and take no part in choosing the classes.
    """
    mode = parse_classes(classes)
    mapping = read_label_map(label_map)
    named = _inputs(frames)
    for _, frame in named:
        if "label" in frame.columns:
            frame["label"] = _apply_map(frame["label"], mapping)
        _map_vote_column(frame, mapping)
    prefixed = _prefix_shared_ids(named)
    per_corpus: dict[str, Counter] = {}
    for _, frame in named:
        for corpus, part in frame.groupby("corpus", sort=False):
            per_corpus[str(corpus)] = Counter(_labelled(part))
    space = _label_space(mode, per_corpus)
    if len(per_corpus) > 1:
        for name, counts in per_corpus.items():
            odd = sorted(label for label in counts if not is_canonical(label))
            if odd:
                logger.warning(
                    "%s: label(s) %s are not canonical emotion names, so they match no other "
                    "corpus; %s",
                    name,
                    ", ".join(odd[:6]) + (" ..." if len(odd) > 6 else ""),
                    _non_canonical_hint({name: counts}),
                )
    report = CombineReport(
        mode=mode if isinstance(mode, str) else "list",
        classes=space,
        label_map=mapping,
        prefixed=prefixed,
    )
    keep_labels = set(space)
    kept = []
    for _, frame in named:
        labels = frame["label"] if "label" in frame.columns else pd.Series(None, frame.index)
        has_label = labels.notna() & (labels.astype(str).str.strip() != "")
        keep = ~has_label | labels.astype(str).isin(keep_labels)
        for corpus, part in frame.groupby("corpus", sort=False):
            part_keep = keep.loc[part.index]
            gone = Counter(part.loc[~part_keep, "label"].astype(str))
            report.inputs[str(corpus)] = {"n_input": int(len(part)), "n_kept": int(part_keep.sum())}
            if gone:
                report.dropped[str(corpus)] = dict(sorted(gone.items()))
                logger.warning(
                    "%s: %d of %d row(s) outside the classes (%s) dropped: %s",
                    corpus,
                    sum(gone.values()),
                    len(part),
                    ", ".join(space),
                    ", ".join(f"{k} {v}" for k, v in sorted(gone.items())),
                )
            if not part_keep.any():
                logger.warning("%s: no row left in the classes %s", corpus, ", ".join(space))
        kept.append(frame.loc[keep])
    out = pd.concat(kept, ignore_index=True, sort=False) if len(kept) > 1 else kept[0]
    out = out.reset_index(drop=True)
    if not len(out):
        raise DataError(
            f"--classes {', '.join(space) or classes}: no row left; choose classes the inputs hold"
        )
    dup = out["id"].astype(str).duplicated()
    if dup.any():
        raise DataError(
            f"id {out['id'][dup].iloc[0]!r} appears twice after combining; give "
            "the rows of your manifests distinct ids"
        )
    out.attrs[ATTRS_KEY] = report.to_dict()
    return out, report


# --------------------------------------------------------------------------- the CLI's entry
def _read_inputs(
    manifests: Iterable[str | os.PathLike[str]],
    corpora: Iterable[str],
    manifest_options: Mapping[str, Any],
) -> list[tuple[str, pd.DataFrame]]:
    """``[(source, frame)]`` of every corpus, then every manifest, each in the order given;
    a manifest's rows without a ``corpus`` are named by its file stem."""
    from ._corpora import load_corpus
    from ._manifest import read_manifest

    frames: list[tuple[str, pd.DataFrame]] = []
    for spec in corpora:
        frames.append((str(spec), load_corpus(spec)))
    for manifest in manifests:
        frame = read_manifest(manifest, **manifest_options)
        unnamed = frame["corpus"].isna() | frame["corpus"].astype(str).isin(["", _USER])
        frame.loc[unnamed, "corpus"] = Path(manifest).stem
        frames.append((str(manifest), frame))
    for source, frame in frames:
        if not len(frame):
            raise DataError(f"{source}: no utterances; check the manifest or the folder")
    return frames


def load_inputs(
    manifests: Iterable[str | os.PathLike[str]] = (),
    corpora: Iterable[str] = (),
    *,
    classes: str | Sequence[str] | None = None,
    label_map: str | os.PathLike[str] | Mapping[str, str] | None = None,
    **manifest_options: Any,
) -> tuple[pd.DataFrame, CombineReport]:
    """The rows of every ``--corpus NAME:DIR`` and ``--manifest FILE``, combined.

    Corpora come first, then manifests, each in the order given; a manifest without a
    ``corpus`` column is named by its file stem. ``manifest_options`` go to
    :func:`read_manifest`. See :func:`combine_manifests` for ``classes`` and ``label_map``.
    """
    frames = _read_inputs(manifests, corpora, manifest_options)
    if not frames:
        raise DataError(
            "no data given; give --manifest FILE or --corpus NAME:DIR (each may be repeated)"
        )
    return combine_manifests([f for _, f in frames], classes=classes, label_map=label_map)


def load_test_sets(
    manifests: Iterable[str | os.PathLike[str]] = (),
    corpora: Iterable[str] = (),
    *,
    label_map: str | os.PathLike[str] | Mapping[str, str] | None = None,
    **manifest_options: Any,
) -> dict[str, pd.DataFrame]:
    """Each ``--test-corpus NAME:DIR`` and ``--test-manifest FILE`` as its own test set,
    ``{name: frame}``: a corpus by its name, a manifest by its one ``corpus`` value, else its
    file stem. The label map applies as to the training data; every class is kept, since
    what a test set is scored on depends on the model (the classes it learns)."""
    inputs = [((), [spec], None) for spec in corpora]
    inputs += [([m], (), Path(m).stem) for m in manifests]
    out: dict[str, pd.DataFrame] = {}
    for manifest, corpus, stem in inputs:
        [(_, frame)] = _read_inputs(manifest, corpus, manifest_options)
        names = list(dict.fromkeys(frame["corpus"].astype(str)))
        name = names[0] if len(names) == 1 or stem is None else stem
        if name in out:
            raise DataError(
                f"--test-corpus/--test-manifest: test set name {name!r} given twice; give "
                "each test set once (a manifest is named by its corpus column, else its file "
                "stem)"
            )
        out[name], _ = combine_manifests({name: frame}, classes="union", label_map=label_map)
    return out
