#!/usr/bin/env bash
# The ONE prepared device check of facefuse's CUDA backend (issue 14): build, GPU tests,
# sanitizers, benchmark and the swap pipeline on the GPU, in under 8 minutes, every log
# under $OUT, a summary table at the end.
#
# Where: the GPU machine (one H100 / H200, x86-64, CPython 3.12 whose `python3` holds torch,
# cupy-cuda13x, nvcc 13, cmake, ninja, pybind11, scikit-build-core, pytest; no registry, so
# the wheels it lacks travel as the git-ignored folder .gpu-wheels/, made here beforehand by
# bench/fetch_gpu_wheels.sh). Run from the repository root:
#
#   bench/fetch_gpu_wheels.sh                    # on a machine with PyPI, before the device call
#   mkdir -p .diff2lip-src && git -C DIFF2LIP_CHECKOUT archive HEAD guided-diffusion | tar -x -C .diff2lip-src
#                                                # Diff2Lip's model code for step h (git-ignored, ~200 KB)
#   bash bench/gpu_check.sh                      # on the device; carry [".gpu-wheels", ".diff2lip-src"]
#
# The device call that runs it (tool `run`): command `bash bench/gpu_check.sh`,
# carry [".gpu-wheels", ".diff2lip-src"], timeout_s 540. The steps share a budget of GPU_CHECK_BUDGET_S=450 s
# (a step's timeout is cut to what is left; the last one's kill takes <= 10 s more), so the
# script ends within ~7.8 minutes, and a 15-minute device lease (start included) keeps a few
# minutes for a partial rerun on the warm machine: GPU_CHECK_STEPS below, e.g.
#   GPU_CHECK_STEPS="d" bash bench/gpu_check.sh
#
# Steps (run in this order; each under `timeout`, its exit status and seconds recorded; the
# script never stops at a failure; a step the budget leaves no time for is a failure):
#   a    device: nvidia-smi, python / torch / cupy versions, the device CuPy sees
#   b    install .gpu-wheels offline (pip resolves against the image: a missing wheel fails)
#   c    build _core + _cuda for sm_90 only (FACEFUSE_CUDA=ON, FACEFUSE_CUDA_ARCHITECTURES=90,
#        no build isolation, Ninja, all cores), editable; cuda_status() must say "available"
#   d    pytest -m gpu over tests/ (junit xml); fails also when no GPU test ran or the CUDA
#        backend skip reason shows up (a skipped suite is not a passed one)
#   f    bench/bench_gpu.py (figures and issue 14's targets); f-targets is the pass / fail of
#        those targets, shown but not counted in the exit status (a slow op is not a broken one)
#   g    bench/swap_pipeline.py at 1920x1080, --frame-device cpu, then cuda (stand-in models)
#   h    bench/lipsync_gpu.py: Diff2Lip at DDIM-25, batch 1/8/32 (GPU_CHECK_LIPSYNC_BATCHES):
#        facefuse's torch path vs Diff2Lip's own loop (+ the ONNX path where onnxruntime-gpu is
#        installed), peak memory, the whole lipsync on a 720p clip; random weights of the
#        released configuration, Diff2Lip's code from .diff2lip-src ("skipped" without it).
#        Only the lip-sync figures: GPU_CHECK_STEPS="a b c h" (c builds facefuse's _core).
#   e    compute-sanitizer memcheck, then racecheck (--error-exitcode 86), over the kernel
#        tests (GPU_CHECK_SANITIZE_TESTS below), CuPy's pool off so each array is its own
#        allocation; "skipped" when compute-sanitizer is not installed or refuses the device
#        (gVisor containers: "Device not supported"), neither being a fault of ours
# The figures (f, g, h) run before the sanitizers (e) so that a slow sanitizer cannot cost them.
# d..g need step c's CUDA backend; without it they are recorded as failed, not run.
#
# Files under $OUT (the device tool returns at most 8 files; this writes 8):
#   gpu_check.log   everything printed, all steps
#   summary.txt     the summary table (also printed last)
#   pytest_gpu.xml  junit of step d
#   bench_gpu.json, bench_gpu.txt   step f
#   swap_cpu.json, swap_cuda.json   step g
#   lipsync_gpu.json                step h (its table is in gpu_check.log)
# With $OUT unset they go to ./gpu-check-out (git-ignored by a .gitignore inside it).
# Exit status: 0 when every required step passed, 1 otherwise.
#
# Knobs (environment): PYTHON (default python3), GPU_CHECK_BUDGET_S (450),
# GPU_CHECK_SWAP_SIZE (1920x1080), GPU_CHECK_SWAP_SECONDS (2), GPU_CHECK_SANITIZE_TESTS,
# GPU_CHECK_STEPS: a rerun of some steps on the still-warm machine, e.g. "d e.memcheck"
# (ids or their letters; default all). Steps left out show as "not selected" and do not count;
# without c, the CUDA backend is whatever the last build left (cuda_status() decides).
# shellcheck disable=SC2329  # the step functions run through `timeout ... bash -c NAME`
set -uo pipefail  # no -e: a failing step is recorded and the next one runs

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
if [[ -z "${OUT:-}" ]]; then
  OUT="$ROOT/gpu-check-out"
  mkdir -p "$OUT" && echo '*' > "$OUT/.gitignore"
fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PY="${PYTHON:-python3}"
WHEELS="$ROOT/.gpu-wheels"
BUDGET="${GPU_CHECK_BUDGET_S:-450}"
SWAP_SIZE="${GPU_CHECK_SWAP_SIZE:-1920x1080}"
SWAP_SECONDS="${GPU_CHECK_SWAP_SECONDS:-2}"
LIPSYNC_BATCHES="${GPU_CHECK_LIPSYNC_BATCHES:-1 8 32}"
# The sanitizers' subset: the kernel tests (small launches over every kernel family, odd
# sizes included: tests/test_cuda*.py, and test_paste.py's gpu tests) without the 4096-track
# case and without test_cuda_pipeline.py (whole videos: minutes under the sanitizer).
SANITIZE_TESTS="${GPU_CHECK_SANITIZE_TESTS:-$(find tests -maxdepth 1 \( -name 'test_cuda*.py' -o -name test_paste.py \) \
  ! -name test_cuda_pipeline.py | sort | tr '\n' ' ')}"
SCRATCH="$(mktemp -d)"
SKIP_FILE="$SCRATCH/skip"   # a step that cannot run for an environmental reason writes it and exits 77
NOTE_FILE="$SCRATCH/note"   # a one-line note for the summary
export SCRATCH ROOT OUT PY WHEELS SWAP_SIZE SWAP_SECONDS LIPSYNC_BATCHES SANITIZE_TESTS SKIP_FILE NOTE_FILE
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_NO_INPUT=1
# nvcc / compute-sanitizer may live outside PATH in a CUDA image
for d in /usr/local/cuda/bin /usr/local/cuda/compute-sanitizer; do
  [[ -d "$d" && ":$PATH:" != *":$d:"* ]] && PATH="$PATH:$d"
done
export PATH

# --------------------------------------------------------------------------- steps

# The Python helpers, as files: heredocs do not survive `export -f` inside compound commands.
cat > "$SCRATCH/device.py" <<'EOF'
import sys
print("python", sys.version.split()[0], sys.executable)
try:  # informational: facefuse does not use torch
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
except Exception as exc:
    print("torch: not importable:", exc)
import cupy as cp
props = cp.cuda.runtime.getDeviceProperties(0)
name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
print("cupy", cp.__version__, "runtime", cp.cuda.runtime.runtimeGetVersion(),
      "driver", cp.cuda.runtime.driverGetVersion(), "device 0:", name,
      f"cc {props['major']}.{props['minor']}", f"{props['totalGlobalMem'] / 2**30:.1f} GiB")
open(__import__("os").environ["NOTE_FILE"], "a").write(f"{name}, cc {props['major']}.{props['minor']}\n")
EOF
cat > "$SCRATCH/junit_check.py" <<'EOF'
import os, sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception as exc:
    print("no junit xml:", exc); sys.exit(1)
cases = list(root.iter("testcase"))
skips = [(c.get("name"), s.get("message", "")) for c in cases for s in c.findall("skipped")]
bad = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
ran = len(cases) - len(skips)
backend = [m for _, m in skips if "CUDA backend" in m or "cupy" in m.lower()]
msg = f"{ran} ran, {len(bad)} failed/errored, {len(skips)} skipped"
open(os.environ["NOTE_FILE"], "a").write(msg + "\n")
print("junit:", msg)
for name, m in skips:
    print(f"  skipped {name}: {m}")
