"""The package imports, its native core loads, and the build reports itself."""
from __future__ import annotations

import facefuse
from facefuse import _core


def test_import_and_version() -> None:
    assert isinstance(facefuse.__version__, str) and facefuse.__version__ not in ("", "dev")
    assert _core.__version__ == facefuse.__version__


def test_threads_roundtrip() -> None:
    n = _core.max_threads()
    assert n >= 1
    _core.set_threads(1)
    try:
        assert _core.max_threads() == 1 or not _core.openmp
    finally:
        _core.set_threads(n)
    assert _core.max_threads() == n


def test_public_api_is_exported() -> None:
    for name in facefuse.ops.__all__:
        assert getattr(facefuse, name) is getattr(facefuse.ops, name)
