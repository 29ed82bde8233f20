#!/usr/bin/env bash
# Build and run the CPU emulation of the CUDA kernels (see cuda_runtime.h here):
# the .cu files are copied with their <<<...>>> launches rewritten, compiled with
# g++ against this folder's fake cuda_runtime.h, and compared with the CPU core.
# Usage: cuda/emulation/run_emulation.sh   (needs g++ >= 11 and perl; ~1 min)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${TMPDIR:-/tmp}/facefuse-cuda-emulation"
mkdir -p "$out"
for f in "$root"/cuda/*.cu; do
  perl -pe 's/(\b[A-Za-z_]\w*(?:<[^<>;()]*>)?)<<<(.*?)>>>/emu::launch($1, $2)/g' "$f" > "$out/$(basename "${f%.cu}").cpp"
done
g++ -std=c++20 -O1 -pthread -w -I"$here" -I"$root/cuda" -I"$root/cpp/include" -I"$root/cpp/src" \
  "$out"/*.cpp "$root"/cpp/src/{pyramid,color,quality,smoothing}.cpp "$here/check_kernels.cpp" -o "$out/check_kernels"
"$out/check_kernels"
