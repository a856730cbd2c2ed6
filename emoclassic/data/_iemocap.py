"""IEMOCAP reader: labels and votes from EmoEvaluation, audio from sentences/wav, text from
transcriptions.

Each turn of an EmoEvaluation file is a summary line (times, turn, the consensus code, mean
valence/activation/dominance) followed by every evaluator's judgements:
``C-E2:<TAB>Neutral;<TAB>()`` lines give an external evaluator's categories (one or several,
``;``-separated; a comment in brackets), ``C-F1``/``C-M1`` the actors' self-assessments and
``A-...`` the dimensional ratings.
The external evaluators' categories become the row's ``votes`` (each category named counts
one vote), mapped like the labels; the consensus code stays the ``label``. A turn whose
evaluators had no majority (``xxx``) is kept with its votes and no label when some vote falls
in the chosen classes: soft-label training can learn from it, metrics leave it out.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import ConfigError
from ._labels import to_canonical
from ._scan import AUDIO_SUFFIXES, SkipLog, finish, no_match, require_dir
from ._votes import format_votes, map_votes

__all__ = ["read_iemocap"]

logger = logging.getLogger(__name__)

IEMOCAP_LAYOUT = (
    "ROOT/IEMOCAP_full_release/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt, "
    "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav, "
    "Session1/dialog/transcriptions/Ses01F_impro01.txt"
)
IEMOCAP_CLASSES: dict[int, dict[str, str]] = {
    4: {
        "neu": "neutral",
        "hap": "happiness",
        "exc": "happiness",
        "sad": "sadness",
        "ang": "anger",
    },
    6: {
        "neu": "neutral",
        "hap": "happiness",
        "sad": "sadness",
        "ang": "anger",
        "exc": "excitement",
        "fru": "frustration",
    },
}
_EVAL_LINE = re.compile(r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s+(\S+)\s+(\S+)\s+\[([^\]]*)\]")
#: an external evaluator's categories: ``C-E2:<TAB>Frustration; Anger;<TAB>(comment)``
_VOTE_LINE = re.compile(r"^C-E\d+:\s*([^(]*)")
#: the category names of the evaluators' lines (and of EmoEvaluation/Categorical) -> codes
IEMOCAP_CATEGORIES = {
    "neutral": "neu",
    "neutral state": "neu",
    "happiness": "hap",
    "excited": "exc",
    "sadness": "sad",
    "anger": "ang",
    "frustration": "fru",
    "surprise": "sur",
    "fear": "fea",
    "disgust": "dis",
    "other": "oth",
}
#: the consensus code of a turn whose evaluators had no majority
NO_MAJORITY = "xxx"
_TRANSCRIPT_LINE = re.compile(r"^(\S+)\s+\[[^\]]*\]:\s?(.*)$")
_SESSION_DIR = re.compile(r"^Session\d+$")
_UTT_PREFIX = re.compile(r"^(Ses\d+)")


def _release_root(folder: Path) -> Path | None:
    for candidate in (folder, folder / "IEMOCAP_full_release"):
        if candidate.is_dir() and any(
            p.is_dir() and _SESSION_DIR.match(p.name) for p in candidate.iterdir()
        ):
            return candidate
    return None


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def _transcripts(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    texts = {}
    for line in _read_lines(path):
        match = _TRANSCRIPT_LINE.match(line.strip())
        if match and match.group(2).strip():
            texts[match.group(1)] = match.group(2).strip()
    return texts


def _find_audio(folder: Path, stem: str) -> Path | None:
    for suffix in AUDIO_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _vad(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    return values if len(values) == 3 else [float("nan")] * 3


def _vote_codes(line: str) -> list[str] | None:
    """The category codes of an external evaluator's line, or None for any other line."""
    match = _VOTE_LINE.match(line)
    if match is None:
        return None
    names = (n.strip().lower() for n in match.group(1).split(";"))
    return [IEMOCAP_CATEGORIES.get(n, n) for n in names if n]


def _turns(lines: list[str]) -> list[tuple[float, float, str, str, list[float], dict]]:
    """``(start, end, utterance, code, vad, votes)`` of every turn; votes count the external
    evaluators' categories (raw codes) on the lines after the turn's summary line."""
    turns = []
    for raw in lines:
        line = raw.strip()
        match = _EVAL_LINE.match(line)
        if match:
            start, end, utt, code, vad = match.groups()
            turns.append((float(start), float(end), utt, code.lower(), _vad(vad), {}))
            continue
        codes = _vote_codes(line)
        if codes and turns:
            votes = turns[-1][5]
            for c in codes:
                votes[c] = votes.get(c, 0) + 1
    return turns


