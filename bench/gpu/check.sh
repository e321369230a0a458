#!/usr/bin/env bash
# kiln on a real NVIDIA GPU, in one go: build, test, sanitize, benchmark. Every result lands in
# one folder (first argument, default bench/results/gpu-<date>). Needs nvcc, CMake, ninja,
# pybind11, scikit-build-core, NumPy (PyTorch for the comparison rows), no network.
# Aimed at under 8 minutes on an H100/H200: ~3 to build, ~1 to test, ~1 to sanitize, ~3 to bench.
#
#   bash bench/gpu/check.sh [OUT_DIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
out="${1:-bench/results/gpu-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
status=0
step() {  # step NAME COMMAND...: run, log to $out/NAME.log, record its time and exit code
  local name=$1; shift
  local start=$SECONDS
  "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc, $((SECONDS - start)) s" | tee -a "$out/summary.txt"
  [ $rc -eq 0 ] || status=1
  return $rc
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; nvcc --version | tail -2
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" 2>&1; } > "$out/machine.txt"
cat "$out/machine.txt"

# 1. Build: KILN_CUDA=ON (sm_80, sm_90 and PTX; cudart static), into the current environment.
export KILN_CUDA=ON CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)"
step build pip install --no-build-isolation --no-deps -v . || { echo "build failed: see $out/build.log"; exit 1; }
python -c "import kiln; assert kiln.cuda.is_available() and not kiln.cuda.is_emulated(), 'no GPU device'; \
print(kiln.cuda.get_device_name())" | tee -a "$out/summary.txt"

# 2. The tests: the CUDA ones on the GPU, then the whole suite (the CPU build's tests as well).
step test_cuda python -m pytest -q -p no:cacheprovider tests/test_cuda_device.py tests/test_cuda_training.py \
  tests/test_backend_ops.py -k "cuda or device or training"
step test_all python -m pytest -q -p no:cacheprovider -x

# 3. compute-sanitizer over a small subset: every kernel of the contract once, on odd shapes.
subset=(tests/test_backend_ops.py -k cuda)
for tool in memcheck racecheck synccheck; do
  step "sanitizer_$tool" compute-sanitizer --tool "$tool" --error-exitcode 9 --print-limit 20 \
    python -m pytest -q -p no:cacheprovider "${subset[@]}"
done

# 4. The benchmarks: the CPU tables and the CPU-vs-GPU cases (with PyTorch CUDA where importable).
step bench env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m kiln.bench --device all --quick \
  --json "$out/bench.json" --png "$out/bench.png"
cp "$out/bench.log" "$out/bench.txt" 2>/dev/null

echo "results in $out" | tee -a "$out/summary.txt"
exit $status
