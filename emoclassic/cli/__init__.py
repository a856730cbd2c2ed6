"""emoclassic's command line: a thin Typer face over the public API.

Every command is a few lines over the library; heavy packages (scikit-learn, torch, librosa)
are imported inside the commands, so ``emoclassic --help`` starts fast.

Exit codes: 0 success; 1 a batch finished but some items failed (they are listed); 2 a usage,
data, configuration or model error (one line on stderr naming the file or field and the fix;
``--debug`` shows the traceback).

Layout: ``_app`` (the Typer app, error policy, logging, run state, ``main``), ``_options`` (the
shared options, declared once), ``_output`` (formats, progress, failed items, exit codes) and
one module per command, each registering its command on the app; they are imported below in
the order ``--help`` lists them.
"""

from __future__ import annotations

# isort: off
# The command modules register their commands on the app as they are imported: in this
# order, the order ``emoclassic --help`` lists them.
from . import _demo, _pipelines, _features, _cv, _fit, _score, _predict, _info  # noqa: F401
from . import _stream  # noqa: F401
from . import _serve  # noqa: F401
from . import _suggest  # noqa: F401
# isort: on

from ._app import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, app, main
from ._features import POOLED_PRESETS

# The function `_output` (tests import it from here), bound over the submodule's name.
from ._output import _output as _output

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_PARTIAL", "POOLED_PRESETS", "app", "main"]
