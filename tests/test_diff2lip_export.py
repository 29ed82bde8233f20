"""export-diff2lip's failure modes that need torch but not Diff2Lip's code (issue 17, part 0):
Diff2Lip's training-only imports replaced by stand-ins, one clear error for any failure
importing its code, and an unreadable checkpoint named in one line. The export itself, with
Diff2Lip's real code: tests/test_diff2lip_reference.py."""
from __future__ import annotations

import os
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")

from facefuse.cli import main  # noqa: E402
from facefuse.lipsync.diff2lip_source import STAND_INS, import_diff2lip  # noqa: E402


@pytest.fixture
def fake_checkout(tmp_path, monkeypatch):
    """A folder laid out as Diff2Lip's checkout whose guided_diffusion imports what Diff2Lip's
    does at import time (blobfile, mpi4py.MPI, torch.utils.tensorboard); ``write(name, code)``
    changes a module. sys.path / sys.modules are restored afterwards."""
    pkg = tmp_path / "d2l" / "guided-diffusion" / "guided_diffusion"
    pkg.mkdir(parents=True)

    def write(name: str, code: str) -> None:
        (pkg / f"{name}.py").write_text(textwrap.dedent(code))

    write("__init__", "")
    write("dist_util", "import blobfile as bf\nfrom mpi4py import MPI\n"
                       "def rank():\n    return MPI.COMM_WORLD.Get_rank()\n")
    write("logger", "from torch.utils.tensorboard import SummaryWriter\n")
    write("gaussian_diffusion", "from . import dist_util\nVALUE = 42\n")
    write("respace", "from .gaussian_diffusion import VALUE\n")
    write("script_util", "from . import gaussian_diffusion, respace, logger\n")
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path / "d2l", write
    for name in set(sys.modules) - before:
        if name.split(".")[0] == "guided_diffusion":
            del sys.modules[name]


def test_training_imports_are_stood_in(fake_checkout, monkeypatch) -> None:
    src, _ = fake_checkout
    # mpi4py installed without an MPI library raises RuntimeError on import: never reached
    import types

    broken = types.ModuleType("mpi4py")
    broken.__path__ = []  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mpi4py", broken)
    monkeypatch.delitem(sys.modules, "mpi4py.MPI", raising=False)
    su = import_diff2lip(src)
    assert su.gaussian_diffusion.VALUE == 42
    assert sys.modules["mpi4py"] is broken and "mpi4py.MPI" not in sys.modules  # put back as they were
    assert "blobfile" not in sys.modules or not getattr(sys.modules["blobfile"], "__doc__", "").startswith("facefuse")
    with pytest.raises(RuntimeError, match="stand-in"):
        su.gaussian_diffusion.dist_util.rank()  # a stand-in that is used says what it is
    assert set(STAND_INS) >= {"blobfile", "mpi4py", "torch.utils.tensorboard"}


@pytest.mark.parametrize("code, kind", [
    ("raise RuntimeError('cannot load MPI library')\n", "RuntimeError"),
    ("import no_such_module_xyz\n", "ModuleNotFoundError"),
    ("def broken(:\n", "SyntaxError"),
])
def test_any_import_failure_is_one_clear_error(fake_checkout, code, kind, tmp_path, capsys) -> None:
    src, write = fake_checkout
    write("respace", code)
    with pytest.raises(ImportError, match=f"could not import Diff2Lip's guided_diffusion .*{kind}"):
        import_diff2lip(src)
    ckpt = tmp_path / "m.pt"
    torch.save({"w": torch.zeros(1)}, str(ckpt))
    rc = main(["export-diff2lip", "--checkpoint", str(ckpt), "--source", str(src), "-o", str(tmp_path / "d.onnx")])
    err = capsys.readouterr().err
    assert rc == 2 and "could not import Diff2Lip's guided_diffusion" in err and kind in err
    assert err.count("\n") == 1  # one line, no traceback
    assert not (tmp_path / "d.onnx").exists() and not (tmp_path / "d.pt2").exists()


@pytest.mark.parametrize("content, kind", [(b"", "EOFError"), (b"just some text\n", ""),
                                           (b"PK\x03\x04 not really a zip", "")])
def test_unreadable_checkpoint_is_named(tmp_path, capsys, content, kind) -> None:
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(content)
    rc = main(["export-diff2lip", "--checkpoint", str(ckpt), "--source", str(tmp_path), "-o", str(tmp_path / "d.onnx")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert f"argument --checkpoint: {str(ckpt)!r} is not a readable PyTorch checkpoint" in err and kind in err
    assert err.count("\n") == 1
    assert os.listdir(tmp_path) == ["model.pt"]


def test_checkpoint_that_is_not_a_state_dict(tmp_path, capsys) -> None:
    ckpt = tmp_path / "model.pt"
    torch.save([1, 2, 3], str(ckpt))
    assert main(["export-diff2lip", "--checkpoint", str(ckpt), "--source", str(tmp_path)]) == 2
    assert "holds a list, not a state dict" in capsys.readouterr().err
