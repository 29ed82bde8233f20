"""Run the GPU tests (tests/test_cuda.py and tests/test_cuda_paste.py by default)
against the CPU-emulated _cuda module and a NumPy-backed fake CuPy (both from
this folder), to exercise the Python dispatch layer and the tests themselves
without a GPU. Usage (after building the module with run_emulation.sh --python):
    python run_python_emulation.py MODULE.so [TEST_FILE.py ...] [pytest args]
Arguments naming test files (ending in .py, optionally with ::test) replace the defaults."""
import importlib.util
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
tests = here.parents[1] / "tests"
sys.path.insert(0, str(here / "fake_cupy"))
spec = importlib.util.spec_from_file_location("facefuse._cuda", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
sys.modules["facefuse._cuda"] = mod
import facefuse  # noqa: E402

facefuse._cuda = mod
print(facefuse.cuda_status())
import pytest  # noqa: E402


def _is_test_file(arg: str) -> bool:
    return not arg.startswith("-") and arg.split("::")[0].endswith(".py")


rest = sys.argv[2:]
files = [a for a in rest if _is_test_file(a)]
args = [a for a in rest if not _is_test_file(a)]
if not files:
    files = [str(tests / "test_cuda.py"), str(tests / "test_cuda_paste.py")]
sys.exit(pytest.main([*files, "-p", "no:cacheprovider", *args]))