sys.exit(1 if ran == 0 or backend or bad else 0)
EOF
cat > "$SCRATCH/targets.py" <<'EOF'
import json, os, sys
try:
    doc = json.load(open(sys.argv[1]))
except Exception as exc:
    print("no bench_gpu.json:", exc); sys.exit(1)
t = doc.get("targets", [])
for x in t:
    print(f"{x['name']}: {x['figure']} (target {x['target']}): {x['verdict']}")
ok = [x for x in t if x["verdict"] == "pass"]
missed = [x["name"] for x in t if x["verdict"] != "pass"]
open(os.environ["NOTE_FILE"], "a").write(f"{len(ok)}/{len(t)} met" + (f"; not met: {', '.join(missed)}" if missed else "") + "\n")
sys.exit(0 if t and not missed else 1)
EOF

cat > "$SCRATCH/lipsync_note.py" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
best = {}
for c in d["cases"]:
    if "fps" in c and c["fps"] > best.get(c["path"], (0, 0))[0]:
        best[c["path"]] = (c["fps"], c["batch"])
print("; ".join(f"{k} {v[0]:.1f} fps (b{v[1]})" for k, v in best.items()))
EOF

skip() { echo "$*" > "$SKIP_FILE"; echo "SKIPPED: $*"; exit 77; }
note() { echo "$*" >> "$NOTE_FILE"; }
export -f skip note

step_a_device() {
  local rc=0
  nvidia-smi || { rc=1; note "nvidia-smi failed"; }
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || rc=1
  uname -a; nproc
  "$PY" -V || rc=1
  "$PY" "$SCRATCH/device.py" || { rc=1; note "CuPy sees no device (see the log)"; }
  command -v nvcc && nvcc --version | tail -2
  command -v compute-sanitizer && compute-sanitizer --version | tail -1
  return "$rc"
}

