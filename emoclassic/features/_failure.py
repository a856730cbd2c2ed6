"""One record for an item that could not be used, the same from extraction to the CLI.

Before, failures were ``(id, message)`` pairs from the extractors, ``{id, block, message}``
dicts from the CV and ``{id, path, error}`` dicts from prediction; every consumer reconciled
them. One frozen record with the row id, the audio path, the block and the message serves
them all, and turns into JSON with :meth:`Failure.to_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Failure"]


@dataclass(frozen=True)
class Failure:
    """One item that could not be used: which row, which file, which block, and why."""

    id: str
    path: str | None = None
    block: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    def line(self) -> str:
        """``id: [block] message`` for a person (the message without a repeated id or path)."""
        msg = " ".join(self.message.split())
        for prefix in (self.path, self.id):
            if prefix and msg.startswith(f"{prefix}: "):
                msg = msg[len(prefix) + 2:]
                break
        return f"{self.id}: {f'[{self.block}] ' if self.block else ''}{msg}"
