"""Data: the manifest schema, manifest files and the corpus readers.

Everything downstream (features, evaluation, the CLI) consumes one table of utterances, the
manifest; this subpackage produces and checks it and knows nothing about features or models.
New inputs for prediction (audio files and folders, a transcript, text alone) become manifest
rows here too.

Names are imported on first use: pandas (about 0.3 s) and the demo generator's scipy.signal
load only when asked for, so ``import emoclassic.data`` (and the CLI's start) stays fast, and
the fully cached command-line path reads plain manifests without pandas
(:mod:`emoclassic.data._rows`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:  # the names below, for type checkers and editors
    from ._acted import (
        read_cremad,
        read_cremad_votes,
        read_emodb,
        read_emovo,
        read_ravdess,
        read_savee,
        read_tess,
    )
    from ._combine import (
        CombineReport,
        combine_manifests,
        load_inputs,
        load_test_sets,
        parse_classes,
        read_label_map,
    )
    from ._corpora import CORPORA, load_corpus, load_manifest_or_corpus, read_corpus
    from ._demo import make_demo_corpus, make_scale_corpus
    from ._iemocap import read_iemocap
    from ._inputs import (
        AUDIO_EXTENSIONS,
        collect_audio_files,
        files_to_manifest,
        prediction_inputs,
    )
    from ._labels import CANONICAL_EMOTIONS, is_canonical, to_canonical
    from ._manifest import (
        MANIFEST_COLUMNS,
        SPLITS,
        VOTE_COLUMNS,
        read_manifest,
        validate_manifest,
        write_manifest,
    )
    from ._meld import read_meld, repair_mojibake

# public name -> submodule that defines it (imported on first access)
_LAZY = {
    "read_cremad": "_acted",
    "read_cremad_votes": "_acted",
    "read_emodb": "_acted",
    "read_emovo": "_acted",
    "read_ravdess": "_acted",
    "read_savee": "_acted",
    "read_tess": "_acted",
    "CombineReport": "_combine",
    "combine_manifests": "_combine",
    "load_inputs": "_combine",
    "load_test_sets": "_combine",
    "parse_classes": "_combine",
    "read_label_map": "_combine",
    "CORPORA": "_corpora",
    "load_corpus": "_corpora",
    "load_manifest_or_corpus": "_corpora",
    "read_corpus": "_corpora",
    "make_demo_corpus": "_demo",
    "make_scale_corpus": "_demo",
    "read_iemocap": "_iemocap",
    "AUDIO_EXTENSIONS": "_inputs",
    "collect_audio_files": "_inputs",
    "files_to_manifest": "_inputs",
    "prediction_inputs": "_inputs",
    "CANONICAL_EMOTIONS": "_labels",
    "is_canonical": "_labels",
    "to_canonical": "_labels",
    "MANIFEST_COLUMNS": "_manifest",
    "VOTE_COLUMNS": "_manifest",
    "SPLITS": "_manifest",
    "read_manifest": "_manifest",
    "validate_manifest": "_manifest",
    "write_manifest": "_manifest",
    "read_meld": "_meld",
    "repair_mojibake": "_meld",
}

__all__ = [
    "MANIFEST_COLUMNS",
    "VOTE_COLUMNS",
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
    "read_cremad_votes",
    "read_tess",
    "read_emodb",
    "read_savee",
    "read_emovo",
    "read_iemocap",
    "read_meld",
    "read_corpus",
    "load_corpus",
    "load_manifest_or_corpus",
    "combine_manifests",
    "load_inputs",
    "load_test_sets",
    "read_label_map",
    "parse_classes",
    "CombineReport",
    "make_demo_corpus",
    "make_scale_corpus",
    "AUDIO_EXTENSIONS",
    "collect_audio_files",
    "files_to_manifest",
    "prediction_inputs",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