def read_iemocap(root: str | os.PathLike[str], *, classes: int = 4) -> pd.DataFrame:
    """Read IEMOCAP with the usual 4 classes (excited merged into happiness) or 6 classes.

    ``root`` is ``IEMOCAP_full_release`` or its parent. Speakers are ``Ses01_F``-style (one
    actor per session and gender); ``session`` is the usual cross-validation group.
    ``votes`` holds the external evaluators' categories (mapped like the labels: in 4-class,
    hap and exc votes both count for happiness; other categories keep their canonical name,
    e.g. frustration). Utterances of other categories (frustration in 4-class, surprise,
    fear...) are dropped; those without a majority (``xxx``) are kept with their votes and
    an empty label when a vote falls in the classes.
    """
    if classes not in IEMOCAP_CLASSES:
        raise ConfigError(f"iemocap: classes={classes!r} is not supported; use 4 or 6")
    table = IEMOCAP_CLASSES[classes]
    kept = set(table.values())
    folder = require_dir(root, "iemocap", IEMOCAP_LAYOUT)
    release = _release_root(folder)
    if release is None:
        raise no_match("iemocap", folder, IEMOCAP_LAYOUT)
    skips = SkipLog("iemocap")
    dropped: Counter[str] = Counter()
    records: list[dict[str, Any]] = []
    sessions = sorted(
        (p for p in release.iterdir() if p.is_dir() and _SESSION_DIR.match(p.name)),
        key=lambda p: int(p.name[len("Session") :]),
    )
    for session_dir in sessions:
        eval_dir = session_dir / "dialog" / "EmoEvaluation"
        if not eval_dir.is_dir():
            logger.warning("iemocap: %s has no dialog/EmoEvaluation folder; skipped", session_dir)
            continue
        for eval_file in sorted(eval_dir.glob("*.txt")):
            if eval_file.name.startswith("."):
                continue
            dialog = eval_file.stem
            turns = _turns(_read_lines(eval_file))
            if not turns:
                skips.skip(
                    eval_file, "no '[start - end]<TAB>utterance<TAB>label<TAB>[v, a, d]' line"
                )
                continue
            turns.sort(key=lambda t: (t[0], t[2]))
            texts = _transcripts(session_dir / "dialog" / "transcriptions" / f"{dialog}.txt")
            sentence_dir = session_dir / "sentences" / "wav" / dialog
            dialog_wav = _find_audio(session_dir / "dialog" / "wav", dialog)
            for position, (start, end, utt, code, vad, raw_votes) in enumerate(turns):
                votes = map_votes(raw_votes, lambda c: table.get(c) or to_canonical(c))
                in_classes = bool(votes) and any(label in kept for label in votes)
                if code not in table and not (code == NO_MAJORITY and in_classes):
                    dropped[code] += 1
                    continue
                path = _find_audio(sentence_dir, utt)
                seg_start = seg_end = float("nan")
                if path is None and dialog_wav is not None:
                    path, seg_start, seg_end = dialog_wav, start, end
                text = texts.get(utt)
                if path is None and text is None:
                    skips.skip(utt, f"neither {sentence_dir / utt}.wav nor a transcript line")
                    continue
                prefix = _UTT_PREFIX.match(utt)
                session = prefix.group(1) if prefix else session_dir.name
                gender = utt.rsplit("_", 1)[-1][:1].upper()
                records.append(
                    {
                        "id": utt,
                        "path": os.path.abspath(path) if path is not None else None,
                        "text": text,
                        "label": table.get(code),
                        "label_original": code,
                        "speaker": f"{session}_{gender}",
                        "dialogue_id": dialog,
                        "utterance_index": position,
                        "start": seg_start,
                        "end": seg_end,
                        "session": session,
                        "gender": {"F": "female", "M": "male"}.get(gender),
                        "valence": vad[0],
                        "activation": vad[1],
                        "dominance": vad[2],
                        "turn_start": start,
                        "turn_end": end,
                        "votes": format_votes(votes),
                    }
                )
    if dropped:
        logger.info(
            "iemocap: dropped %d utterances outside the %d classes (%s)",
            sum(dropped.values()),
            classes,
            ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())),
        )
    no_majority = sum(r["label"] is None for r in records)
    if no_majority:
        logger.info("iemocap: %d utterances without a majority (xxx) kept with their votes and "
                    "no label", no_majority)  # fmt: skip
    return finish(
        records,
        corpus="iemocap",
        folder=release,
        layout=IEMOCAP_LAYOUT,
        skips=skips,
        extra_columns=(
            "votes",
            "session",
            "gender",
            "valence",
            "activation",
            "dominance",
            "turn_start",
            "turn_end",
        ),
    )
