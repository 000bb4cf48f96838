#!/usr/bin/python3
"""PyTorch's side of `make bench`: the same three models and measurements as bench/bench_models.cpp.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision 0.14; `make bench-deps`).

Models (two classes, PyTorch's default initialisation, seed 0):
  autoencoder@32   DESIGN.md's classifier: encoder enc1 Conv3x3(3->16)+ReLU, MaxPool2; enc2 Conv3x3(16->8)+ReLU,
                   MaxPool2; enc3 Conv3x3(8->4)+ReLU, MaxPool2; Flatten; fc1 Linear(64->32)+ReLU; fc2 Linear(32->2)
                   (the decoder is not on the classifier path, so it is not built for timing)
  resnet18@64      torchvision.models.resnet18(num_classes=2)
  mobilenetv2@64   torchvision.models.mobilenet_v2(num_classes=2)

Measurements, for each thread count T (torch.set_num_threads(T); OpenBLAS kept at one thread, NOTES.md):
  train    images/s of a training step at batch 64: forward (train mode) + cross-entropy + backward +
           SGD(lr 0.01, momentum 0.9) step + zero_grad
  infer    images/s of a forward at batch 64 in eval mode under torch.no_grad()
  latency  microseconds of one forward of one image (batch 1), eval mode, no_grad
Timing: warm-up calls first, then --reps repetitions, each long enough (at least --min-time seconds, a whole
number of calls) to swamp the clock; a repetition's value is its mean per call. Every repetition is timed by two
clocks: wall (time.perf_counter) and CPU time (the calling thread's with one thread; the process's with more).
On a shared machine the wall clock also counts time the benchmark waited for a core; with one thread the CPU
time does not, so it is what one dedicated core would give. Reported per clock: the median over repetitions and
the spread min..max, plus cpu_share = CPU / (wall x threads), the fraction of its cores the run really had.

Output: JSON lines on stdout (one object per line), so bench/run_bench.sh can join them with plasmo's:
  {"kind": "env", ...}                                           versions, threads, CPU capability
  {"kind": "params", "model": ..., "params": N, ...}             sum(p.numel()) of the timed model
  {"kind": "result", "impl": "pytorch", "model": ..., "input": S, "threads": T, "metric": "train"|"infer"|
   "latency", "unit": "images/s"|"us", "wall_median": x, "wall_min": x, "wall_max": x, "cpu_median": x,
   "cpu_min": x, "cpu_max": x, "cpu_share": x, "reps": R, "calls": C, "batch": B}
  {"kind": "end", ...}                                           the load average after the run
Every object is flat (no nesting, no arrays), so the C++ reader needs no JSON library.
--table also prints a readable table on stderr.
"""
import argparse
import json
import os
import statistics
import sys
import time

# OpenBLAS's own pool fights torch's OpenMP pool on 2 vCPUs (NOTES.md): one thread, set before torch loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402


