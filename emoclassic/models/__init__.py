"""The classifier zoo: classical classifiers by name, with default grids, and the small torch
heads (an LSTM over frame sequences, attention fusion over feature blocks).

The public names are those of the submodules' ``__all__`` lists, re-exported here (one list
per name, in the module that defines it).
"""

from . import _attention, _lstm, _neural, _zoo
from ._attention import *  # noqa: F403
from ._lstm import *  # noqa: F403
from ._neural import *  # noqa: F403
from ._zoo import *  # noqa: F403

# the forms of the typing spec's library-interface rules, so type checkers see the names too
__all__: list[str] = []
__all__ += _attention.__all__
__all__ += _lstm.__all__
__all__ += _neural.__all__
__all__ += _zoo.__all__
