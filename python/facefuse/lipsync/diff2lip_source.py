"""Import Diff2Lip's ``guided_diffusion`` package from a checkout, with torch alone installed.

Diff2Lip's ``guided_diffusion`` imports ``blobfile`` and ``mpi4py`` (``dist_util``: multi-GPU
training and checkpoint loading) and ``torch.utils.tensorboard`` (``logger``: training logs)
when it is imported; building the model and running its diffusion code use none of them.
Installed or not (mpi4py without an MPI library raises RuntimeError on import), they are
replaced by stand-in modules while ``guided_diffusion`` imports, then the previous entries
of ``sys.modules`` come back. A stand-in that is actually used raises a RuntimeError naming
itself. Any failure while importing Diff2Lip's code becomes one ImportError saying so.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, Dict, Optional

__all__ = ["STAND_INS", "import_diff2lip"]

#: modules Diff2Lip's guided_diffusion imports but the model / diffusion code never uses
STAND_INS = ("blobfile", "mpi4py", "mpi4py.MPI", "torch.utils.tensorboard")


class _Unused:
    """An attribute of a stand-in module: any use raises, naming the module."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        raise RuntimeError(f"{self._name}.{attr}: a stand-in facefuse put in place while importing Diff2Lip's "
                           "code (only its model and diffusion code are used)")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{self._name}(): a stand-in facefuse put in place while importing Diff2Lip's code "
                           "(only its model and diffusion code are used)")


def _stand_in(name: str) -> types.ModuleType:
    mod = types.ModuleType(name, f"facefuse stand-in for {name} (importing Diff2Lip's code only)")

    def attr(a: str) -> Any:  # PEP 562; dunders (__file__, __spec__ ...) stay missing for importlib
        if a.startswith("__"):
            raise AttributeError(a)
        return _Unused(f"{name}.{a}")

    mod.__getattr__ = attr  # type: ignore[attr-defined]
    mod.__path__ = []  # a package: `from mpi4py import MPI` finds the submodule stand-in
    return mod


def import_diff2lip(source: Path) -> Any:
    """Diff2Lip's ``guided_diffusion.script_util`` from the checkout ``source`` (its
    ``guided-diffusion`` folder goes first on ``sys.path``); ``guided_diffusion.gaussian_diffusion``
    and ``guided_diffusion.respace`` are imported with it.

    Raises:
        FileNotFoundError: ``source`` has no ``guided-diffusion/guided_diffusion/script_util.py``.
        ImportError: importing Diff2Lip's code failed, whatever the exception (chained).
    """
    pkg = Path(source) / "guided-diffusion"
    if not (pkg / "guided_diffusion" / "script_util.py").is_file():
        raise FileNotFoundError(
            f"export-diff2lip: argument 'source' must be a checkout of Diff2Lip "
            f"(https://github.com/soumik-kanad/diff2lip) containing guided-diffusion/guided_diffusion/"
            f"script_util.py; not found under {str(source)!r}")
    if str(pkg) not in sys.path:
        sys.path.insert(0, str(pkg))
    saved: Dict[str, Optional[types.ModuleType]] = {n: sys.modules.get(n) for n in STAND_INS}
    try:
        import torch.utils  # the parent of the tensorboard stand-in must be the real one

        for name in STAND_INS:
            sys.modules[name] = _stand_in(name)
        sys.modules["mpi4py"].MPI = sys.modules["mpi4py.MPI"]  # type: ignore[attr-defined]
        from guided_diffusion import gaussian_diffusion, respace, script_util  # noqa: F401
    except Exception as e:
        raise ImportError(f"export-diff2lip: could not import Diff2Lip's guided_diffusion from {str(pkg)!r} "
                          f"(argument 'source'): {type(e).__name__}: {e}") from e
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod
    return script_util
