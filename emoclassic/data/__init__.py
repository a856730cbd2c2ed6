"""Data: the manifest schema, manifest files and the corpus readers.

Everything downstream (features, evaluation, the CLI) consumes one table of utterances, the
manifest; this subpackage produces and checks it and knows nothing about features or models.
New inputs for prediction (audio files and folders, a transcript, text alone) become manifest
rows here too.
"""

from ._acted import read_cremad, read_emodb, read_ravdess, read_savee, read_tess
from ._corpora import CORPORA, load_corpus, load_manifest_or_corpus, read_corpus
from ._iemocap import read_iemocap
from ._inputs import AUDIO_EXTENSIONS, collect_audio_files, files_to_manifest, prediction_inputs
from ._labels import CANONICAL_EMOTIONS, is_canonical, to_canonical
from ._manifest import (
    MANIFEST_COLUMNS,
    SPLITS,
    read_manifest,
    validate_manifest,
    write_manifest,
)
from ._meld import read_meld, repair_mojibake

__all__ = [
    "MANIFEST_COLUMNS",
    "SPLITS",
    "CANONICAL_EMOTIONS",
    "CORPORA",
    "read_manifest",
    "validate_manifest",
    "write_manifest",
    "to_canonical",
    "is_canonical",
    "repair_mojibake",
    "read_ravdess",
    "read_cremad",
    "read_tess",
    "read_emodb",
    "read_savee",
    "read_iemocap",
    "read_meld",
    "read_corpus",
    "load_corpus",
    "load_manifest_or_corpus",
    "make_demo_corpus",
    "make_scale_corpus",
    "AUDIO_EXTENSIONS",
    "collect_audio_files",
    "files_to_manifest",
    "prediction_inputs",
]


def __getattr__(name: str):
    # The demo generator pulls in scipy.signal; import it on first use so that
    # ``import emoclassic.data`` (and the CLI's start) stays fast.
    if name in ("make_demo_corpus", "make_scale_corpus"):
        from . import _demo

        return getattr(_demo, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "make_demo_corpus", "make_scale_corpus"})
