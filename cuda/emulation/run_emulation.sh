#!/usr/bin/env bash
# Build and run the CPU emulation of the CUDA kernels (see cuda_runtime.h here):
# the .cu files are copied with their <<<...>>> launches rewritten, compiled with
# g++ against this folder's fake cuda_runtime.h, and compared with the CPU core.
# Usage: cuda/emulation/run_emulation.sh [--python [pytest args]]   (needs g++ >= 11, perl; ~1 min)
# --python: also build _cuda on the emulated kernels and run the GPU tests through it: the test
# files named among the pytest args, else tests/test_cuda*.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${TMPDIR:-/tmp}/facefuse-cuda-emulation"
mkdir -p "$out"
for f in "$root"/cuda/*.cu; do
  perl -pe 's/(\b[A-Za-z_]\w*(?:<[^<>;()]*>)?)<<<(.*?)>>>/emu::launch($1, $2)/g' "$f" > "$out/$(basename "${f%.cu}").cpp"
done
# FF_MAX_GRID_YZ=5: a tiny grid y/z limit, so check_kernels' batches of 6+ items exercise the chunking.
g++ -std=c++20 -O1 -ffp-contract=off -pthread -w -DFF_MAX_GRID_YZ=5 -I"$here" -I"$root/cuda" -I"$root/cpp/include" -I"$root/cpp/src" \
  "$out"/*.cpp "$root"/cpp/src/{pyramid,color,quality,smoothing,paste,poisson}.cpp "$here/check_kernels.cpp" -o "$out/check_kernels"
"$out/check_kernels"
if [[ "${1:-}" == "--python" ]]; then
  # The _cuda module itself on the emulated kernels, then the GPU tests through it
  # with the NumPy-backed fake CuPy (exercises ops/_device.py, ops/_gpu.py and the tests).
  ext="$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
  g++ -std=c++20 -O1 -ffp-contract=off -pthread -w -shared -fPIC $(python3 -m pybind11 --includes) -I"$here" -I"$root/cuda" \
    -I"$root/cpp/include" -I"$root/cpp/src" -I"$root/cpp/bindings" "$out"/*.cpp "$root"/cuda/bindings/*.cpp \
    "$here/emu_counters.cpp" "$root"/cpp/src/{pyramid,color,quality,smoothing,paste,poisson}.cpp -o "$out/_cuda$ext"
  python3 "$here/run_python_emulation.py" "$out/_cuda$ext" "${@:2}"
fi
# Example: cuda/emulation/run_emulation.sh --python -q -k "gpu and not many_tracks"
#          cuda/emulation/run_emulation.sh --python tests/test_cuda.py tests/test_cuda_quality.py -q
# (the 4096-track test spawns 4096 x 128 OS threads under emulation: minutes.)
