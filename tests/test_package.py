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


def test_import_is_light_and_reference_loads_on_first_use() -> None:
    # `import facefuse` loads neither the reference oracle nor OpenCV (only the reference ops
    # use it); `facefuse.reference` still works as an attribute and in a from-import.
    import subprocess
    import sys

    code = (
        "import sys, facefuse\n"
        "print(sorted(m for m in ('facefuse.reference', 'cv2') if m in sys.modules))\n"
        "print(callable(facefuse.reference.paste_back))\n"
        "from facefuse import reference\n"
        "print(reference is sys.modules['facefuse.reference'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:3] == ["[]", "True", "True"], out


def test_build_dir_cannot_shadow_a_package() -> None:
    """scikit-build's build folder sits in the repository root, the first entry of sys.path
    for `python -m build`: a folder named like an importable package (build/) shadows it."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    m = re.search(r'^build-dir\s*=\s*"([^"]+)"', (root / "pyproject.toml").read_text(), re.M)
    assert m, "pyproject.toml sets no [tool.scikit-build] build-dir"
    top = m.group(1).split("/")[0]
    assert top.startswith("."), f"build-dir {top!r} is an importable name"
    assert f"/{top}/" in (root / ".gitignore").read_text()
