#!/usr/bin/env bash
# The whole GPU check in one device call, from the repo root:
#   bash bench/gpu/run.sh
# Builds the TF-free CUDA module in place, runs the CuPy tests (tests/gpu:
# embedding_pool, the sampler, the sampled softmax) and the NumPy ones
# (tests/test_embedding_pool_arrays.py, tests/test_sampled_softmax.py,
# TF-free too), then the benchmarks. With $OUT set (the device tool's output
# folder), build.log, tests.log, gpu_bench.md and softmax_gpu_bench.md are
# written there. A test failure
# does not skip the benchmark (one call must bring back everything); the
# script then exits with the tests' status.
set -euo pipefail

log_dir=${OUT:-/tmp}
start=$SECONDS
stage_start=$SECONDS
stage() {  # ends the running stage with its time, then names the next one
  echo "-- $((SECONDS - stage_start)) s"
  stage_start=$SECONDS
  if [[ $# -gt 0 ]]; then printf '\n== %s\n' "$1"; fi
}

printf '== machine\n'  # informational: none of it may stop the run
nvidia-smi -L || true
nvcc --version | tail -n 2 || true
python3 --version
python3 -c 'import cupy; print("cupy", cupy.__version__)' || echo "cupy is missing"

stage "build (YDNN_TF=0 YDNN_CUDA=1, sm_90)"
build_env=(YDNN_TF=0 YDNN_CUDA=1 YDNN_CUDA_ARCHS=90 MAX_JOBS=16)
build_log=$log_dir/build.log
if ! env "${build_env[@]}" python3 setup.py build_ext --inplace >"$build_log" 2>&1; then
  tail -n 60 "$build_log"
  exit 1
fi
ls ydnn_kernels/_ydnn_py*.so
# The TF-free path must stay TF-free: arrays.py imports no TensorFlow.
python3 -c 'import sys, ydnn_kernels.arrays as a
assert "tensorflow" not in sys.modules, "ydnn_kernels.arrays imported tensorflow"
assert a._py.with_cuda, "the module was built without CUDA"
print("ydnn_kernels.arrays: CUDA build, no tensorflow import")'

stage "tests"
tests_rc=0
PYTHONUNBUFFERED=1 python3 -m pytest tests/gpu tests/test_embedding_pool_arrays.py \
  tests/test_sampled_softmax.py -q -p no:cacheprovider --durations=5 2>&1 |
  tee "$log_dir/tests.log" || tests_rc=$?

stage "benchmark: embedding_pool"
bench_rc=0
PYTHONUNBUFFERED=1 python3 bench/gpu/embedding_pool_gpu_bench.py || bench_rc=$?

stage "benchmark: sampled_softmax"
PYTHONUNBUFFERED=1 python3 bench/gpu/sampled_softmax_gpu_bench.py || bench_rc=$?

stage
echo "total $((SECONDS - start)) s; tests exit $tests_rc, benchmark exit $bench_rc"
exit $((tests_rc != 0 ? tests_rc : bench_rc))
