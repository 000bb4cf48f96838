#include "bench/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "bench/jsonl.h"

namespace plasmo::bench {
namespace {

// The targets (issue 6), measured on this table: plasmo / PyTorch at one thread.
struct ModelTargets {
  const char* model;
  const char* label;     // "autoencoder@32"
  double train_ratio;    // plasmo training images/s >= this x PyTorch's
  double latency_ratio;  // plasmo single-image latency <= this x PyTorch's
  const char* latency_text;
};
const ModelTargets kTargets[] = {
    {"autoencoder", "autoencoder@32", 3.0, 0.25, "1/4"},
    {"resnet18", "resnet18@64", 1.2, 0.5, "1/2"},
    {"mobilenetv2", "mobilenetv2@64", 3.0, 0.25, "1/4"},
};
constexpr double kScalingTarget = 1.7;       // 2-thread training images/s >= 1.7x the model's own 1-thread
constexpr double kConv3x3PeakTarget = 0.60;  // resnet18's 3x3 convs, forward, 1 thread, of the FMA peak
// Below this cpu share (CPU time / (wall x threads)) a run waited for its cores much of the time: its wall-clock
// figures, and a scaling from them, describe the machine's load rather than the code.
constexpr double kBusyShare = 0.8;

struct Data {
  std::map<std::string, JsonObject> env, end;  // by impl: the first env line, the last end line
  JsonObject peak;
  std::map<std::pair<std::string, std::string>, JsonObject> params;  // (impl, model)
  // (impl, model, threads, metric) -> one line per run (several when the files hold repeated runs)
  std::map<std::tuple<std::string, std::string, int, std::string>, std::vector<JsonObject>> results;
  std::map<std::pair<std::string, std::string>, JsonObject> profiles;             // (model, pass)
  std::map<std::pair<std::string, std::string>, std::vector<JsonObject>> layers;  // (model, pass)
};

double num(const JsonObject& o, const std::string& key, double fallback = 0) {
  auto it = o.find(key);
  return it == o.end() ? fallback : std::atof(it->second.c_str());
}
std::string str(const JsonObject& o, const std::string& key, const std::string& fallback = "") {
  auto it = o.find(key);
  return it == o.end() ? fallback : it->second;
}

Data read(const std::vector<std::string>& files) {
  Data d;
  for (const std::string& file : files) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error("cannot read " + file);
    std::string line;
    while (std::getline(in, line)) {
      JsonObject o;
      if (!parse_json_line(line, o)) continue;  // log lines, warnings
      const std::string kind = str(o, "kind"), impl = str(o, "impl"), model = str(o, "model");
      if (kind == "env" && !d.env.count(impl)) d.env[impl] = o;
      if (kind == "end") d.end[impl] = o;
      if (kind == "peak" && d.peak.empty()) d.peak = o;
      if (kind == "params") d.params[{impl, model}] = o;
      if (kind == "result")
        d.results[{impl, model, static_cast<int>(num(o, "threads")), str(o, "metric")}].push_back(o);
      if (kind == "profile") {
        d.profiles[{model, str(o, "pass")}] = o;
        d.layers[{model, str(o, "pass")}].clear();  // a later profile of the same pass replaces it
      }
      if (kind == "layer") d.layers[{model, str(o, "pass")}].push_back(o);
    }
  }
  return d;
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A measurement by the chosen clock. Over several runs: the median of the runs' medians, the min and max
// over all their repetitions, the median cpu share.
struct Value {
  bool present = false;
  double median = 0, min = 0, max = 0, share = 0;
  int runs = 0;
};

Value value(const Data& d, const std::string& impl, const std::string& model, int threads, const std::string& metric,
            const std::string& clock) {
  auto it = d.results.find({impl, model, threads, metric});
  if (it == d.results.end() || it->second.empty()) return Value{};
  Value v;
  v.present = true;
  v.runs = static_cast<int>(it->second.size());
  std::vector<double> medians, shares;
  v.min = num(it->second.front(), clock + "_min");
  v.max = num(it->second.front(), clock + "_max");
  for (const JsonObject& o : it->second) {
    medians.push_back(num(o, clock + "_median"));
    shares.push_back(num(o, "cpu_share"));
    v.min = std::min(v.min, num(o, clock + "_min"));
    v.max = std::max(v.max, num(o, clock + "_max"));
  }
  v.median = median_of(medians);
  v.share = median_of(shares);
  return v;
}

std::string fmt(double x) {
  char text[32];
  if (x >= 100)
    std::snprintf(text, sizeof text, "%.0f", x);
  else if (x >= 10)
    std::snprintf(text, sizeof text, "%.1f", x);
  else
    std::snprintf(text, sizeof text, "%.2f", x);
  return text;
}
std::string with_spread(const Value& v) {
  if (!v.present) return "n/a";
  return fmt(v.median) + " (" + fmt(v.min) + ".." + fmt(v.max) + ")";
}
std::string ratio_text(double r) {
  char text[32];
  std::snprintf(text, sizeof text, r >= 10 ? "%.1fx" : r >= 0.1 ? "%.2fx" : "%.3fx", r);
  return text;
}
std::string percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%.0f%%", 100 * fraction);
  return text;
}
// "yes", or by how much a target is missed: "no: 0.6x of 3x" style texts.
std::string verdict_at_least(double measured, double target) {
  if (measured >= target) return "yes";
  char text[64];
  std::snprintf(text, sizeof text, "**no**: %.0f%% short (needs %.2fx more)", 100 * (1 - measured / target),
                target / measured);
  return text;
}
std::string verdict_at_most(double measured, double target) {
  if (measured <= target) return "yes";
  char text[64];
  std::snprintf(text, sizeof text, "**no**: needs %.2fx faster", measured / target);
  return text;
}

// A scaling verdict, unless either run was starved of its cores.
std::string scaling_verdict(double scaling, const Value& one, const Value& many) {
  if (one.share < kBusyShare || many.share < kBusyShare) {
    char text[128];
    std::snprintf(text, sizeof text, "not measurable: busy machine (cpu share %.2f / %.2f, needs >= %.1f)", one.share,
                  many.share, kBusyShare);
    return text;
  }
  return verdict_at_least(scaling, kScalingTarget);
}

std::string clock_for(const ReportOptions& options, int threads) {
  if (options.clock != "auto") return options.clock;
  return threads == 1 ? "cpu" : "wall";
}

void print_machine(const Data& d) {
  const JsonObject* plasmo = d.env.count("plasmo") ? &d.env.at("plasmo") : nullptr;
  const JsonObject* torch = d.env.count("pytorch") ? &d.env.at("pytorch") : nullptr;
  std::printf("## Machine\n\n| | |\n| --- | --- |\n");
  if (plasmo) {
    std::printf("| CPU | %s |\n", str(*plasmo, "cpu").c_str());
    std::printf("| cores (online) | %s |\n", str(*plasmo, "cores").c_str());
    const std::string forced = str(*plasmo, "plasmo_isa_env");
    std::printf("| plasmo kernels (ISA in use) | %s%s; this CPU and build run: %s |\n", str(*plasmo, "isa").c_str(),
                forced.empty() ? "" : (" (PLASMO_ISA=" + forced + ")").c_str(), str(*plasmo, "isas").c_str());
  }
  if (!d.peak.empty()) {
    if (str(d.peak, "isa") == "none")
      std::printf("| fp32 FMA peak, 1 thread | n/a (no probe for this CPU) |\n");
    else
      std::printf("| fp32 FMA peak, 1 thread | %.1f GFLOP/s %s (%.1f..%.1f; probe %s) |\n",
                  num(d.peak, "gflops_median"), str(d.peak, "isa").c_str(), num(d.peak, "gflops_min"),
                  num(d.peak, "gflops_max"), str(d.peak, "probe").c_str());
  }
  if (torch) {
    std::printf("| PyTorch | torch %s, torchvision %s, ATen CPU capability %s, oneDNN %s, OPENBLAS_NUM_THREADS=%s |\n",
                str(*torch, "torch").c_str(), str(*torch, "torchvision").c_str(), str(*torch, "cpu_capability").c_str(),
                str(*torch, "mkldnn") == "true" ? "on" : "off", str(*torch, "openblas_threads").c_str());
    const std::string blas = str(*torch, "blas", "unknown");
    std::printf("| PyTorch's BLAS | %s%s |\n", blas.c_str(),
                blas.rfind("netlib", 0) == 0
                    ? " -- **the unoptimised reference BLAS**: torch runs small-batch convolutions and Linear on it, "
                      "so its latency column is several times slower than with OpenBLAS (install libopenblas0-pthread "
                      "or set BENCH_TORCH_BLAS)"
                    : "");
  } else
    std::printf("| PyTorch | not installed: PyTorch columns are n/a (`make bench-deps` installs it) |\n");
  std::string load;
  for (const auto& [impl, o] : d.env) load += impl + " start " + fmt(num(o, "load1")) + ", ";
  for (const auto& [impl, o] : d.end) load += impl + " end " + fmt(num(o, "load1")) + ", ";
  if (!load.empty()) load.resize(load.size() - 2);
  std::printf("| load average (1 min; %s cores) | %s |\n\n", plasmo ? str(*plasmo, "cores").c_str() : "?",
              load.c_str());
}

void print_models(const Data& d, const ReportOptions& options, const std::vector<int>& threads) {
  std::printf("## Models: plasmo vs PyTorch\n\n");
  std::printf(
      "Batch 64 (training: forward + cross-entropy + backward + SGD momentum 0.9 step; inference: eval mode), "
      "latency: one image, eval mode. Median of the repetitions (min..max). Clock: %s. cpu share = CPU time / (wall "
      "time x threads): the part of its cores a run had (well below 1: a busy machine).\n\n",
      options.clock == "auto" ? "CPU time of the calling thread at 1 thread, wall clock at 2 threads"
                              : (options.clock + " for every row").c_str());
  double lowest = 1;
  size_t most_runs = 0;
  for (const auto& [key, runs] : d.results) {
    most_runs = std::max(most_runs, runs.size());
    for (const JsonObject& o : runs) lowest = std::min(lowest, num(o, "cpu_share", 1));
  }
  if (most_runs > 1)
    std::printf(
        "Repeated runs: each cell is the median of up to %zu runs' medians, with the min..max over all their "
        "repetitions.\n\n",
        most_runs);
  if (lowest < kBusyShare)
    std::printf(
        "**Busy machine**: some runs had as little as %.0f%% of their cores. One-thread rows use CPU time and "
        "hold up (cache sharing with other processes still slows them somewhat); wall-clock rows marked (busy) and "
        "the scaling below measure the load, not the code: run `make bench` on a quiet machine for those.\n\n",
        100 * lowest);
  std::printf(
      "| model | measure | threads | plasmo | PyTorch | plasmo / PyTorch | target | met | cpu share plasmo / "
      "PyTorch |\n| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |\n");
  const struct {
    const char* metric;
    const char* label;
  } metrics[] = {{"train", "training, images/s"}, {"infer", "inference, images/s"}, {"latency", "latency, us"}};
  for (const ModelTargets& target : kTargets) {
    for (const auto& metric : metrics) {
      for (int t : threads) {
        const std::string clock = clock_for(options, t);
        const Value p = value(d, "plasmo", target.model, t, metric.metric, clock);
        const Value q = value(d, "pytorch", target.model, t, metric.metric, clock);
        if (!p.present && !q.present) continue;
        std::string ratio = "n/a", goal, met;
        const bool latency = std::string(metric.metric) == "latency";
        if (p.present && q.present && p.median > 0 && q.median > 0) ratio = ratio_text(p.median / q.median);
        if (t == 1 && std::string(metric.metric) == "train") {
          goal = ">= " + ratio_text(target.train_ratio);
          met = ratio == "n/a" ? "n/a" : verdict_at_least(p.median / q.median, target.train_ratio);
        }
        if (t == 1 && latency) {
          goal = "<= " + std::string(target.latency_text);
          met = ratio == "n/a" ? "n/a" : verdict_at_most(p.median / q.median, target.latency_ratio);
        }
        std::string share = (p.present ? fmt(p.share) : "n/a") + " / " + (q.present ? fmt(q.share) : "n/a");
        // Wall-clock rows of a starved run measure the load, not the code.
        if (clock == "wall" && ((p.present && p.share < kBusyShare) || (q.present && q.share < kBusyShare)))
          share += " (busy)";
        std::printf("| %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", target.label, metric.label, t,
                    with_spread(p).c_str(), with_spread(q).c_str(), ratio.c_str(), goal.c_str(), met.c_str(),
                    share.c_str());
      }
    }
  }
  std::printf("\n");
}

// Training images/s with 2 threads over 1, both by the wall clock (CPU time cannot show a speed-up).
void print_scaling(const Data& d, int many) {
  std::printf("## Scaling: training images/s, %d threads / 1 thread (wall clock)\n\n", many);
  std::printf("| model | plasmo | PyTorch | target (plasmo) | met | cpu share plasmo 1T / %dT |\n", many);
  std::printf("| --- | ---: | ---: | --- | --- | --- |\n");
  for (const ModelTargets& target : kTargets) {
    auto scaling = [&](const std::string& impl, double& s) {
      const Value one = value(d, impl, target.model, 1, "train", "wall");
      const Value two = value(d, impl, target.model, many, "train", "wall");
      if (!one.present || !two.present || one.median <= 0) return std::string("n/a");
      s = two.median / one.median;
      return ratio_text(s);
    };
    double plasmo = 0, torch = 0;
    const std::string p = scaling("plasmo", plasmo), q = scaling("pytorch", torch);
    if (p == "n/a" && q == "n/a") continue;
    const Value one = value(d, "plasmo", target.model, 1, "train", "wall");
    const Value two = value(d, "plasmo", target.model, many, "train", "wall");
    std::printf("| %s | %s | %s | >= %.1fx | %s | %s / %s |\n", target.label, p.c_str(), q.c_str(), kScalingTarget,
                p == "n/a" ? "n/a" : scaling_verdict(plasmo, one, two).c_str(),
                one.present ? fmt(one.share).c_str() : "n/a", two.present ? fmt(two.share).c_str() : "n/a");
  }
  std::printf("\n");
}

void print_params(const Data& d) {
  std::printf("## Parameter counts (cross-check)\n\n");
  std::printf("| model | plasmo, trained | PyTorch, trained | plasmo, model file | PyTorch, all | match |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | --- |\n");
  for (const ModelTargets& target : kTargets) {
    auto p = d.params.find({"plasmo", target.model});
    auto q = d.params.find({"pytorch", target.model});
    if (p == d.params.end() && q == d.params.end()) continue;
    auto cell = [](auto it, auto end, const char* key) {
      return it == end ? std::string("n/a") : str(it->second, key);
    };
    const std::string pt = cell(p, d.params.end(), "params"), qt = cell(q, d.params.end(), "params");
    const std::string pa = cell(p, d.params.end(), "params_total"), qa = cell(q, d.params.end(), "params_total");
    const std::string match = (pt == "n/a" || qt == "n/a") ? "n/a" : (pt == qt && pa == qa ? "yes" : "**NO**");
    std::printf("| %s | %s | %s | %s | %s | %s |\n", target.label, pt.c_str(), qt.c_str(), pa.c_str(), qa.c_str(),
                match.c_str());
  }
  std::printf("\n");
}

// Forward GFLOP/s of resnet18's 3x3 convolutions inside the model (training step, 1 thread), as a fraction
// of the peak; < 0 when there is no profile or no peak.
double resnet_conv3x3_forward_fraction(const Data& d, double* gflops) {
  auto it = d.layers.find({"resnet18", "train"});
  const double peak = num(d.peak, "gflops_median");
  if (it == d.layers.end() || peak <= 0) return -1;
  double flops = 0, seconds = 0;
  for (const JsonObject& layer : it->second)
    if (str(layer, "group") == "conv3x3") {
      flops += num(layer, "forward_flops");
      seconds += num(layer, "forward_s");
    }
  if (seconds <= 0) return -1;
  *gflops = flops / seconds / 1e9;
  return *gflops / peak;
}

void print_targets(const Data& d, const ReportOptions& options, int many) {
  std::printf("## Targets (issue 6)\n\n| target | measured | met |\n| --- | --- | --- |\n");
  for (const ModelTargets& target : kTargets) {
    const std::string clock = clock_for(options, 1);
    const Value pt = value(d, "plasmo", target.model, 1, "train", clock);
    const Value qt = value(d, "pytorch", target.model, 1, "train", clock);
    if (pt.present && qt.present)
      std::printf("| %s training >= %s PyTorch, 1 thread | %s | %s |\n", target.label,
                  ratio_text(target.train_ratio).c_str(), ratio_text(pt.median / qt.median).c_str(),
                  verdict_at_least(pt.median / qt.median, target.train_ratio).c_str());
    else
      std::printf("| %s training >= %s PyTorch, 1 thread | n/a | n/a |\n", target.label,
                  ratio_text(target.train_ratio).c_str());
    const Value pl = value(d, "plasmo", target.model, 1, "latency", clock);
    const Value ql = value(d, "pytorch", target.model, 1, "latency", clock);
    if (pl.present && ql.present)
      std::printf("| %s single-image latency <= %s of PyTorch's | %s | %s |\n", target.label, target.latency_text,
                  ratio_text(pl.median / ql.median).c_str(),
                  verdict_at_most(pl.median / ql.median, target.latency_ratio).c_str());
    else
      std::printf("| %s single-image latency <= %s of PyTorch's | n/a | n/a |\n", target.label, target.latency_text);
  }
  for (const ModelTargets& target : kTargets) {
    const Value one = value(d, "plasmo", target.model, 1, "train", "wall");
    const Value two = value(d, "plasmo", target.model, many, "train", "wall");
    if (one.present && two.present)
      std::printf("| %s training, %d threads >= %.1fx 1 thread (wall) | %s | %s |\n", target.label, many,
                  kScalingTarget, ratio_text(two.median / one.median).c_str(),
                  scaling_verdict(two.median / one.median, one, two).c_str());
  }
  double gflops = 0;
  const double fraction = resnet_conv3x3_forward_fraction(d, &gflops);
  if (fraction >= 0)
    std::printf(
        "| resnet18 3x3 convs forward >= 60%% of FMA peak, 1 thread (in the model, batch 64) | %s (%.1f GFLOP/s) | %s "
        "|\n",
        percent(fraction).c_str(), gflops, verdict_at_least(fraction, kConv3x3PeakTarget).c_str());
  else
    std::printf(
        "| resnet18 3x3 convs forward >= 60%% of FMA peak, 1 thread | see the kernel table (no profile here) | |\n");
  std::printf("\n");
}

struct GroupTotal {
  double forward = 0, backward = 0, forward_flops = 0, backward_flops = 0;
};

void print_profile(const Data& d, const ReportOptions& options) {
  if (d.profiles.empty()) return;
  const double peak = num(d.peak, "gflops_median");
  std::printf("## Where plasmo's time goes (1 thread, CPU time, per-layer walk: bench/model_profile.h)\n\n");
  const char* passes[] = {"train", "infer", "latency"};
  for (const ModelTargets& target : kTargets) {
    for (const char* pass : passes) {
      auto prof = d.profiles.find({target.model, pass});
      auto layers = d.layers.find({target.model, pass});
      if (prof == d.profiles.end() || layers == d.layers.end()) continue;
      std::map<std::string, GroupTotal> groups;
      double total = 0;
      for (const JsonObject& l : layers->second) {
        GroupTotal& g = groups[str(l, "group")];
        g.forward += num(l, "forward_s");
        g.backward += num(l, "backward_s");
        g.forward_flops += num(l, "forward_flops");
        g.backward_flops += num(l, "backward_flops");
        total += num(l, "forward_s") + num(l, "backward_s");
      }
      const double step = num(prof->second, "seconds");
      std::printf("### %s, %s, batch %s: %.3f ms per call uninstrumented, %.3f ms summed over the layers\n\n",
                  target.label, pass, str(prof->second, "batch").c_str(), 1e3 * step, 1e3 * total);
      // Forward-only passes (inference, latency) leave out the backward columns.
      const bool train = std::string(pass) == "train";
      auto rate = [](double flops, double s) { return flops > 0 && s > 0 ? fmt(flops / s / 1e9) : std::string(""); };
      if (train)
        std::printf(
            "| group | forward ms | backward ms | share | forward GFLOP/s | backward GFLOP/s | forward %% of "
            "peak |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
      else
        std::printf(
            "| group | forward ms | share | forward GFLOP/s | forward %% of peak |\n"
            "| --- | ---: | ---: | ---: | ---: |\n");
      std::vector<std::pair<std::string, GroupTotal>> sorted(groups.begin(), groups.end());
      std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
        return a.second.forward + a.second.backward > b.second.forward + b.second.backward;
      });
      for (const auto& [name, g] : sorted) {
        const std::string of_peak =
            g.forward_flops > 0 && g.forward > 0 && peak > 0 ? percent(g.forward_flops / g.forward / 1e9 / peak) : "";
        const std::string share = percent((g.forward + g.backward) / total);
        if (train)
          std::printf("| %s | %.3f | %.3f | %s | %s | %s | %s |\n", name.c_str(), 1e3 * g.forward, 1e3 * g.backward,
                      share.c_str(), rate(g.forward_flops, g.forward).c_str(),
                      rate(g.backward_flops, g.backward).c_str(), of_peak.c_str());
        else
          std::printf("| %s | %.3f | %s | %s | %s |\n", name.c_str(), 1e3 * g.forward, share.c_str(),
                      rate(g.forward_flops, g.forward).c_str(), of_peak.c_str());
      }
      std::vector<const JsonObject*> slowest;
      for (const JsonObject& l : layers->second) slowest.push_back(&l);
      std::sort(slowest.begin(), slowest.end(), [](const JsonObject* a, const JsonObject* b) {
        return num(*a, "forward_s") + num(*a, "backward_s") > num(*b, "forward_s") + num(*b, "backward_s");
      });
      if (static_cast<int>(slowest.size()) > options.top_layers) slowest.resize(std::max(options.top_layers, 0));
      if (!slowest.empty()) {
        if (train)
          std::printf(
              "\nSlowest layers:\n\n| layer | what | forward ms | backward ms | share | forward GFLOP/s | "
              "backward GFLOP/s |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
        else
          std::printf(
              "\nSlowest layers:\n\n| layer | what | forward ms | share | forward GFLOP/s |\n"
              "| --- | --- | ---: | ---: | ---: |\n");
        for (const JsonObject* l : slowest) {
          const double f = num(*l, "forward_s"), b = num(*l, "backward_s");
          const std::string share = percent((f + b) / total);
          if (train)
            std::printf("| %s | %s | %.3f | %.3f | %s | %s | %s |\n", str(*l, "name").c_str(),
                        str(*l, "summary").c_str(), 1e3 * f, 1e3 * b, share.c_str(),
                        rate(num(*l, "forward_flops"), f).c_str(), rate(num(*l, "backward_flops"), b).c_str());
          else
            std::printf("| %s | %s | %.3f | %s | %s |\n", str(*l, "name").c_str(), str(*l, "summary").c_str(), 1e3 * f,
                        share.c_str(), rate(num(*l, "forward_flops"), f).c_str());
        }
      }
      std::printf("\n");
    }
  }
}

}  // namespace

int print_report(const ReportOptions& options) {
  const Data d = read(options.files);
  std::vector<int> threads;
  for (const auto& [key, o] : d.results) {
    const int t = std::get<2>(key);
    if (std::find(threads.begin(), threads.end(), t) == threads.end()) threads.push_back(t);
  }
  std::sort(threads.begin(), threads.end());
  const int many = threads.empty() ? 2 : std::max(2, threads.back());
  std::printf("# plasmo model benchmark\n\n");
  print_machine(d);
  if (!options.kernels_file.empty()) {
    std::ifstream in(options.kernels_file);
    if (!in) throw std::runtime_error("cannot read " + options.kernels_file);
    std::printf("## Convolutions (bench-kernels: every conv of the three models, 1 thread)\n\n");
    std::string line;
    while (std::getline(in, line)) std::printf("%s\n", line.c_str());
    std::printf("\n");
  }
  if (!d.results.empty()) {
    print_models(d, options, threads);
    print_scaling(d, many);
  }
  if (!d.params.empty()) print_params(d);
  print_targets(d, options, many);
  print_profile(d, options);
  return 0;
}

}  // namespace plasmo::bench
