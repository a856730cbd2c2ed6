"""The pipeline specs that ship inside the package, addressed by name.

The TOML files live in ``emoclassic/pipelines/`` (package data, so a wheel installed anywhere
has them); the repository's ``pipelines/`` is a link to that folder, so scripts and docs that
say ``pipelines/NAME.toml`` read the very same files (one source; a test checks it).

:func:`resolve_spec` is the one rule for what ``--pipeline X`` means: an existing file wins,
otherwise ``X`` (with or without ``.toml``) names a shipped spec. Keeping the lookup here, and
not in each command, means the CLI, :func:`emoclassic.spec.load_spec` and the demo agree.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .._paths import shown_path
from ..exceptions import ConfigError

__all__ = ["ShippedSpec", "shipped_specs", "shipped_spec_path", "resolve_spec"]


@dataclass(frozen=True)
class ShippedSpec:
    """One shipped spec: its name, one-line description, measured figures and file."""

    name: str
    description: str
    measured: str
    path: Path

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "description": self.description,
                "measured": self.measured, "path": str(self.path)}


def _folder() -> Path:
    # The package is installed as plain files (setuptools package data), so the traversable
    # is a real folder; Path() makes it usable by tomllib and by error messages.
    return Path(str(resources.files("emoclassic") / "pipelines"))


def shipped_spec_path(name: str) -> Path | None:
    """The file of the shipped spec ``name`` (``demo`` or ``demo.toml``), or None."""
    stem = name[:-5] if name.endswith(".toml") else name
    if not stem or any(sep in stem for sep in ("/", "\\", os.sep)) or stem.startswith("."):
        return None
    path = _folder() / f"{stem}.toml"
    return path if path.is_file() else None


def shipped_specs() -> list[ShippedSpec]:
    """Every shipped spec, sorted by name (reads only the TOML headers' keys)."""
    out = []
    for path in sorted(_folder().glob("*.toml")):
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        out.append(ShippedSpec(
            name=str(data.get("name", path.stem)),
            description=str(data.get("description", "")),
            measured=str(data.get("measured", "")),
            path=path,
        ))
    return out


def resolve_spec(path_or_name: str | os.PathLike) -> Path:
    """The spec file that ``--pipeline path_or_name`` means.

    An existing file is used as it is; otherwise a shipped spec of that name. The error names
    the folder a relative path was resolved against and lists the shipped names.
    """
    path = Path(path_or_name)
    if path.is_file():
        return path
    shipped = shipped_spec_path(str(path_or_name))
    if shipped is not None:
        return shipped
    names = ", ".join(s.name for s in shipped_specs())
    shown = shown_path(path)
    if path.is_dir():
        raise ConfigError(f"{shown}: is a folder; give a .toml spec file or one of the shipped "
                          f"names: {names}")
    raise ConfigError(
        f"{shown}: no such spec file and no shipped spec of that name; give a .toml path or "
        f"one of: {names} (see `emoclassic pipelines`)"
    )
