"""Readers of the acted corpora whose labels live in the file names.

RAVDESS, CREMA-D, TESS, EmoDB, SAVEE and EMOVO encode speaker, emotion and (where there is
one) the sentence in every file name, so each reader is a walk plus a name parser:
:func:`_read_named` walks, and each reader gives its parser. CREMA-D's crowd votes come from
its ``processedResults/tabulatedVotes.csv`` when the file is there. Files that do not follow the
naming are skipped with a warning; a folder with no matching file is an error.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import ConfigError, DataError
from ._labels import is_canonical, to_canonical
from ._scan import AUDIO_SUFFIXES, SkipLog, finish, require_dir, walk_files
from ._votes import format_votes

__all__ = [
    "read_ravdess",
    "read_cremad",
    "read_cremad_votes",
    "read_tess",
    "read_emodb",
    "read_savee",
    "read_emovo",
]

logger = logging.getLogger(__name__)


def _record(path: Path, **fields: Any) -> dict[str, Any]:
    return {"path": os.path.abspath(path), **fields}


#: ``parse(path, skips)``: the record of one file, or None (having logged why in ``skips``
#: when the file does not follow the naming)
_Parser = Callable[[Path, SkipLog], dict[str, Any] | None]


def _read_named(
    corpus: str,
    folder: Path,
    layout: str,
    parse: _Parser,
    *,
    suffixes: Sequence[str] = AUDIO_SUFFIXES,
    extra_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """The manifest of the files under ``folder`` (with ``suffixes``) that ``parse`` reads."""
    skips = SkipLog(corpus)
    records = []
    for path in walk_files(folder, suffixes):
        record = parse(path, skips)
        if record is not None:
            records.append(record)
    return finish(
        records,
        corpus=corpus,
        folder=folder,
        layout=layout,
        skips=skips,
        extra_columns=extra_columns,
    )


# --------------------------------------------------------------------------- RAVDESS
RAVDESS_LAYOUT = "ROOT/Actor_01/03-01-05-02-01-01-01.wav (.wav or .flac)"
RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happiness",
    "04": "sadness",
    "05": "anger",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}
RAVDESS_STATEMENTS = {
    "01": "Kids are talking by the door",
    "02": "Dogs are sitting by the door",
}
_RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")


def read_ravdess(root: str | os.PathLike[str], *, include_song: bool = True) -> pd.DataFrame:
    """Read RAVDESS audio files (speech and, unless ``include_song=False``, song).

    Names are modality-channel-emotion-intensity-statement-repetition-actor; only audio-only
    files (modality 03) are read, videos are skipped with a warning.
    """
    folder = require_dir(root, "ravdess", RAVDESS_LAYOUT)

    def parse(path: Path, skips: SkipLog) -> dict[str, Any] | None:
        if path.suffix.lower() in _VIDEO_SUFFIXES:
            skips.skip(path, "video file; only the audio-only files (03-...) are read")
            return None
        match = _RAVDESS_NAME.match(path.stem)
        if match is None:
            skips.skip(path, "name is not MM-CC-EE-II-SS-RR-AA (e.g. 03-01-05-02-01-01-01)")
            return None
        modality, channel, emotion, intensity, statement, repetition, actor = match.groups()
        if modality != "03":
            skips.skip(path, f"modality {modality} is not 03 (audio-only)")
            return None
        if (
            channel not in ("01", "02")
            or emotion not in RAVDESS_EMOTIONS
            or intensity not in ("01", "02")
            or statement not in RAVDESS_STATEMENTS
        ):
            skips.skip(
                path,
                "a code is out of range (channel 01-02, emotion 01-08, "
                "intensity 01-02, statement 01-02)",
            )
            return None
        if channel == "02" and not include_song:
            return None
        return _record(
            path,
            id=path.stem,
            text=RAVDESS_STATEMENTS[statement],
            label=RAVDESS_EMOTIONS[emotion],
            label_original=emotion,
            speaker=actor,
            intensity="normal" if intensity == "01" else "strong",
            vocal_channel="speech" if channel == "01" else "song",
            repetition=int(repetition),
            gender="male" if int(actor) % 2 else "female",
        )

    return _read_named(
        "ravdess",
        folder,
        RAVDESS_LAYOUT,
        parse,
        suffixes=AUDIO_SUFFIXES + _VIDEO_SUFFIXES,
        extra_columns=("intensity", "vocal_channel", "repetition", "gender"),
    )


# --------------------------------------------------------------------------- CREMA-D
CREMAD_LAYOUT = "ROOT/AudioWAV/1001_DFA_ANG_XX.wav (actor_sentence_emotion_level)"
CREMAD_SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
CREMAD_EMOTIONS = {
    "ANG": "anger",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happiness",
    "NEU": "neutral",
    "SAD": "sadness",
}
CREMAD_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
_CREMAD_NAME = re.compile(r"^(\d{4})_([A-Za-z]{3})_([A-Za-z]{3})_([A-Za-z]{2})$")


#: presentations of CREMA-D's crowd ratings: the id of a tabulatedVotes.csv row is
#: ``100000 * presentation + clip number`` (1 voice only, 2 face only, 3 both)
CREMAD_PRESENTATIONS = {"audio": 1, "video": 2, "audiovisual": 3}
#: the vote columns of tabulatedVotes.csv (raters who chose each emotion)
CREMAD_VOTE_COLUMNS = {"A": "ANG", "D": "DIS", "F": "FEA", "H": "HAP", "N": "NEU", "S": "SAD"}
CREMAD_VOTES_FILE = "processedResults/tabulatedVotes.csv"


def _cremad_votes_file(folder: Path) -> Path | None:
    """``processedResults/tabulatedVotes.csv`` beside ``AudioWAV/`` (ROOT or AudioWAV given)."""
    base = folder.parent if folder.name == "AudioWAV" else folder
    path = base / CREMAD_VOTES_FILE
    return path if path.is_file() else None


def read_cremad_votes(path: str | os.PathLike[str], presentation: str = "audio"
                      ) -> dict[str, dict[str, float]]:  # fmt: skip
    """``{clip: {canonical emotion: raters}}`` from CREMA-D's ``tabulatedVotes.csv``.

    ``presentation``: ``audio`` (voice only: what a speech model hears, the default),
    ``video`` or ``audiovisual``. Raises :class:`DataError` naming the file and line when the
    table is not the published one.
    """
    if presentation not in CREMAD_PRESENTATIONS:
        raise ConfigError(
            f"cremad: votes={presentation!r}; use one of {', '.join(CREMAD_PRESENTATIONS)} "
            "or none"
        )
    file = Path(path)
    wanted = CREMAD_PRESENTATIONS[presentation]
    with open(file, encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows, [])
        need = [*CREMAD_VOTE_COLUMNS, "fileName"]
        missing = [c for c in need if c not in header]
        if not header or missing:
            raise DataError(
                f"{file}: not CREMA-D's tabulatedVotes.csv (no column(s) "
                f"{', '.join(missing or need)}); give the file from the corpus's processedResults/"
            )
        where = {c: header.index(c) for c in need}
        out: dict[str, dict[str, float]] = {}
        for number, row in enumerate(rows, start=2):
            if not row:
                continue
            try:
                kind = int(row[0]) // 100000
                counts = {CREMAD_EMOTIONS[code]: float(row[where[c]])
                          for c, code in CREMAD_VOTE_COLUMNS.items()}  # fmt: skip
                clip = row[where["fileName"]].strip()
            except (ValueError, IndexError):
                raise DataError(
                    f"{file}: line {number} is not id,A,D,F,H,N,S,fileName,... with whole "
                    "numbers; check the file against the corpus's processedResults/"
                ) from None
            if kind == wanted:
                out[clip] = {k: v for k, v in counts.items() if v > 0}
    return out


def read_cremad(root: str | os.PathLike[str], *, votes: str = "audio") -> pd.DataFrame:
    """Read CREMA-D from the folder holding ``AudioWAV/`` or from ``AudioWAV/`` itself.

    The label is the emotion the actor was asked to portray (the file name). When
    ``processedResults/tabulatedVotes.csv`` lies next to ``AudioWAV/``, ``votes`` holds the
    crowd's ratings of each clip: ``votes="audio"`` (voice only, the default), ``"video"``,
    ``"audiovisual"`` or ``"none"`` (no votes column). Listeners often disagree with the
    portrayed emotion, so the majority vote may differ from the label.
    """
    folder = require_dir(root, "cremad", CREMAD_LAYOUT)
    audio = folder / "AudioWAV"
    search = audio if audio.is_dir() else folder
    if votes != "none" and votes not in CREMAD_PRESENTATIONS:
        raise ConfigError(
            f"cremad: votes={votes!r}; use one of {', '.join(CREMAD_PRESENTATIONS)} or none"
        )
    table = None
    votes_file = _cremad_votes_file(search) if votes != "none" else None
    if votes_file is not None:
        table = read_cremad_votes(votes_file, votes)
        logger.info("cremad: %s votes of %d clips from %s", votes, len(table), votes_file)

    def parse(path: Path, skips: SkipLog) -> dict[str, Any] | None:
        match = _CREMAD_NAME.match(path.stem)
        if match is None:
            skips.skip(path, "name is not ACTOR_SENTENCE_EMOTION_LEVEL (e.g. 1001_DFA_ANG_XX)")
            return None
        actor, sentence, emotion, level = match.groups()
        sentence, emotion, level = sentence.upper(), emotion.upper(), level.upper()
        if sentence not in CREMAD_SENTENCES or emotion not in CREMAD_EMOTIONS:
            skips.skip(path, f"unknown sentence {sentence!r} or emotion {emotion!r} code")
            return None
        extra = {} if table is None else {"votes": format_votes(table.get(path.stem))}
        return _record(
            path,
            id=path.stem,
            text=CREMAD_SENTENCES[sentence],
            label=CREMAD_EMOTIONS[emotion],
            label_original=emotion,
            speaker=actor,
            intensity=CREMAD_LEVELS.get(level, level.lower()),
            **extra,
        )

    extra_columns = ("intensity",) if table is None else ("votes", "intensity")
    frame = _read_named("cremad", search, CREMAD_LAYOUT, parse, extra_columns=extra_columns)
    if table is not None:
        unrated = int(frame["votes"].isna().sum())
        if unrated:
            logger.warning("cremad: %d clip(s) have no row in %s (no votes)", unrated,
                           votes_file)  # fmt: skip
    return frame


# --------------------------------------------------------------------------- TESS
TESS_LAYOUT = "ROOT/OAF_angry/OAF_back_angry.wav, ROOT/YAF_pleasant_surprised/YAF_back_ps.wav"
_TESS_NAME = re.compile(r"^(OAF|YAF)_([A-Za-z]+)_([A-Za-z_]+)$", re.IGNORECASE)


def read_tess(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Read TESS: ``OAF_*``/``YAF_*`` folders of ``<speaker>_<word>_<emotion>.wav`` files.

    The text is the carrier phrase with the target word ("Say the word back").
    """
    folder = require_dir(root, "tess", TESS_LAYOUT)

    def parse(path: Path, skips: SkipLog) -> dict[str, Any] | None:
        match = _TESS_NAME.match(path.stem)
        if match is None:
            skips.skip(path, "name is not OAF_<word>_<emotion> or YAF_<word>_<emotion>")
            return None
        speaker, word, emotion = match.groups()
        label = to_canonical(emotion)
        if not is_canonical(label):
            skips.skip(path, f"unknown emotion {emotion!r}")
            return None
        word = word.lower()
        return _record(
            path,
            id=path.stem,
            text=f"Say the word {word}",
            label=label,
            label_original=emotion,
            speaker=speaker.upper(),
            word=word,
            gender="female",
        )

    return _read_named("tess", folder, TESS_LAYOUT, parse, extra_columns=("word", "gender"))