class AutoencoderClassifier(nn.Module):
    """DESIGN.md's autoencoder, classifier path only (names as plasmo's: enc1..enc3, fc1, fc2)."""

    def __init__(self, input_size=32):
        super().__init__()
        if input_size % 8 != 0:
            raise ValueError("autoencoder input must be a multiple of 8")
        self.enc1 = nn.Conv2d(3, 16, 3, padding=1)
        self.enc2 = nn.Conv2d(16, 8, 3, padding=1)
        self.enc3 = nn.Conv2d(8, 4, 3, padding=1)
        side = input_size // 8
        self.fc1 = nn.Linear(4 * side * side, 32)
        self.fc2 = nn.Linear(32, 2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.enc1(x)), 2)
        x = F.max_pool2d(F.relu(self.enc2(x)), 2)
        x = F.max_pool2d(F.relu(self.enc3(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


# The decoder's parameters (dec1..dec4, 3x3 convs with bias), for the whole model file's count only.
AUTOENCODER_DECODER = [(4, 4), (4, 8), (8, 16), (16, 3)]

MODELS = {"autoencoder": 32, "resnet18": 64, "mobilenetv2": 64}


def build(name, input_size):
    if name == "autoencoder":
        return AutoencoderClassifier(input_size)
    if name == "resnet18":
        return torchvision.models.resnet18(num_classes=2)
    if name == "mobilenetv2":
        return torchvision.models.mobilenet_v2(num_classes=2)
    raise ValueError(f"unknown model {name}")


def count_params(name, model):
    trained = sum(p.numel() for p in model.parameters())
    total = trained
    if name == "autoencoder":
        total += sum(cout * cin * 9 + cout for cin, cout in AUTOENCODER_DECODER)
    return trained, total


def load_average():
    one, five, fifteen = os.getloadavg()
    return {"load1": one, "load5": five, "load15": fifteen}


def blas_library():
    """The BLAS torch loaded (libblas.so.3 is Debian's alternatives link: netlib's reference BLAS unless
    OpenBLAS is installed or put first on LD_LIBRARY_PATH). torch runs small-batch convolutions and Linear
    through it, so the reference BLAS makes PyTorch's single-image latency several times slower."""
    paths = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path)
            if name.startswith(("libblas.so", "libopenblas", "libmkl_rt", "libblis")):
                paths.add(os.path.realpath(path))
    if not paths:
        return "unknown"
    kinds = []
    for folder in sorted({os.path.dirname(path) for path in paths}):
        kind = "openblas" if "openblas" in folder else "mkl" if "mkl" in folder else "blis" if "blis" in folder \
            else "netlib reference" if folder.endswith("/blas") else "unknown"
        kinds.append(f"{kind} ({folder})")
    return ", ".join(kinds)


def cpu_capability():
    """ATen's vector ISA in use ("AVX2", "AVX512", "DEFAULT"), from torch's build summary."""
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def time_reps(fn, reps, min_time, warmup, threads):
    """Seconds per call of fn, per repetition, by two clocks: wall (time.perf_counter) and CPU time (the
    calling thread's with one thread, time.thread_time, since it does all the work; the whole process's
    with more, time.process_time). `warmup` calls first; a repetition is a whole number of calls lasting
    at least min_time seconds of wall clock. Returns ([(wall, cpu) per call for each rep], calls)."""
    cpu_clock = time.thread_time if threads == 1 else time.process_time
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    fn()
    one = max(time.perf_counter() - start, 1e-9)
    calls = max(1, int(min_time / one + 0.999))
    per_call = []
    for _ in range(reps):
        wall0, cpu0 = time.perf_counter(), cpu_clock()
        for _ in range(calls):
            fn()
        wall, cpu = time.perf_counter() - wall0, cpu_clock() - cpu0
        per_call.append((wall / calls, cpu / calls))
    return per_call, calls


def summarize(values):
    return statistics.median(values), min(values), max(values)


def bench_model(name, input_size, threads, args, emit):
    torch.manual_seed(0)
    model = build(name, input_size)
    batch = args.batch
    x = torch.randn(batch, 3, input_size, input_size)
    labels = torch.randint(0, 2, (batch,))
    x1 = torch.randn(1, 3, input_size, input_size)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train_step():
        optimizer.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()

    def infer():
        with torch.no_grad():
            model(x)

    def latency():
        with torch.no_grad():
            model(x1)

    def report(metric, per_call, calls, images):
        # latency in microseconds per call; throughput in images per second
        value = (lambda t: 1e6 * t) if metric == "latency" else (lambda t: images / t)
        row = {"kind": "result", "impl": "pytorch", "model": name, "input": input_size, "threads": threads,
               "metric": metric, "unit": "us" if metric == "latency" else "images/s", "reps": len(per_call),
               "calls": calls, "batch": images}
        for clock, index in (("wall", 0), ("cpu", 1)):
            median, low, high = summarize([value(t[index]) for t in per_call])
            row.update({f"{clock}_median": median, f"{clock}_min": low, f"{clock}_max": high})
        # share of the T cores this run had: CPU seconds / (wall seconds x T); well below 1 = a busy machine
        row["cpu_share"] = statistics.median(t[1] / (t[0] * threads) for t in per_call)
        emit(row)

    model.train()
    per_call, calls = time_reps(train_step, args.reps, args.min_time, args.warmup, threads)
    report("train", per_call, calls, batch)
    model.eval()
    per_call, calls = time_reps(infer, args.reps, args.min_time, args.warmup, threads)
    report("infer", per_call, calls, batch)
    per_call, calls = time_reps(latency, args.reps, args.min_time, args.warmup, threads)
    report("latency", per_call, calls, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", choices=sorted(MODELS), help="repeatable; default all three")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions (default 5)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per repetition, at least (0.5)")
    parser.add_argument("--table", action="store_true", help="also print a readable table on stderr")
    args = parser.parse_args()
    if args.batch < 1 or args.reps < 1 or args.warmup < 0 or args.min_time <= 0:
        parser.error("--batch, --reps >= 1, --warmup >= 0, --min-time > 0")
    threads = [int(t) for t in args.threads.split(",") if t]
    models = args.model or list(MODELS)

    rows = []

    def emit(obj):
        print(json.dumps(obj), flush=True)
        rows.append(obj)

    torch.set_num_interop_threads(1)
    emit({"kind": "env", "impl": "pytorch", "torch": torch.__version__, "torchvision": torchvision.__version__,
          "cpu_capability": cpu_capability(), "mkldnn": torch.backends.mkldnn.is_available(),
          "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"), "blas": blas_library(), **load_average()})
    for name in models:
        trained, total = count_params(name, build(name, MODELS[name]))
        emit({"kind": "params", "impl": "pytorch", "model": name, "params": trained, "params_total": total})
    for name in models:
        for t in threads:
            torch.set_num_threads(t)
            bench_model(name, MODELS[name], t, args, emit)
    emit({"kind": "end", "impl": "pytorch", **load_average()})

    if args.table:
        print(f"{'model':<12} {'T':>2} {'metric':<8} {'wall median':>12} {'min..max':>20} {'cpu median':>12} "
              f"{'min..max':>20} {'share':>5} unit", file=sys.stderr)
        for r in rows:
            if r["kind"] == "result":
                print(f"{r['model']:<12} {r['threads']:>2} {r['metric']:<8} {r['wall_median']:>12.1f} "
                      f"{r['wall_min']:>9.1f}..{r['wall_max']:<9.1f} {r['cpu_median']:>12.1f} "
                      f"{r['cpu_min']:>9.1f}..{r['cpu_max']:<9.1f} "
                      f"{r['cpu_share']:>5.2f} {r['unit']}", file=sys.stderr)


if __name__ == "__main__":
    main()
