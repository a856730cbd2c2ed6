"""``python -m emoclassic.cli``: the same as the ``emoclassic`` console script."""

from . import main

if __name__ == "__main__":  # pragma: no cover
    main()
