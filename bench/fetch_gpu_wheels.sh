#!/usr/bin/env bash
# Download, HERE (a machine that reaches PyPI), the wheels the GPU machine lacks, into
# the git-ignored folder .gpu-wheels/, for bench/gpu_check.sh to install offline there.
#
# The GPU machine (see bench/gpu_check.sh) runs CPython 3.12 on x86-64 Linux with no
# registry access. Its image already has numpy, opencv-python-headless, matplotlib,
# onnx, onnxruntime (CPU), pytest, pytest-benchmark, hypothesis, scikit-image, scipy,
# scikit-learn, numba, joblib, msgpack, lazy-loader, requests, packaging, pyyaml, cupy
# and torch. What facefuse's dependencies and [dev] extra (pyproject.toml) still need:
#   av       -- runtime dependency (video I/O); tests/batch_helpers.py imports it at module
#               level, so without it `pytest tests/` cannot even collect.
#   librosa  -- [dev] extra (tests/test_lipsync_audio.py's oracle), and those of its own
#               requirements the image lacks: audioread, decorator, pooch (+ platformdirs),
#               soundfile (+ cffi, pycparser), soxr.
# Versions are constraints.txt's pins (CI's set); pip downloads each with --no-deps so
# nothing else slips in. Afterwards the script checks that every requirement of every
# downloaded wheel is either downloaded too or in IMAGE_HAS below, and prints the sizes.
# The folder travels to the device as a `carry` path, and with the working tree it must
# stay under 64 MiB (the script fails above LIMIT_MIB for the wheels alone).
#
# Usage (repository root or anywhere):  bench/fetch_gpu_wheels.sh [DEST]   (default .gpu-wheels)
#   PYTHON=python3.11 bench/fetch_gpu_wheels.sh   # the interpreter whose pip downloads (any >= 3.9)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/.gpu-wheels}"
py="${PYTHON:-python3}"
LIMIT_MIB=48  # leaves room for the ~2 MiB working tree and growth, under the 64 MiB carry limit

# Missing from the GPU image (see above). Order does not matter.
NEEDED=(av librosa audioread decorator pooch platformdirs soundfile cffi pycparser soxr)
# Requirements the image already satisfies (checked by name only; pip on the device
# checks the versions when gpu_check.sh installs with dependency resolution).
IMAGE_HAS="numpy scipy scikit-learn joblib numba msgpack lazy-loader typing-extensions requests packaging
llvmlite certifi charset-normalizer idna urllib3 pytest pytest-benchmark hypothesis scikit-image pyyaml
opencv-python-headless matplotlib onnx onnxruntime"

pin() {  # constraints.txt's version of $1 (names compared PEP 503-normalised), or nothing
  awk -F'==' -v n="$1" 'function norm(s){s=tolower(s); gsub(/[-_.]+/,"-",s); return s}
    norm($1)==norm(n){print $2}' "$root/constraints.txt"
}

mkdir -p "$dest"
rm -f "$dest"/*.whl  # one version of each: two versions of a package stop the whole install there
specs=()
for name in "${NEEDED[@]}"; do
  v="$(pin "$name")"
  if [[ -z "$v" ]]; then
    echo "fetch_gpu_wheels: $name has no pin in constraints.txt; taking the newest" >&2
    specs+=("$name")
  else
    specs+=("$name==$v")
  fi
done
echo "fetch_gpu_wheels: ${specs[*]}"
# The platforms: PyAV and soxr ship manylinux_2_28 / 2_17 wheels; pip matches each tag exactly.
"$py" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any \
  -d "$dest" "${specs[@]}"

# Closure check: each requirement (for CPython 3.12 on Linux, no extras) must be here or in the image.
"$py" - "$dest" "$IMAGE_HAS" <<'EOF'
import re, sys, zipfile
from pathlib import Path
try:
    from packaging.requirements import Requirement
except ImportError:  # pip vendors packaging
    from pip._vendor.packaging.requirements import Requirement

dest, image = Path(sys.argv[1]), set(sys.argv[2].split())
norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()
env = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
       "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
wheels = sorted(dest.glob("*.whl"))
have = {norm(w.name.split("-")[0]) for w in wheels}
missing = []
for w in wheels:
    with zipfile.ZipFile(w) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        for line in z.read(meta).decode().splitlines():
            if line.startswith("Requires-Dist:"):
                r = Requirement(line.split(":", 1)[1].strip())
                if r.marker is not None and not r.marker.evaluate(env):
                    continue
                if norm(r.name) not in have and norm(r.name) not in image:
                    missing.append(f"{w.name} needs {r}")
for m in missing:
    print("fetch_gpu_wheels: NOT COVERED:", m, file=sys.stderr)
sys.exit(1 if missing else 0)
EOF

wheels=("$dest"/*.whl)
du -b "${wheels[@]}"
total=$(du -cb "${wheels[@]}" | tail -1 | cut -f1)
echo "fetch_gpu_wheels: ${#wheels[@]} wheels, $total bytes ($((total / 1048576)) MiB) in $dest"
if (( total > LIMIT_MIB * 1048576 )); then
  echo "fetch_gpu_wheels: over ${LIMIT_MIB} MiB: the carry to the device would not fit" >&2
  exit 1
fi
