"""Compiling the package's C sources: several files linked into one library, rebuilt
when any of them changes, and a clear error without a compiler."""

from __future__ import annotations

import ctypes

import pytest

from seqgrasp_core.native.build import shared_library


def _write(path, text):
    path.write_text(text)
    return path


def test_two_sources_are_linked_and_a_changed_one_rebuilds(tmp_path):
    first = _write(tmp_path / "twice.c", "int twice(int x) { return 2 * x; }\n")
    second = _write(tmp_path / "four.c",
                    "int twice(int x);\nint times(int x) { return twice(twice(x)); }\n")
    built = shared_library((first, second), "linked_test")
    assert ctypes.CDLL(str(built)).times(3) == 12

    _write(second, "int twice(int x);\nint times(int x) { return twice(twice(twice(x))); }\n")
    rebuilt = shared_library((first, second), "linked_test")
    assert rebuilt != built and not built.exists()   # the stale build is removed
    assert ctypes.CDLL(str(rebuilt)).times(3) == 24
    assert shared_library((first, second), "linked_test") == rebuilt  # cached


def test_a_missing_compiler_is_an_os_error(tmp_path, monkeypatch):
    source = _write(tmp_path / "one.c", "int one(void) { return 1; }\n")
    monkeypatch.setenv("CC", "no-such-compiler-seqgrasp")
    with pytest.raises(OSError, match="no C compiler"):
        shared_library(source, "missing_compiler_test")
