"""Run tests/test_cuda.py's GPU tests against the CPU-emulated _cuda module and a
NumPy-backed fake CuPy (both from this folder), to exercise the Python dispatch
layer and the tests themselves without a GPU. Usage (after building the module
with run_emulation.sh --python):  python run_python_emulation.py MODULE.so [pytest args]"""
import importlib.util
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here / "fake_cupy"))
spec = importlib.util.spec_from_file_location("facefuse._cuda", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
sys.modules["facefuse._cuda"] = mod
import facefuse  # noqa: E402

facefuse._cuda = mod
print(facefuse.cuda_status())
import pytest  # noqa: E402

sys.exit(pytest.main([str(here.parents[1] / "tests" / "test_cuda.py"), "-p", "no:cacheprovider", *sys.argv[2:]]))
