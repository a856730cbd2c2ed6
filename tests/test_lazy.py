"""The packages whose public names load on first use (:mod:`emoclassic._lazy`): every name
resolves to what its submodule defines, and the maps list exactly the submodules' names."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

LAZY_PACKAGES = ["emoclassic.audio", "emoclassic.data", "emoclassic.features", "emoclassic.fusion",
                 "emoclassic.models"]  # fmt: skip


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_lazy_name_is_its_submodules(package):
    pkg = importlib.import_module(package)
    assert sorted(pkg.__all__) == sorted(set(pkg.__all__)), "a name listed twice"
    assert set(pkg.__all__) <= set(pkg._LAZY), set(pkg.__all__) - set(pkg._LAZY)
    for name, module in pkg._LAZY.items():
        sub = importlib.import_module(f"{package}.{module}")
        assert getattr(pkg, name) is getattr(sub, name), name
    assert set(pkg.__all__) <= set(dir(pkg))


def test_models_map_is_the_submodules_all_lists():
    import emoclassic.models as models

    listed = set()
    for module in set(models._LAZY.values()):
        listed |= set(importlib.import_module(f"emoclassic.models.{module}").__all__)
    assert listed == set(models._LAZY) == set(models.__all__)


def test_unknown_name_is_an_attribute_error():
    import emoclassic.fusion

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        emoclassic.fusion.nope  # noqa: B018


def test_late_fusion_module_loads_without_the_pipeline_builder():
    """What unpickling a late-fusion model imports: its own module and the zoo, not the
    builder, the spec reader or the torch heads' modules (issue 16, fast start)."""
    code = (
        "import sys\n"
        "import emoclassic.fusion._late, emoclassic.models._zoo\n"
        "loaded = [m for m in ('emoclassic.fusion._build', 'emoclassic.spec', "
        "'emoclassic.models._lstm', 'emoclassic.models._attention', "
        "'emoclassic.fusion._attention') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
