"""Run GPU tests against the CPU-emulated _cuda module and a NumPy-backed fake
CuPy (both from this folder), to exercise the Python dispatch layer and the
tests themselves without a GPU. Usage (after building the module with
run_emulation.sh --python):

    python run_python_emulation.py MODULE.so [TEST_FILE ...] [pytest args]

Arguments naming existing .py files (or file::test ids) are the tests to run;
without any, every tests/test_cuda*.py."""
import importlib.util
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
root = here.parents[1]
sys.path.insert(0, str(here / "fake_cupy"))
spec = importlib.util.spec_from_file_location("facefuse._cuda", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
sys.modules["facefuse._cuda"] = mod
import facefuse  # noqa: E402

facefuse._cuda = mod
print(facefuse.cuda_status())
import pytest  # noqa: E402


def _test_path(arg: str):
    """The test file (or file::id) ``arg`` names, relative to the cwd or the repository; None if none."""
    file, sep, rest = arg.partition("::")
    if arg.startswith("-") or not file.endswith(".py"):
        return None
    for base in (Path.cwd(), root):
        if (base / file).is_file():
            return str((base / file).resolve()) + sep + rest
    return None


args = [a for a in sys.argv[2:] if _test_path(a) is None]
tests = [_test_path(a) for a in sys.argv[2:] if _test_path(a) is not None]
if not tests:
    tests = sorted(str(p) for p in (root / "tests").glob("test_cuda*.py"))
sys.exit(pytest.main([*tests, "-p", "no:cacheprovider", *args]))
