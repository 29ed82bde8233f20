"""``import facefuse`` makes OpenMP's workers sleep between calls (OMP_WAIT_POLICY=PASSIVE) unless
the user chose a policy: spinning workers take the cores of the threads beside them."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from facefuse import _core

pytestmark = pytest.mark.skipif(not getattr(_core, "openmp", False), reason="_core built without OpenMP")


def _policy_libgomp_read(env_value) -> str:
    """The wait policy the OpenMP runtime itself reports at start-up (OMP_DISPLAY_ENV)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["OMP_DISPLAY_ENV"] = "TRUE"
    if env_value is not None:
        env["OMP_WAIT_POLICY"] = env_value
    r = subprocess.run([sys.executable, "-c", "import facefuse, os; print(os.environ['OMP_WAIT_POLICY'])"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if "OMP_WAIT_POLICY =" in ln]
    if not lines:
        pytest.skip("this OpenMP runtime does not display its settings (OMP_DISPLAY_ENV)")
    return lines[0].split("=", 1)[1].strip().strip("'")


def test_passive_by_default() -> None:
    assert _policy_libgomp_read(None) == "PASSIVE"


def test_the_users_choice_is_kept() -> None:
    assert _policy_libgomp_read("ACTIVE") == "ACTIVE"


def test_bench_json_records_the_policy() -> None:
    from facefuse.cli import machine_info

    assert machine_info()["omp_wait_policy"] == os.environ.get("OMP_WAIT_POLICY")