# --------------------------------------------------------------------------- EmoDB
EMODB_LAYOUT = "ROOT/wav/03a01Fa.wav (or .flac; in wav/, audio/ or ROOT itself)"
EMODB_EMOTIONS = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}
EMODB_SENTENCES = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
EMODB_GENDER = {
    "03": "male",
    "10": "male",
    "11": "male",
    "12": "male",
    "15": "male",
    "08": "female",
    "09": "female",
    "13": "female",
    "14": "female",
    "16": "female",
}
_EMODB_NAME = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])$")


def read_emodb(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the Berlin EmoDB: ``SSTTTEV`` names (speaker, text code, emotion letter, take)."""
    folder = require_dir(root, "emodb", EMODB_LAYOUT)

    def parse(path: Path, skips: SkipLog) -> dict[str, Any] | None:
        match = _EMODB_NAME.match(path.stem)
        if match is None:
            skips.skip(path, "name is not speaker+text+emotion+take (e.g. 03a01Fa)")
            return None
        speaker, text_code, emotion, version = match.groups()
        return _record(
            path,
            id=path.stem,
            text=EMODB_SENTENCES.get(text_code),
            label=EMODB_EMOTIONS[emotion],
            label_original=emotion,
            speaker=speaker,
            text_id=text_code,
            version=version,
            gender=EMODB_GENDER.get(speaker),
        )

    extra = ("text_id", "version", "gender")
    return _read_named("emodb", folder, EMODB_LAYOUT, parse, extra_columns=extra)


# --------------------------------------------------------------------------- SAVEE
SAVEE_LAYOUT = "ROOT/DC_a01.wav (speaker_emotion+number) or ROOT/AudioData/DC/a01.wav"
SAVEE_EMOTIONS = {
    "a": "anger",
    "d": "disgust",
    "f": "fear",
    "h": "happiness",
    "n": "neutral",
    "sa": "sadness",
    "su": "surprise",
}
_SAVEE_FLAT = re.compile(r"^([A-Z]{2})_(sa|su|a|d|f|h|n)(\d\d)$")
_SAVEE_NESTED = re.compile(r"^(sa|su|a|d|f|h|n)(\d\d)$")
_SAVEE_SPEAKER = re.compile(r"^[A-Z]{2}$")


def read_savee(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Read SAVEE in the flat (``DC_a01.wav``) or the original (``AudioData/DC/a01.wav``) layout."""
    folder = require_dir(root, "savee", SAVEE_LAYOUT)

    def parse(path: Path, skips: SkipLog) -> dict[str, Any] | None:
        flat = _SAVEE_FLAT.match(path.stem)
        nested = _SAVEE_NESTED.match(path.stem)
        if flat is not None:
            speaker, emotion, number = flat.groups()
        elif nested is not None and _SAVEE_SPEAKER.match(path.parent.name):
            speaker = path.parent.name
            emotion, number = nested.groups()
        else:
            skips.skip(path, "name is not DC_a01 style nor AudioData/<speaker>/a01 style")
            return None
        return _record(
            path,
            id=f"{speaker}_{emotion}{number}",
            label=SAVEE_EMOTIONS[emotion],
            label_original=emotion,
            speaker=speaker,
        )

    return _read_named("savee", folder, SAVEE_LAYOUT, parse)


# --------------------------------------------------------------------------- EMOVO
EMOVO_LAYOUT = (
    "ROOT/audio/f1/rab-f1-b1.flac (emotion-speaker-sentence; .flac or .wav; "
    "or ROOT/f1/rab-f1-b1.wav)"
)
EMOVO_EMOTIONS = {
    "dis": "disgust",
    "gio": "happiness",  # gioia, joy
    "neu": "neutral",
    "pau": "fear",  # paura
    "rab": "anger",  # rabbia
    "sor": "surprise",  # sorpresa
    "tri": "sadness",  # tristezza
}
#: sentence code -> (type, text), from the corpus paper (Costantini et al., LREC 2014)
EMOVO_SENTENCES = {
    "b1": ("short", "Gli operai si alzano presto."),
    "b2": ("short", "I vigili sono muniti di pistola."),
    "b3": ("short", "La cascata fa molto rumore."),
    "l1": ("long", "L'autunno prossimo Tony partirà per la Spagna nella prima metà di ottobre."),
    "l2": ("long", "Ora prendo la felpa di là ed esco per fare una passeggiata."),
    "l3": ("long", "Un attimo dopo s'è incamminato ... ed è inciampato."),
    "l4": ("long", "Vorrei il numero telefonico del Signor Piatti."),
    "n1": ("nonsense", "La casa forte vuole col pane."),
    "n2": ("nonsense", "La forza trova il passo e l'aglio rosso."),
    "n3": ("nonsense", "Il gatto sta scorrendo nella pera"),
    "n4": ("nonsense", "Insalata pastasciutta coscia d'agnello limoncello."),
    "n5": ("nonsense", "Uno quarantatré dieci mille cinquantasette venti."),
    "d1": ("question", "Sabato sera cosa farà?"),
    "d2": ("question", "Porti con te quella cosa?"),
}
_EMOVO_NAME = re.compile(r"^([a-z]{3})-([fm]\d)-([a-z]\d)$", re.IGNORECASE)


def read_emovo(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Read EMOVO (Italian): ``<emotion>-<speaker>-<sentence>`` names, e.g. ``rab-f1-b1``.

    The files may sit in ``audio/<speaker>/`` (the shared copy), ``<speaker>/`` (the original
    release) or anywhere below ROOT. Emotion codes: dis disgust, gio happiness (joy), neu
    neutral, pau fear, rab anger, sor surprise, tri sadness. ``speaker`` = the actor code
    (f1..f3, m1..m3); ``text`` = the Italian sentence of the sentence code.
    """
    folder = require_dir(root, "emovo", EMOVO_LAYOUT)

    def parse(path: Path, skips: SkipLog) -> dict[str, Any] | None:
        match = _EMOVO_NAME.match(path.stem)
        if match is None:
            skips.skip(path, "name is not emotion-speaker-sentence (e.g. rab-f1-b1)")
            return None
        emotion, speaker, sentence = (part.lower() for part in match.groups())
        if emotion not in EMOVO_EMOTIONS or sentence not in EMOVO_SENTENCES:
            skips.skip(path, f"unknown emotion {emotion!r} or sentence {sentence!r} code")
            return None
        kind, text = EMOVO_SENTENCES[sentence]
        return _record(
            path,
            id=f"{emotion}-{speaker}-{sentence}",
            text=text,
            label=EMOVO_EMOTIONS[emotion],
            label_original=emotion,
            speaker=speaker,
            text_id=sentence,
            sentence_type=kind,
            gender="female" if speaker.startswith("f") else "male",
        )

    extra = ("text_id", "sentence_type", "gender")
    return _read_named("emovo", folder, EMOVO_LAYOUT, parse, extra_columns=extra)
