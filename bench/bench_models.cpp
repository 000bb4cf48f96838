// Model benchmark (`make bench`, via bench/run_bench.sh): plasmo's side of the model table, the same
// measurements tools/bench_torch.py takes of PyTorch, on the same models and settings:
//   train    images/s of a training step at batch 64: optimizer.zero_grad, forward (train mode), softmax
//            cross-entropy, backward, SGD(lr 0.01, momentum 0.9) step
//   infer    images/s of a forward at batch 64 in eval mode
//   latency  microseconds of one forward of one image (batch 1), eval mode
// for autoencoder@32, resnet18@64 and mobilenetv2@64 (width 1, seed 1), with each thread count of --threads
// (set_thread_count; the model is rebuilt for each count).
//
// Timing: warm-up calls, then --reps repetitions, each a whole number of calls lasting at least --min-time
// seconds; a repetition's value is its mean per call; reported are the median and min..max over repetitions.
// Each repetition is timed by the wall clock and by CPU time (the calling thread's with one thread, which then
// does all the work; the process's with more). On a shared machine the wall clock counts time spent waiting
// for a core and the one-thread CPU time does not; cpu_share = CPU / (wall x threads) says how much of its
// cores the run had.
//
// Output: flat JSON lines on stdout (bench/jsonl.h), the format of tools/bench_torch.py; `--report` reads
// both and prints the table (bench/report.cpp).
//   bench-models [--model NAME]... [--metric train|infer|latency]... [--threads 1,2] [--reps N] [--warmup N]
//                [--min-time S] [--batch N] [--seed N] [--no-measure] [--peak] [--profile]
//   bench-models --report FILE... [--clock auto|wall|cpu] [--layers N] [--kernels FILE]
// --peak adds the FMA peak probe's line; --profile adds per-layer times at one thread (bench/model_profile.h)
// of a training step, an inference at --batch and a single-image forward.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/fma_probe.h"
#include "bench/jsonl.h"
#include "bench/model_profile.h"
#include "bench/report.h"
#include "engine/kernels/kernels.h"
#include "engine/loss.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "models/model.h"

using namespace plasmo;
using plasmo::bench::JsonLine;

