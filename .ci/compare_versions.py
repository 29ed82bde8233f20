"""Print the packages whose versions differ between two pip-freeze style files.

    python .ci/compare_versions.py constraints.txt .ci/constraints-latest.txt.new

One line per package: ``name: old -> new`` (``-`` where a file lacks it), and a
count. Exit status 0 either way: differences are information, not failures.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path


def read_pins(path: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", line)
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    old, new = read_pins(argv[1]), read_pins(argv[2])
    moved = [(n, old.get(n, "-"), new.get(n, "-")) for n in sorted(set(old) | set(new)) if old.get(n) != new.get(n)]
    for name, a, b in moved:
        print(f"  {name}: {a} -> {b}")
    print(f"  {len(moved)} package(s) differ" if moved else "  none: the newest releases are the pinned ones")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
