"""The one atomic-write helper: content, umask permissions, cleanup, error naming."""

from __future__ import annotations

import errno
import json
import os
import stat
import sys

import numpy as np
import pytest

from emoclassic._atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_writers_content_and_umask_permissions(tmp_path, umask022):
    out = tmp_path / "sub" / "dir"  # parents are created
    b = atomic_write_bytes(out / "a.bin", b"\x00\x01hi")
    t = atomic_write_text(out / "b.txt", "line1\r\nline2\nü")
    j = atomic_write_json(out / "c.json", {"x": [1, 2.5], "name": "Ärger"})
    assert b.read_bytes() == b"\x00\x01hi"
    assert t.read_bytes() == "line1\r\nline2\nü".encode()  # written exactly, no translation
    raw = j.read_text(encoding="utf-8")
    assert raw.endswith("}\n") and "Ärger" in raw  # ensure_ascii=False, trailing newline
    assert json.loads(raw) == {"x": [1, 2.5], "name": "Ärger"}
    for p in (b, t, j):
        assert _mode(p) == 0o644, oct(_mode(p))
    assert _leftovers(out) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_permissions_follow_a_different_umask(tmp_path):
    old = os.umask(0o027)
    try:
        p = atomic_write_bytes(tmp_path / "x", b"1")
    finally:
        os.umask(old)
    assert _mode(p) == 0o640


def test_atomic_path_by_name_and_suffix(tmp_path, umask022):
    target = tmp_path / "arr.npy"
    with atomic_path(target, suffix=".npy") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".npy") and tmp != target
        assert not target.exists()
        np.save(tmp, np.arange(3))
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert _leftovers(tmp_path) == []


def test_failure_inside_block_keeps_old_content_and_no_temp(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("boom")
    assert target.read_text(encoding="utf-8") == "old"
    assert _leftovers(tmp_path) == []


def test_json_refuses_non_json_values_and_leaves_nothing(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("{}\n", encoding="utf-8")
    with pytest.raises(ValueError):
        atomic_write_json(target, {"x": float("nan")})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"x": np.float32(1.0)})  # no conversion here
    assert target.read_text(encoding="utf-8") == "{}\n"
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_unwritable_folder_names_the_target(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    target = locked / "model.json"
    try:
        try:
            (locked / "probe").touch()
        except PermissionError:
            pass
        else:
            pytest.skip("this user (root) may write into a read-only folder")
        with pytest.raises(PermissionError) as info:
            atomic_write_bytes(target, b"x")
        assert info.value.filename == str(target)
        assert info.value.errno == errno.EACCES
        assert str(target) in str(info.value)
        with pytest.raises(PermissionError) as info, atomic_path(locked / "sub" / "f"):
            pass
        assert info.value.filename == str(locked / "sub" / "f")  # folder creation too
    finally:
        locked.chmod(0o700)
    assert list(locked.iterdir()) == []


def test_folder_blocked_by_a_file_names_the_target(tmp_path):
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    target = tmp_path / "afile" / "model.json"
    with pytest.raises(OSError) as info:
        atomic_write_text(target, "{}")
    assert info.value.filename == str(target)
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "x"


def test_temp_creation_error_names_the_target_not_the_temp(tmp_path, monkeypatch):
    """The path in the error is the one the user gave (runs as root too, unlike chmod)."""
    import emoclassic._atomic as atomic

    def denied(*, prefix, suffix, dir):
        raise PermissionError(errno.EACCES, "Permission denied", f"{dir}/{prefix}xyz{suffix}")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    target = tmp_path / "report.json"
    with pytest.raises(PermissionError) as info:
        atomic_write_json(target, {})
    assert info.value.filename == str(target)
    assert "xyz" not in str(info.value)
    assert not target.exists()