namespace {

struct Options {
  std::vector<std::string> models;
  std::vector<int> threads = {1, 2};
  int reps = 5, warmup = 3, batch = 64;
  double min_time = 0.5;
  std::vector<std::string> metrics = {"train", "infer", "latency"};
  bool measure = true, peak = false, profile = false;
  uint64_t seed = 1;
};

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double cpu_seconds(clockid_t clock) {
  timespec t;
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Timing {
  std::vector<double> wall, cpu;  // seconds per call, one value per repetition
  int calls = 1;
};

// See the header comment: warm-up, size a repetition to min_time, then time `reps` of them by both clocks.
template <class Fn>
Timing time_reps(const Options& options, int threads, Fn&& fn) {
  const clockid_t clock = threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_PROCESS_CPUTIME_ID;
  for (int i = 0; i < options.warmup; ++i) fn();
  double start = wall_seconds();
  fn();
  const double one = std::max(wall_seconds() - start, 1e-9);
  Timing t;
  t.calls = std::max(1, static_cast<int>(options.min_time / one + 0.999));
  for (int r = 0; r < options.reps; ++r) {
    start = wall_seconds();
    const double cpu_start = cpu_seconds(clock);
    for (int c = 0; c < t.calls; ++c) fn();
    t.cpu.push_back((cpu_seconds(clock) - cpu_start) / t.calls);
    t.wall.push_back((wall_seconds() - start) / t.calls);
  }
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

JsonLine load_average(JsonLine line) {
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) line.add("load1", load[0]).add("load5", load[1]).add("load15", load[2]);
  return line;
}

void emit(const JsonLine& line) {
  std::printf("%s\n", line.str().c_str());
  std::fflush(stdout);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    if (key == "model name" || key == "Model" || key == "Hardware")
      return line.substr(line.find_first_not_of(" \t", colon + 1));
  }
  return "unknown";
}

void emit_env() {
  const char* names[4];
  const int count = kernels::available_isas(names);
  std::string isas;
  for (int i = 0; i < count; ++i) isas += (i ? " " : "") + std::string(names[i]);
  JsonLine line;
  line.add("kind", "env").add("impl", "plasmo").add("cpu", cpu_model());
  line.add("cores", static_cast<int>(std::thread::hardware_concurrency()));
  line.add("isa", kernels::K().isa).add("isas", isas);
  const char* forced = std::getenv("PLASMO_ISA");
  line.add("plasmo_isa_env", forced ? forced : "");
  emit(load_average(line));
}

void emit_peak(int reps) {
  const bench::PeakResult peak = bench::measure_fma_peak(std::max(reps, 9));
  emit(JsonLine()
           .add("kind", "peak")
           .add("impl", "plasmo")
           .add("isa", peak.isa)
           .add("probe", "bench/peak.h")
           .add("gflops_median", peak.median)
           .add("gflops_min", peak.min)
           .add("gflops_max", peak.max));
}

void emit_timing(const std::string& model, int input, int threads, const char* metric, int batch, const Timing& t) {
  const bool latency = std::strcmp(metric, "latency") == 0;
  // latency in microseconds per call; throughput in images per second
  auto value = [&](double seconds) { return latency ? 1e6 * seconds : batch / seconds; };
  JsonLine line;
  line.add("kind", "result").add("impl", "plasmo").add("model", model).add("input", input);
  line.add("threads", threads).add("metric", metric).add("unit", latency ? "us" : "images/s");
  line.add("reps", static_cast<int>(t.wall.size())).add("calls", t.calls).add("batch", batch);
  for (const auto& [clock, seconds] : {std::make_pair("wall", &t.wall), std::make_pair("cpu", &t.cpu)}) {
    std::vector<double> values;
    for (double s : *seconds) values.push_back(value(s));
    line.add(std::string(clock) + "_median", median(values));
    line.add(std::string(clock) + "_min", *std::min_element(values.begin(), values.end()));
    line.add(std::string(clock) + "_max", *std::max_element(values.begin(), values.end()));
  }
  std::vector<double> share;
  for (size_t r = 0; r < t.wall.size(); ++r) share.push_back(t.cpu[r] / (t.wall[r] * threads));
  line.add("cpu_share", median(share));
  emit(line);
}

// Random inputs (standard normal pixels) and labels, the same for every model of a size.
struct Batch {
  Tensor x, x1;
  std::vector<int32_t> labels;
};

Batch make_batch(int batch, int size, uint64_t seed) {
  Batch b;
  b.x = Tensor(Shape{batch, 3, size, size});
  b.x1 = Tensor(Shape{1, 3, size, size});
  Rng rng(seed);
  for (size_t i = 0; i < b.x.size(); ++i) b.x[i] = rng.normal();
  for (size_t i = 0; i < b.x1.size(); ++i) b.x1[i] = rng.normal();
  for (int n = 0; n < batch; ++n) b.labels.push_back(static_cast<int32_t>(rng.below(2)));
  return b;
}

std::unique_ptr<Optimizer> make_sgd(Model& model) {
  SGDOptions sgd;
  sgd.lr = 0.01;
  sgd.momentum = 0.9;
  return std::make_unique<SGD>(model.params(), sgd);
}

void measure(const std::string& name, int threads, const Options& options) {
  set_thread_count(threads);
  const int size = default_input_size(name);
  auto model = make_model(name, 1.0, size, options.seed);
  auto optimizer = make_sgd(*model);
  const Batch b = make_batch(options.batch, size, options.seed);
  auto wanted = [&](const char* metric) {
    return std::find(options.metrics.begin(), options.metrics.end(), metric) != options.metrics.end();
  };
  Tensor dlogits;
  if (wanted("train")) {
    const Timing train = time_reps(options, threads, [&] {
      optimizer->zero_grad();
      const Tensor& logits = model->forward(b.x, Mode::Train);
      softmax_cross_entropy(logits, b.labels, dlogits);
      model->backward(dlogits);
      optimizer->step();
    });
    emit_timing(name, size, threads, "train", options.batch, train);
  }
  if (wanted("infer")) {
    const Timing infer = time_reps(options, threads, [&] { model->forward(b.x, Mode::Eval); });
    emit_timing(name, size, threads, "infer", options.batch, infer);
  }
  if (wanted("latency")) {
    const Timing latency = time_reps(options, threads, [&] { model->forward(b.x1, Mode::Eval); });
    emit_timing(name, size, threads, "latency", 1, latency);
  }
}

void emit_params(const std::string& name, const Options& options) {
  auto model = make_model(name, 1.0, default_input_size(name), options.seed);
  int64_t trained = 0;
  for (const Param& p : model->params()) trained += static_cast<int64_t>(p.value->size());
  emit(JsonLine()
           .add("kind", "params")
           .add("impl", "plasmo")
           .add("model", name)
           .add("params", trained)
           .add("params_total", model->param_count())
           .add("macs", model->macs()));
}

void emit_profile(const std::string& pass, const std::string& model, int batch, const bench::ModelProfile& p) {
  emit(JsonLine()
           .add("kind", "profile")
           .add("impl", "plasmo")
           .add("model", model)
           .add("pass", pass)
           .add("batch", batch)
           .add("seconds", p.step));
  for (const bench::LayerTime& layer : p.layers)
    emit(JsonLine()
             .add("kind", "layer")
             .add("impl", "plasmo")
             .add("model", model)
             .add("pass", pass)
             .add("batch", batch)
             .add("name", layer.name)
             .add("summary", layer.summary)
             .add("group", layer.group)
             .add("forward_flops", layer.forward_flops)
             .add("backward_flops", layer.backward_flops)
             .add("forward_s", layer.forward)
             .add("backward_s", layer.backward));
}

// Per-layer times at one thread: a training step and an inference at options.batch, one image.
void profile(const std::string& name, const Options& options) {
  set_thread_count(1);
  const int size = default_input_size(name);
  auto model = make_model(name, 1.0, size, options.seed);
  auto optimizer = make_sgd(*model);
  const Batch b = make_batch(options.batch, size, options.seed);
  // About --min-time of work per repetition, at least one call.
  auto calls_for = [&](auto&& fn) {
    const double start = wall_seconds();
    fn();
    return std::max(1, static_cast<int>(options.min_time / std::max(wall_seconds() - start, 1e-9)));
  };
  Tensor dlogits;
  const int train_calls = calls_for([&] {
    const Tensor& logits = model->forward(b.x, Mode::Train);
    softmax_cross_entropy(logits, b.labels, dlogits);
    model->backward(dlogits);
  });
  emit_profile("train", name, options.batch,
               bench::profile_training(*model, b.x, b.labels, *optimizer, options.reps, train_calls));
  const int infer_calls = calls_for([&] { model->forward(b.x, Mode::Eval); });
  emit_profile("infer", name, options.batch, bench::profile_inference(*model, b.x, options.reps, infer_calls));
  const int latency_calls = calls_for([&] { model->forward(b.x1, Mode::Eval); });
  emit_profile("latency", name, 1, bench::profile_inference(*model, b.x1, options.reps, latency_calls));
}

[[noreturn]] void usage(const char* error) {
  if (error) std::fprintf(stderr, "bench-models: error: %s\n", error);
  std::fprintf(stderr,
               "usage: bench-models [--model NAME]... [--metric train|infer|latency]... [--threads 1,2] [--reps N]\n"
               "                    [--warmup N] [--min-time S] [--batch N] [--seed N] [--no-measure] [--peak]\n"
               "                    [--profile]\n"
               "       bench-models --report FILE... [--clock auto|wall|cpu] [--layers N] [--kernels FILE]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  bench::ReportOptions report;
  bool reporting = false, metrics_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage((arg + " needs a value").c_str());
      return argv[++i];
    };
    if (arg == "--model") {
      options.models.push_back(value());
    } else if (arg == "--threads") {
      options.threads.clear();
      const std::string list = value();
      for (size_t pos = 0; pos < list.size();) {
        const size_t comma = std::min(list.find(',', pos), list.size());
        options.threads.push_back(std::atoi(list.substr(pos, comma - pos).c_str()));
        pos = comma + 1;
      }
    } else if (arg == "--metric") {
      if (!metrics_given) options.metrics.clear();
      metrics_given = true;
      options.metrics.push_back(value());
      if (options.metrics.back() != "train" && options.metrics.back() != "infer" && options.metrics.back() != "latency")
        usage("--metric: train, infer or latency");
    } else if (arg == "--reps") {
      options.reps = std::atoi(value().c_str());
    } else if (arg == "--warmup") {
      options.warmup = std::atoi(value().c_str());
    } else if (arg == "--min-time") {
      options.min_time = std::atof(value().c_str());
    } else if (arg == "--batch") {
      options.batch = std::atoi(value().c_str());
    } else if (arg == "--seed") {
      options.seed = std::strtoull(value().c_str(), nullptr, 10);
    } else if (arg == "--no-measure") {
      options.measure = false;
    } else if (arg == "--peak") {
      options.peak = true;
    } else if (arg == "--profile") {
      options.profile = true;
    } else if (arg == "--report") {
      reporting = true;
    } else if (arg == "--clock") {
      report.clock = value();
    } else if (arg == "--kernels") {
      report.kernels_file = value();
    } else if (arg == "--layers") {
      report.top_layers = std::atoi(value().c_str());
    } else if (reporting && !arg.empty() && arg[0] != '-') {
      report.files.push_back(arg);
    } else {
      usage(("unknown argument " + arg).c_str());
    }
  }
  if (reporting) {
    if (report.files.empty()) usage("--report needs result files");
    if (report.clock != "auto" && report.clock != "wall" && report.clock != "cpu") usage("--clock: auto, wall or cpu");
    try {
      return bench::print_report(report);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench-models: error: %s\n", e.what());
      return 1;
    }
  }
  if (options.reps < 1 || options.warmup < 0 || options.batch < 1 || options.min_time <= 0)
    usage("--reps and --batch must be >= 1, --warmup >= 0, --min-time > 0");
  for (int t : options.threads)
    if (t < 1) usage("--threads: counts must be >= 1");
  if (options.models.empty()) options.models = model_names();
  try {
    emit_env();
    if (options.peak) emit_peak(options.reps);
    if (options.measure) {
      for (const std::string& name : options.models) emit_params(name, options);
      for (const std::string& name : options.models)
        for (int t : options.threads) measure(name, t, options);
    }
    if (options.profile)
      for (const std::string& name : options.models) profile(name, options);
    emit(load_average(JsonLine().add("kind", "end").add("impl", "plasmo")));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-models: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
