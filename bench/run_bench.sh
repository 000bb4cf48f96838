#!/usr/bin/env bash
# `make bench`: one run, one report. Builds nothing itself (the Makefile has built $BUILD/bench-models and,
# when bench/bench_kernels.cpp exists, $BUILD/bench-kernels).
#   1. bench-kernels (if built): the FMA peak and every model convolution's GFLOP/s, 1 thread
#   2. bench-models --peak: the machine and the FMA peak for the report
#   3. per model, plasmo then PyTorch (tools/bench_torch.py, when /usr/bin/python3 has torch and
#      torchvision), so both sides of a row are measured close together on this shared machine
#   4. bench-models --profile: per-layer times at 1 thread
#   5. bench-models --report: the one table (markdown) on stdout, also kept in $BUILD/bench/report.md
# Raw results stay in $BUILD/bench/*.jsonl. Knobs (environment):
#   BENCH_MODELS ("autoencoder resnet18 mobilenetv2"), BENCH_THREADS (1,2), BENCH_REPS (5),
#   BENCH_MIN_TIME (0.5: seconds per repetition, at least), BENCH_RUNS (1: repeat step 3 this many times; the
#   report takes the median of the runs' medians), BENCH_CLOCK (auto|wall|cpu), BENCH_PROFILE (1),
#   BENCH_TORCH (1; 0 skips PyTorch), BENCH_KERNELS (1; 0 skips bench-kernels), PYTHON (/usr/bin/python3),
#   BENCH_TORCH_BLAS (a folder holding libblas.so.3, put first on LD_LIBRARY_PATH for PyTorch: e.g. OpenBLAS's
#   /usr/lib/x86_64-linux-gnu/openblas-pthread; without OpenBLAS, Debian's torch runs its small-batch
#   convolutions and Linear layers on netlib's reference BLAS, and the report says so).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
OUT=$BUILD/bench
MODELS=${BENCH_MODELS:-autoencoder resnet18 mobilenetv2}
THREADS=${BENCH_THREADS:-1,2}
REPS=${BENCH_REPS:-5}
MIN_TIME=${BENCH_MIN_TIME:-0.5}
CLOCK=${BENCH_CLOCK:-auto}
PYTHON=${PYTHON:-/usr/bin/python3}
BENCH_MODELS_BIN=$BUILD/bench-models
BENCH_KERNELS_BIN=$BUILD/bench-kernels

say() { echo "bench: $*" >&2; }

mkdir -p "$OUT"
plasmo_results=$OUT/plasmo.jsonl
torch_results=$OUT/torch.jsonl
kernel_table=$OUT/kernels.md
: >"$plasmo_results"
: >"$torch_results"
rm -f "$kernel_table"

torch=0
if [ "${BENCH_TORCH:-1}" = 1 ]; then
  if "$PYTHON" -c 'import torch, torchvision' 2>/dev/null; then
    torch=1
  else
    say "PyTorch not found for $PYTHON: its columns will say n/a (make bench-deps installs it)"
  fi
fi

say "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
if [ "${BENCH_KERNELS:-1}" = 1 ] && [ -x "$BENCH_KERNELS_BIN" ]; then
  say "kernels (bench-kernels)"
  "$BENCH_KERNELS_BIN" --reps "$REPS" >"$kernel_table"
fi

say "machine and FMA peak"
"$BENCH_MODELS_BIN" --no-measure --peak --reps "$REPS" >>"$plasmo_results"

for run in $(seq "${BENCH_RUNS:-1}"); do
  for model in $MODELS; do
    say "$model: plasmo (run $run)"
    "$BENCH_MODELS_BIN" --model "$model" --threads "$THREADS" --reps "$REPS" --min-time "$MIN_TIME" \
      >>"$plasmo_results"
    if [ "$torch" = 1 ]; then
      say "$model: PyTorch (run $run)"
      LD_LIBRARY_PATH="${BENCH_TORCH_BLAS:+$BENCH_TORCH_BLAS:}${LD_LIBRARY_PATH:-}" \
        "$PYTHON" tools/bench_torch.py --model "$model" --threads "$THREADS" --reps "$REPS" --min-time "$MIN_TIME" \
        >>"$torch_results"
    fi
  done
done

if [ "${BENCH_PROFILE:-1}" = 1 ]; then
  profile_models=()
  for model in $MODELS; do profile_models+=(--model "$model"); done
  say "per-layer profile (1 thread)"
  "$BENCH_MODELS_BIN" --no-measure --profile "${profile_models[@]}" --reps "$REPS" --min-time "$MIN_TIME" \
    >>"$plasmo_results"
fi

kernels_args=()
[ -f "$kernel_table" ] && kernels_args=(--kernels "$kernel_table")
"$BENCH_MODELS_BIN" --report "$plasmo_results" "$torch_results" --clock "$CLOCK" "${kernels_args[@]}" |
  tee "$OUT/report.md"
echo >&2
say "report kept in $OUT/report.md; raw results in $OUT/*.jsonl"
