"""Benchmark conventions and the ratio table printed after a run.

Every benchmark sets ``benchmark.group`` to the case (op, size, dtype) and
``benchmark.extra_info["impl"]`` to ``"native"``, ``"reference"`` or another
contender (``"opencv"``). After the run a table gives, per case, each impl's
median and its speed-up over the reference measured in the same run.
Run: ``pytest bench`` (add ``--benchmark-json out.json`` to keep raw numbers).
"""
from __future__ import annotations

import pytest


def _machine() -> str:
    from facefuse.cli import machine_info

    info = machine_info()
    return f"{info['cpu']}, {info['logical_cores']} logical cores, {info.get('threads', 1)} threads"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    session = getattr(config, "_benchmarksession", None)
    benches = getattr(session, "benchmarks", None) or []
    groups: dict[str, dict[str, float]] = {}
    for b in benches:
        impl = (b.extra_info or {}).get("impl")
        if impl is None or b.stats is None:
            continue
        groups.setdefault(b.group or b.name, {})[impl] = b.stats.median
    if not groups:
        return
    tw = terminalreporter
    tw.write_line("")
    tw.write_line(f"facefuse speed-ups over the reference (medians; machine: {_machine()})")
    tw.write_line("| case | impl | median ms | x reference |")
    tw.write_line("|---|---|---:|---:|")
    for group in sorted(groups):
        impls = groups[group]
        ref = impls.get("reference")
        for impl in sorted(impls, key=lambda k: (k != "reference", k)):
            ratio = f"{ref / impls[impl]:.1f}" if ref else "-"
            tw.write_line(f"| {group} | {impl} | {impls[impl] * 1e3:.3f} | {ratio} |")


@pytest.fixture(scope="session")
def bench_rng():
    import numpy as np

    return np.random.default_rng(2024)
