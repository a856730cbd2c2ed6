"""MELD reader: the three ``*_sent_emo.csv`` files, optional audio clips, mojibake repair."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import DataError
from ._labels import to_canonical
from ._manifest import SPLITS
from ._scan import AUDIO_SUFFIXES, SkipLog, finish, require_dir, walk_files

__all__ = ["read_meld", "repair_mojibake"]

logger = logging.getLogger(__name__)

MELD_LAYOUT = (
    "ROOT/train_sent_emo.csv, ROOT/dev_sent_emo.csv, ROOT/test_sent_emo.csv "
    "(+ optional clips AUDIO_DIR/train_splits/dia0_utt0.wav ...)"
)
MELD_REQUIRED = ("Utterance", "Speaker", "Emotion", "Dialogue_ID", "Utterance_ID")
_AUDIO_FOLDERS = (
    "train_splits",
    "dev_splits_complete",
    "output_repeated_splits_test",
    "train",
    "dev",
    "test",
    "audio",
    "wav",
    "clips",
)
_CLIP_NAME = re.compile(r"dia(\d+)_utt(\d+)$", re.IGNORECASE)

# ---------------------------------------------------------------- mojibake repair
# cp1252 punctuation that reached the CSVs as C1 control characters (U+0080-U+009F), and
# UTF-8 bytes that were decoded as cp1252 or Latin-1 ("â€™", "â\x80\x99"), both occur in
# MELD releases. Repairs go back to the intended character, then typographic punctuation
# folds to ASCII so a tokenizer sees one apostrophe, not three.
_CP1252_TO_BYTE: dict[str, int] = {}
for _byte in range(0x80, 0x100):
    _CP1252_TO_BYTE[chr(_byte)] = _byte
    with contextlib.suppress(UnicodeDecodeError):
        _CP1252_TO_BYTE[bytes([_byte]).decode("cp1252")] = _byte
_CONT = "".join(re.escape(ch) for ch, b in _CP1252_TO_BYTE.items() if 0x80 <= b <= 0xBF)
_MOJIBAKE = re.compile(
    f"[\u00c2-\u00df][{_CONT}]|[\u00e0-\u00ef][{_CONT}]{{2}}|[\u00f0-\u00f4][{_CONT}]{{3}}"
)
_C1 = re.compile("[\u0080-\u009f]")
_FOLD = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u2014": "--",
        "\u2013": "-",
    }
)


def _undo_double_decoding(match: re.Match[str]) -> str:
    raw = bytes(_CP1252_TO_BYTE[ch] for ch in match.group(0))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return match.group(0)


def _c1_to_cp1252(match: re.Match[str]) -> str:
    try:
        return bytes([ord(match.group(0))]).decode("cp1252")
    except UnicodeDecodeError:
        return ""


def repair_mojibake(text: str) -> str:
    """Repair cp1252/UTF-8 mojibake and fold typographic punctuation to ASCII.

    ``"You must\\x92ve"`` and ``"You mustâ€™ve"`` both become ``"You must've"``;
    ``\\x85`` becomes ``"..."`` and ``\\x97`` becomes ``"--"``.
    """
    text = _MOJIBAKE.sub(_undo_double_decoding, text)
    text = _C1.sub(_c1_to_cp1252, text)
    return text.translate(_FOLD)


# ---------------------------------------------------------------- CSV and clips
def _find_csvs(folder: Path) -> dict[str, Path]:
    """The shallowest ``{split}_sent_emo.csv`` per split within three levels of ``folder``."""
    wanted = {f"{split}_sent_emo.csv": split for split in SPLITS}
    found: dict[str, tuple[int, Path]] = {}
    base_depth = len(folder.parts)
    for dirpath, dirnames, filenames in os.walk(folder):
        depth = len(Path(dirpath).parts) - base_depth
        if depth >= 3:
            dirnames[:] = []
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            split = wanted.get(name.lower())
            if split and (split not in found or depth < found[split][0]):
                found[split] = (depth, Path(dirpath) / name)
    return {split: found[split][1] for split in SPLITS if split in found}


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Latin-1 never fails; repair_mojibake then maps the C1 range through cp1252.
        logger.info("meld: %s is not UTF-8; read as cp1252", path)
        return data.decode("latin-1")


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            io.StringIO(_decode(path)), dtype=str, keep_default_na=False, na_values=[""]
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise DataError(
            f"meld: cannot parse {path} as CSV ({reason}); use the original file"
        ) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in MELD_REQUIRED:
        if column not in frame.columns:
            raise DataError(
                f"meld: {path} has no column {column!r}; MELD files need the columns "
                f"{', '.join(MELD_REQUIRED)} (found: {', '.join(frame.columns) or 'none'})"
            )
    return frame


def _split_of(name: str) -> str | None:
    lowered = name.lower()
    tokens = set(re.split(r"[^a-z]+", lowered))
    hits = set()
    if "train" in lowered:
        hits.add("train")
    if "dev" in lowered or tokens & {"val", "valid", "validation"}:
        hits.add("dev")
    if "test" in lowered:
        hits.add("test")
    return hits.pop() if len(hits) == 1 else None


def _index_clips(
    audio_dir: Path,
) -> tuple[dict[tuple[str, int, int], Path], dict[tuple[int, int], Path]]:
    by_split: dict[tuple[str, int, int], Path] = {}
    unsplit: dict[tuple[int, int], Path] = {}
    for path in walk_files(audio_dir, AUDIO_SUFFIXES):
        match = _CLIP_NAME.search(path.stem)
        if match is None:
            continue
        key = (int(match.group(1)), int(match.group(2)))
        split = None
        relative = path.relative_to(audio_dir)
        candidates = [*reversed(relative.parts[:-1]), path.stem[: match.start()], audio_dir.name]
        for part in candidates:
            split = _split_of(part)
            if split:
                break
        if split:
            by_split.setdefault((split, *key), path)
        else:
            unsplit.setdefault(key, path)
    return by_split, unsplit


def _int_or_none(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def read_meld(
    root: str | os.PathLike[str], *, audio_dir: str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """Read MELD's train/dev/test CSVs (split from the file), with audio clips when available.

    Clips named ``dia{D}_utt{U}.wav`` (or ``.flac``) are matched by dialogue and utterance id,
    and by split through a folder name holding train/dev/test (``train_splits/``,
    ``dev_splits_complete/``, ``output_repeated_splits_test/``...). Without ``audio_dir``,
    ``root`` is searched when it holds such a folder; otherwise the manifest is text-only.
    ``dialogue_id`` is ``"{split}_{Dialogue_ID}"`` because MELD restarts ids in every split.
    """
    folder = require_dir(root, "meld", MELD_LAYOUT)
    csvs = _find_csvs(folder)
    if not csvs:
        raise DataError(
            f"meld: no train_sent_emo.csv, dev_sent_emo.csv or test_sent_emo.csv in {folder} "
            f"(searched 3 levels deep); expected the layout {MELD_LAYOUT}"
        )
    for split in SPLITS:
        if split not in csvs:
            logger.warning(
                "meld: no %s_sent_emo.csv under %s; that split is left out", split, folder
            )
    clip_dir: Path | None = None
    if audio_dir is not None:
        clip_dir = require_dir(audio_dir, "meld audio", "AUDIO_DIR/train_splits/dia0_utt0.wav")
    elif any((folder / name).is_dir() for name in _AUDIO_FOLDERS):
        clip_dir = folder
    by_split, unsplit = _index_clips(clip_dir) if clip_dir is not None else ({}, {})

    skips = SkipLog("meld")
    rows: list[dict[str, Any]] = []
    for split, csv in csvs.items():
        frame = _read_csv(csv)
        for number, row in enumerate(frame.to_dict("records"), start=1):
            dialogue = _int_or_none(row["Dialogue_ID"])
            utterance = _int_or_none(row["Utterance_ID"])
            emotion = row["Emotion"]
            if dialogue is None or utterance is None or not isinstance(emotion, str):
                skips.skip(
                    f"{csv} row {number}",
                    "Dialogue_ID/Utterance_ID is not a whole number or Emotion is empty",
                )
                continue
            text = row["Utterance"]
            text = repair_mojibake(text).strip() if isinstance(text, str) else None
            speaker = row["Speaker"]
            sentiment = row.get("Sentiment")
            rows.append(
                {
                    "id": f"{split}_dia{dialogue}_utt{utterance}",
                    "text": text or None,
                    "label": to_canonical(emotion),
                    "label_original": emotion.strip(),
                    "speaker": repair_mojibake(speaker) if isinstance(speaker, str) else None,
                    "dialogue_id": f"{split}_{dialogue}",
                    "utterance_index": utterance,
                    "split": split,
                    "sentiment": sentiment.strip() if isinstance(sentiment, str) else None,
                    "season": _int_or_none(row.get("Season")),
                    "episode": _int_or_none(row.get("Episode")),
                    "_key": (dialogue, utterance),
                }
            )

    splits_of_key: dict[tuple[int, int], set[str]] = defaultdict(set)
    for row in rows:
        splits_of_key[row["_key"]].add(row["split"])
    matched = ambiguous = 0
    records = []
    for row in rows:
        key = row.pop("_key")
        path = by_split.get((row["split"], *key))
        if path is None and key in unsplit:
            if len(splits_of_key[key]) == 1:
                path = unsplit[key]
            else:
                ambiguous += 1
        if path is not None:
            matched += 1
            row["path"] = os.path.abspath(path)
        if row.get("path") is None and row["text"] is None:
            skips.skip(row["id"], "empty Utterance and no audio clip")
            continue
        records.append(row)
    if ambiguous:
        logger.warning(
            "meld: %d clips sit in no train/dev/test folder and their dia/utt ids exist in "
            "several splits, so they were not used; put the clips in per-split folders "
            "(train_splits/, dev_splits_complete/, output_repeated_splits_test/)",
            ambiguous,
        )
    if clip_dir is not None:
        logger.info(
            "meld: %d of %d utterances matched an audio clip in %s", matched, len(records), clip_dir
        )
        if audio_dir is not None and matched == 0:
            raise DataError(
                f"meld: no clip in {clip_dir} matches a row (expected names like "
                "train_splits/dia0_utt0.wav, with .wav or .flac); convert the MELD mp4 clips "
                "to wav or leave audio_dir out for a text-only manifest"
            )
    return finish(
        records,
        corpus="meld",
        folder=folder,
        layout=MELD_LAYOUT,
        skips=skips,
        extra_columns=("sentiment", "season", "episode"),
    )