step_b_wheels() {
  shopt -s nullglob
  local whl=("$WHEELS"/*.whl)
  ((${#whl[@]})) || { echo "no wheels in $WHEELS: run bench/fetch_gpu_wheels.sh here and carry .gpu-wheels"; return 1; }
  ls -l "${whl[@]}"
  # Resolve (no --no-deps): a requirement neither carried nor in the image fails here.
  "$PY" -m pip install --no-index --find-links "$WHEELS" av librosa || return 1
  "$PY" -c "import av, librosa, soundfile, soxr; print('av', av.__version__, 'librosa', librosa.__version__)" || return 1
  note "$(basename -a "${whl[@]}" | cut -d- -f1,2 | paste -sd' ')"
}

step_c_build() {
  if ! command -v nvcc >/dev/null; then echo "nvcc not found"; return 1; fi
  export FACEFUSE_CUDA=ON FACEFUSE_CUDA_ARCHITECTURES=90 CMAKE_GENERATOR=Ninja
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)"; export CMAKE_BUILD_PARALLEL_LEVEL
  "$PY" -m pip install -v --no-index --no-build-isolation --no-deps -e . || return 1
  local status
  status="$(cd /tmp && "$PY" -c "import facefuse; print(facefuse.cuda_status())")" || return 1
  echo "cuda_status: $status"
  note "$status"
  # Which machine code the module holds (informational: sm_90 expected).
  local so
  so="$(cd /tmp && "$PY" -c "import facefuse._cuda as m; print(m.__file__)" 2>/dev/null)" &&
    command -v cuobjdump >/dev/null && cuobjdump --list-elf --list-ptx "$so" | sort | uniq -c | head
  [[ "$status" == available* ]]
}

step_d_pytest() {
  local xml="$OUT/pytest_gpu.xml" rc=0
  "$PY" -m pytest tests -m gpu -q -rs -p no:cacheprovider --junitxml="$xml" || rc=$?
  # A suite that skipped its GPU tests must not read as passed.
  "$PY" "$SCRATCH/junit_check.py" "$xml" || { ((rc)) || rc=1; }
  return "$rc"
}

sanitize() {  # tool
  local tool=$1 cs
  cs="$(command -v compute-sanitizer)" || skip "compute-sanitizer is not installed on this machine"
  local log="$SCRATCH/$tool.out" rc=0
  # CuPy's memory pool would hide out-of-bounds accesses inside its large blocks: plain
  # cudaMalloc per array instead. --error-exitcode 86 tells sanitizer findings from test failures.
  # shellcheck disable=SC2086  # SANITIZE_TESTS is a list of paths
  "$cs" --tool "$tool" --error-exitcode 86 --print-limit 100 "$PY" -c '
import sys, cupy, pytest
cupy.cuda.set_allocator(None)
sys.exit(pytest.main(sys.argv[1:]))' $SANITIZE_TESTS -m gpu -k "not many_tracks" -q -rs -p no:cacheprovider \
    2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  if grep -q "Device not supported" "$log"; then
    skip "compute-sanitizer refused the device (container runtime): $(grep -m1 'Device not supported' "$log")"
  fi
  if grep -q "CUDA backend unavailable" "$log"; then  # the device hidden from the instrumented process
    skip "under compute-sanitizer the CUDA backend was unavailable: $(grep -m1 -o 'CUDA backend unavailable.*' "$log")"
  fi
  if ((rc == 0)) && ! grep -Eq '[0-9]+ passed' "$log"; then
    note "no test ran"; return 1
  fi
  case $rc in
    0) note "no $tool errors; $(grep -Eo '[0-9]+ passed[^=]*' "$log" | tail -1)";;
    86) note "$tool reported errors: $(grep -m1 -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log")";;
    *) note "exit $rc: $(grep -m1 -E 'ERROR SUMMARY|RACECHECK SUMMARY|failed' "$log")";;
  esac
  return "$rc"
}
step_e1_memcheck() { sanitize memcheck; }
step_e2_racecheck() { sanitize racecheck; }

step_f_bench() {
  "$PY" bench/bench_gpu.py --json "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_gpu.txt"
  return "${PIPESTATUS[0]}"
}

step_f_targets() {
  "$PY" "$SCRATCH/targets.py" "$OUT/bench_gpu.json"
}

swap() {  # frame device
  "$PY" -c "import av" 2>/dev/null || skip "PyAV is not importable ($("$PY" -c 'import av' 2>&1 | tail -1))"
  "$PY" bench/swap_pipeline.py --only cost --sizes "$SWAP_SIZE" --seconds "$SWAP_SECONDS" \
    --blends alpha laplacian --frame-device "$1" --json "$OUT/swap_$1.json"
}
step_g1_swap_cpu() { swap cpu; }
step_g2_swap_cuda() { swap cuda; }

step_h_lipsync() {
  [[ -f "$ROOT/.diff2lip-src/guided-diffusion/guided_diffusion/script_util.py" ]] ||
    skip "no .diff2lip-src (Diff2Lip's guided-diffusion folder, carried): see the header"
  "$PY" -c "import av" 2>/dev/null || skip "PyAV is not importable ($("$PY" -c 'import av' 2>&1 | tail -1))"
  local rc=0
  # shellcheck disable=SC2086  # LIPSYNC_BATCHES is a list of numbers
  "$PY" bench/lipsync_gpu.py --diff2lip-src "$ROOT/.diff2lip-src" --batches $LIPSYNC_BATCHES --runs 1 \
    --clip-seconds 2 --json "$OUT/lipsync_gpu.json" || rc=$?
  "$PY" "$SCRATCH/lipsync_note.py" "$OUT/lipsync_gpu.json" >> "$NOTE_FILE" 2>/dev/null
  return "$rc"
}

export -f step_a_device step_b_wheels step_c_build step_d_pytest sanitize step_e1_memcheck step_e2_racecheck \
  step_f_bench step_f_targets swap step_g1_swap_cpu step_g2_swap_cuda step_h_lipsync

# --------------------------------------------------------------------------- runner

ROWS=()
FAILED=0
LAST_STATUS=
record() {  # id required status seconds note
  LAST_STATUS=$3
  ROWS+=("$(printf '%-16s %-4s %-12s %5s  %s' "$1" "$2" "$3" "$4" "$5")")
  [[ "$2" == yes && "$3" != pass && "$3" != skipped ]] && FAILED=$((FAILED + 1))
  return 0
}

selected() {  # id: in GPU_CHECK_STEPS (full id or its letter), or no selection
  [[ -z "${GPU_CHECK_STEPS:-}" ]] && return 0
  local w
  for w in $GPU_CHECK_STEPS; do [[ "$1" == "$w" || "${1%%.*}" == "$w" ]] && return 0; done
  return 1
}

run_step() {  # id required limit_s function [needs-cuda]
  local id=$1 req=$2 limit=$3 fn=$4 needs=${5:-}
  local left=$((BUDGET - SECONDS))
  if ! selected "$id"; then
    record "$id" - "not selected" 0 "GPU_CHECK_STEPS=${GPU_CHECK_STEPS}"
    return
  fi
  if [[ -n "$needs" && "$CUDA_OK" != 1 ]]; then
    echo "==== [$id] not run: needs the CUDA backend (step c)"
    record "$id" "$req" fail 0 "not run: no CUDA backend (step c)"
    return
  fi
  if ((left < 20)); then
    echo "==== [$id] not run: the ${BUDGET}s budget is spent"
    record "$id" "$req" fail 0 "not run: the ${BUDGET}s budget is spent"
    return
  fi
  ((limit > left - 5)) && limit=$((left - 5))
  echo
  echo "==== [$id] $fn (timeout ${limit}s, $((SECONDS))s elapsed)"
  rm -f "$SKIP_FILE" "$NOTE_FILE"
  local t0=$SECONDS rc=0
  timeout -k 10 "$limit" bash -c "$fn" || rc=$?
  local dt=$((SECONDS - t0)) status nt=""
  [[ -f "$NOTE_FILE" ]] && nt="$(paste -sd';' "$NOTE_FILE" | head -c 300)"
  case $rc in
    0) status=pass;;
    77) status=skipped; nt="$(head -c 300 "$SKIP_FILE" 2>/dev/null | head -1)";;
    124|137) status=fail; nt="timed out after ${limit}s${nt:+; $nt}";;
    *) status=fail; nt="exit $rc${nt:+; $nt}";;
  esac
  echo "==== [$id] $status in ${dt}s${nt:+: $nt}"
  record "$id" "$req" "$status" "$dt" "$nt"
}

main() {
  echo "gpu_check: $(date -u +%FT%TZ) in $ROOT, logs in $OUT, budget ${BUDGET}s, python $PY${GPU_CHECK_STEPS:+, steps: $GPU_CHECK_STEPS}"
  CUDA_OK=0
  run_step a.device       yes  40 step_a_device
  run_step b.wheels       yes 120 step_b_wheels
  run_step c.build        yes 240 step_c_build
  [[ "$LAST_STATUS" == pass ]] && CUDA_OK=1
  if ! selected c.build; then  # a rerun: the build of an earlier call may still be installed
    [[ "$(cd /tmp && "$PY" -c 'import facefuse; print(facefuse.cuda_status())' 2>&1)" == available* ]] && CUDA_OK=1
  fi
  run_step d.pytest-gpu   yes 150 step_d_pytest cuda
  run_step f.bench_gpu    yes 120 step_f_bench cuda
  run_step f.targets      no   15 step_f_targets cuda
  run_step g.swap-cpu     yes 120 step_g1_swap_cpu
  run_step g.swap-cuda    yes 120 step_g2_swap_cuda cuda
  run_step h.lipsync      yes 170 step_h_lipsync cuda
  run_step e.memcheck     yes  90 step_e1_memcheck cuda
  run_step e.racecheck    yes  90 step_e2_racecheck cuda
  {
    echo
    echo "gpu_check summary ($(date -u +%FT%TZ), ${SECONDS}s; required steps must pass or be skipped)"
    printf '%-16s %-4s %-12s %5s  %s\n' step req status secs note
    printf '%s\n' "${ROWS[@]}"
    if ((FAILED)); then echo "RESULT: FAIL ($FAILED required step(s) failed)"; else echo "RESULT: PASS"; fi
  } | tee "$OUT/summary.txt"
  rm -rf "$SCRATCH"
  ((FAILED == 0))
}

main 2>&1 | tee "$OUT/gpu_check.log"
exit "${PIPESTATUS[0]}"
