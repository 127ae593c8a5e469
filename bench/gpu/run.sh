#!/usr/bin/env bash
# The whole GPU check in one device call, from the repo root:
#   bash bench/gpu/run.sh                        # about 70 s on an H200 before topk_scores (estimated 90-100 s with it)
#   YDNN_GPU_SANITIZE=1 bash bench/gpu/run.sh    # + every CUDA test under memcheck
# 1. builds the TF-free CUDA module in place (sm_90);
# 2. runs the CuPy tests (tests/gpu: every CUDA kernel against the float64
#    NumPy references and the CPU kernels) and the TF-free NumPy tests, one
#    pytest process per file, in parallel, each under a time limit, so that a
#    crash or a hang in one family cannot hide the others;
# 3. times every CUDA kernel (bench/gpu/*_gpu_bench.py, one after another,
#    each with its correctness gate) on the card's measured copy bandwidth and
#    fp32 matmul rate;
# 4. prints the roofline table of every row last (bench/gpu/roofline.py).
# With $OUT set (the device tool's output folder) it leaves there: run.log
# (everything printed), build.log, tests.log, gpu_bench.md (every table),
# rows.jsonl and ceilings.json. A failing stage does not skip the later
# ones (one call must bring back everything); the exit status is the first
# failing stage's.
set -uo pipefail

log_dir=${OUT:-/tmp/ydnn_gpu}
mkdir -p "$log_dir"
rm -f "$log_dir"/{rows.jsonl,ceilings.json,gpu_bench.md}
export OUT=$log_dir PYTHONUNBUFFERED=1
exec > >(tee "$log_dir/run.log") 2>&1

start=$SECONDS
stage_start=$SECONDS
rc=0
stage() {  # ends the running stage with its time, then names the next one
  echo "-- $((SECONDS - stage_start)) s"
  stage_start=$SECONDS
  if [[ $# -gt 0 ]]; then printf '\n== %s\n' "$1"; fi
}
fail() { echo "!! $1 (exit $2)"; if ((rc == 0)); then rc=$2; fi; }

printf '== machine\n'  # informational: none of it may stop the run
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm \
  --format=csv,noheader || true
nvcc --version | tail -n 2 || true
python3 -c 'import sys, cupy, numpy; print("python", sys.version.split()[0], "cupy",
  cupy.__version__, "numpy", numpy.__version__)' || echo "cupy is missing"
echo "$(nproc) CPU cores"

stage "build (YDNN_TF=0 YDNN_CUDA=1, sm_90)"
if ! timeout 300 env YDNN_TF=0 YDNN_CUDA=1 YDNN_CUDA_ARCHS=90 MAX_JOBS="$(nproc)" \
    python3 setup.py build_ext --inplace >"$log_dir/build.log" 2>&1; then
  tail -n 60 "$log_dir/build.log"
  fail "build failed" 1
  exit $rc
fi
ls ydnn_kernels/_ydnn_py*.so
# The TF-free path must stay TF-free: arrays.py imports no TensorFlow.
python3 -c 'import sys, ydnn_kernels.arrays as a
assert "tensorflow" not in sys.modules, "ydnn_kernels.arrays imported tensorflow"
assert a._py.with_cuda, "the module was built without CUDA"
print("ydnn_kernels.arrays: CUDA build, no tensorflow import")' || fail "module check" 1

stage "tests (one process per file, in parallel)"
test_tmp=$(mktemp -d)
files=(tests/gpu/test_*_cupy.py tests/embedding_pool/test_arrays.py tests/sampled_softmax/test_arrays.py)
pids=()
failed_gpu=()
for f in "${files[@]}"; do
  timeout -k 10 150 python3 -m pytest "$f" -q -rfE --tb=short -p no:cacheprovider \
    --durations=3 >"$test_tmp/${f//\//_}.log" 2>&1 &
  pids+=($!)
done
: >"$log_dir/tests.log"
for i in "${!files[@]}"; do
  wait "${pids[$i]}"
  status=$?
  log="$test_tmp/${files[$i]//\//_}.log"  # by path: two families have a test_arrays.py
  {
    printf '\n### %s (exit %s)\n' "${files[$i]}" "$status"
    cat "$log"
  } >>"$log_dir/tests.log"
  printf '%-45s exit %3s  %s\n' "${files[$i]}" "$status" "$(grep -E '[0-9]+ (passed|failed)' "$log" | tail -n 1)"
  if ((status != 0)); then
    grep -E '^(FAILED|ERROR) ' "$log" | head -n 15
    fail "${files[$i]}" "$status"
    [[ ${files[$i]} == tests/gpu/* ]] && failed_gpu+=("${files[$i]}")
  fi
done
rm -rf "$test_tmp"

# A failing CUDA test file runs again under compute-sanitizer's memcheck,
# stopping at its first failure: an out-of-bounds access or a launch error
# is then named with its kernel, in this same call. YDNN_GPU_SANITIZE=1
# runs every CUDA test file under memcheck (a few minutes more): reads out
# of bounds that happen not to change a result show up only there.
sanitizer=$(command -v compute-sanitizer ||
  ls /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer \
    2>/dev/null | head -n 1)
san_files=("${failed_gpu[@]}") san_limit=90 san_stop=-x
if [[ ${YDNN_GPU_SANITIZE:-0} == 1 ]]; then
  san_files=(tests/gpu/test_*_cupy.py) san_limit=300 san_stop=
fi
if ((${#san_files[@]} > 0)) && [[ -n $sanitizer ]]; then
  stage "compute-sanitizer memcheck on ${#san_files[@]} CUDA test file(s)"
  san_dir=$(mktemp -d)
  san_pids=()
  for f in "${san_files[@]}"; do
    timeout -k 10 "$san_limit" "$sanitizer" --tool memcheck --print-limit 5 --error-exitcode 99 \
      python3 -m pytest "$f" $san_stop -q --tb=line -p no:cacheprovider \
      >"$san_dir/$(basename "$f").log" 2>&1 &
    san_pids+=($!)
  done
  for i in "${!san_files[@]}"; do
    wait "${san_pids[$i]}" || fail "memcheck ${san_files[$i]}" $?
  done
  for f in "${san_files[@]}"; do
    san="$san_dir/$(basename "$f").log"
    { printf '\n### memcheck: %s\n' "$f"; grep -m 30 '^========= ' "$san"; tail -n 8 "$san"; } |
      tee -a "$log_dir/tests.log"
  done
  rm -rf "$san_dir"
fi

for bench in embedding_pool sampled_softmax sampler sparse_optim; do
  stage "benchmark: $bench"
  timeout -k 10 100 python3 "bench/gpu/${bench}_gpu_bench.py" >/dev/null ||
    fail "benchmark $bench" $?
done
# topk_scores in its short mode (k = 100, V = 10^6 and 10^7, B = 1 and 256,
# fp32 and a 2-byte table, torch anchor for fp32): about 20-30 s.
stage "benchmark: topk_scores (--short)"
timeout -k 10 100 python3 bench/gpu/topk_scores_gpu_bench.py --short >/dev/null ||
  fail "benchmark topk_scores" $?

stage "roofline"
python3 bench/gpu/roofline.py || fail "roofline: some rows failed" $?
stage
echo "total $((SECONDS - start)) s; exit $rc"
exit $rc
