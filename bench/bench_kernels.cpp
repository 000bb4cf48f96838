// Kernel benchmark (`make bench-kernels`): the machine's fp32 FMA peak on one thread, then every
// convolution shape of the three models (autoencoder@32, resnet18@64 width 1.0, mobilenetv2@64 width 1.0)
// through the kernel table's forward, backward-data and backward-weight entries at batch 64 on one
// thread: GFLOP/s and % of the measured peak, and the scalar reference's GFLOP/s at batch 1.
//
// Timing: per-thread CPU time (CLOCK_THREAD_CPUTIME_ID), so other processes on this shared 2-vCPU machine
// do not count against a kernel (hypervisor time-sharing of the vCPU still can: compare the spread).
// Each number is the median of --reps runs after one warm-up run; "spread" is (max - min) / median.
//
// Options: --isa NAME (default: the best ISA, or PLASMO_ISA), --model autoencoder|resnet18|mobilenetv2
// (repeatable; default all), --batch N (64), --reps N (5), --no-ref.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "bench/peak.h"
#include "engine/kernels/kernels.h"
#include "engine/rng.h"

namespace plasmo::bench {
volatile float peak_sink = 0.0f;
}

using namespace plasmo;

namespace {

// One convolution of a model: how many times the model has it, and its geometry per image.
struct ConvShape {
  const char* model;
  const char* name;
  int count;
  int in_channels, in_size, out_channels, kernel, stride, pad, groups;
};

// clang-format off
// Every convolution of the three models (square inputs; in_size is the layer's input H = W). Shapes that
// repeat are listed once with their count.
const ConvShape kShapes[] = {
  // autoencoder@32 (classifier encoder + decoder): all 3x3, stride 1, padding 1
  {"autoencoder", "enc1",                 1,   3, 32,  16, 3, 1, 1,   1},
  {"autoencoder", "enc2",                 1,  16, 16,   8, 3, 1, 1,   1},
  {"autoencoder", "enc3",                 1,   8,  8,   4, 3, 1, 1,   1},
  {"autoencoder", "dec1",                 1,   4,  4,   4, 3, 1, 1,   1},
  {"autoencoder", "dec2",                 1,   4,  8,   8, 3, 1, 1,   1},
  {"autoencoder", "dec3",                 1,   8, 16,  16, 3, 1, 1,   1},
  {"autoencoder", "dec4",                 1,  16, 32,   3, 3, 1, 1,   1},
  // resnet18@64, width 1.0
  {"resnet18", "conv1 7x7/2",             1,   3, 64,  64, 7, 2, 3,   1},
  {"resnet18", "layer1 3x3",              4,  64, 16,  64, 3, 1, 1,   1},
  {"resnet18", "layer2.0.conv1 3x3/2",    1,  64, 16, 128, 3, 2, 1,   1},
  {"resnet18", "layer2 3x3",              3, 128,  8, 128, 3, 1, 1,   1},
  {"resnet18", "layer2.0.downsample 1x1/2", 1, 64, 16, 128, 1, 2, 0,  1},
  {"resnet18", "layer3.0.conv1 3x3/2",    1, 128,  8, 256, 3, 2, 1,   1},
  {"resnet18", "layer3 3x3",              3, 256,  4, 256, 3, 1, 1,   1},
  {"resnet18", "layer3.0.downsample 1x1/2", 1, 128, 8, 256, 1, 2, 0,  1},
  {"resnet18", "layer4.0.conv1 3x3/2",    1, 256,  4, 512, 3, 2, 1,   1},
  {"resnet18", "layer4 3x3",              3, 512,  2, 512, 3, 1, 1,   1},
  {"resnet18", "layer4.0.downsample 1x1/2", 1, 256, 4, 512, 1, 2, 0,  1},
  // mobilenetv2@64, width 1.0 (inverted residuals: 1x1 expand, 3x3 depthwise, 1x1 project)
  {"mobilenetv2", "features.0 3x3/2",     1,   3, 64,  32, 3, 2, 1,   1},
  {"mobilenetv2", "dw 32 @32",            1,  32, 32,  32, 3, 1, 1,  32},
  {"mobilenetv2", "project 32->16 @32",   1,  32, 32,  16, 1, 1, 0,   1},
  {"mobilenetv2", "expand 16->96 @32",    1,  16, 32,  96, 1, 1, 0,   1},
  {"mobilenetv2", "dw 96 /2 @32",         1,  96, 32,  96, 3, 2, 1,  96},
  {"mobilenetv2", "project 96->24 @16",   1,  96, 16,  24, 1, 1, 0,   1},
  {"mobilenetv2", "expand 24->144 @16",   2,  24, 16, 144, 1, 1, 0,   1},
  {"mobilenetv2", "dw 144 @16",           1, 144, 16, 144, 3, 1, 1, 144},
  {"mobilenetv2", "project 144->24 @16",  1, 144, 16,  24, 1, 1, 0,   1},
  {"mobilenetv2", "dw 144 /2 @16",        1, 144, 16, 144, 3, 2, 1, 144},
  {"mobilenetv2", "project 144->32 @8",   1, 144,  8,  32, 1, 1, 0,   1},
  {"mobilenetv2", "expand 32->192 @8",    3,  32,  8, 192, 1, 1, 0,   1},
  {"mobilenetv2", "dw 192 @8",            2, 192,  8, 192, 3, 1, 1, 192},
  {"mobilenetv2", "project 192->32 @8",   2, 192,  8,  32, 1, 1, 0,   1},
  {"mobilenetv2", "dw 192 /2 @8",         1, 192,  8, 192, 3, 2, 1, 192},
  {"mobilenetv2", "project 192->64 @4",   1, 192,  4,  64, 1, 1, 0,   1},
  {"mobilenetv2", "expand 64->384 @4",    4,  64,  4, 384, 1, 1, 0,   1},
  {"mobilenetv2", "dw 384 @4",            4, 384,  4, 384, 3, 1, 1, 384},
  {"mobilenetv2", "project 384->64 @4",   3, 384,  4,  64, 1, 1, 0,   1},
  {"mobilenetv2", "project 384->96 @4",   1, 384,  4,  96, 1, 1, 0,   1},
  {"mobilenetv2", "expand 96->576 @4",    3,  96,  4, 576, 1, 1, 0,   1},
  {"mobilenetv2", "dw 576 @4",            2, 576,  4, 576, 3, 1, 1, 576},
  {"mobilenetv2", "project 576->96 @4",   2, 576,  4,  96, 1, 1, 0,   1},
  {"mobilenetv2", "dw 576 /2 @4",         1, 576,  4, 576, 3, 2, 1, 576},
  {"mobilenetv2", "project 576->160 @2",  1, 576,  2, 160, 1, 1, 0,   1},
  {"mobilenetv2", "expand 160->960 @2",   3, 160,  2, 960, 1, 1, 0,   1},
  {"mobilenetv2", "dw 960 @2",            3, 960,  2, 960, 3, 1, 1, 960},
  {"mobilenetv2", "project 960->160 @2",  2, 960,  2, 160, 1, 1, 0,   1},
  {"mobilenetv2", "project 960->320 @2",  1, 960,  2, 320, 1, 1, 0,   1},
  {"mobilenetv2", "features.18 320->1280 @2", 1, 320, 2, 1280, 1, 1, 0, 1},
};
// clang-format on

double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Stat {
  double median = 0, spread = 0;
};

Stat summarize(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  Stat s;
  const size_t n = samples.size();
  s.median = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  s.spread = s.median > 0 ? (samples.back() - samples.front()) / s.median : 0;
  return s;
}

// Seconds per call of fn: one warm-up call, then the median of `reps` timed calls.
template <class Fn>
Stat time_calls(int reps, Fn&& fn) {
  fn();
  std::vector<double> samples;
  for (int r = 0; r < reps; ++r) {
    const double start = cpu_seconds();
    fn();
    samples.push_back(cpu_seconds() - start);
  }
  return summarize(samples);
}

// The peak of one probe: GFLOP/s over `reps` bursts of ~20 ms.
Stat measure_peak(double (*probe)(long), int reps) {
  if (probe(1) == 0.0) return Stat{};
  long iterations = 1 << 16;
  for (;;) {  // size a burst to ~20 ms
    const double start = cpu_seconds();
    probe(iterations);
    if (cpu_seconds() - start > 0.02 || iterations > (1L << 40)) break;
    iterations *= 2;
  }
  std::vector<double> rates;
  for (int r = 0; r < std::max(reps, 9); ++r) {
    const double start = cpu_seconds();
    const double flops = probe(iterations);
    rates.push_back(flops / (cpu_seconds() - start) / 1e9);
  }
  return summarize(rates);
}

struct Buffers {
  std::vector<float> x, w, b, y, dy, dx, dw, db, scratch;
};

void fill(std::vector<float>& v, size_t n, Rng& rng) {
  v.resize(n);
  for (auto& value : v) value = rng.uniform(-1.0f, 1.0f);
}

void prepare(const kernels::ConvGeom& g, const kernels::KernelTable& table, Buffers& buf, Rng& rng) {
  const size_t x_size = static_cast<size_t>(g.batch) * g.in_channels * g.in_h * g.in_w;
  const size_t y_size = static_cast<size_t>(g.batch) * g.out_channels * g.out_h * g.out_w;
  const size_t w_size = static_cast<size_t>(g.out_channels) * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
  fill(buf.x, x_size, rng);
  fill(buf.w, w_size, rng);
  fill(buf.b, g.out_channels, rng);
  fill(buf.dy, y_size, rng);
  buf.y.assign(y_size, 0.0f);
  buf.dx.assign(x_size, 0.0f);
  buf.dw.assign(w_size, 0.0f);
  buf.db.assign(g.out_channels, 0.0f);
  buf.scratch.assign(table.conv2d_scratch_floats(g) + 16, 0.0f);
}

struct PassTimes {
  Stat forward, data, weight;
};

PassTimes time_passes(const kernels::ConvGeom& g, const kernels::KernelTable& table, Buffers& buf, int reps) {
  PassTimes t;
  t.forward = time_calls(reps, [&] {
    table.conv2d_forward(g, buf.x.data(), buf.w.data(), buf.b.data(), buf.y.data(), buf.scratch.data());
  });
  t.data = time_calls(
      reps, [&] { table.conv2d_backward_data(g, buf.dy.data(), buf.w.data(), buf.dx.data(), buf.scratch.data()); });
  t.weight = time_calls(reps, [&] {
    table.conv2d_backward_weight(g, buf.x.data(), buf.dy.data(), buf.dw.data(), buf.db.data(), buf.scratch.data());
  });
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const char* isa = nullptr;
  std::vector<std::string> models;
  int batch = 64, reps = 5;
  bool with_ref = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench-kernels: error: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--isa") {
      isa = value();
    } else if (arg == "--model") {
      models.push_back(value());
    } else if (arg == "--batch") {
      batch = std::atoi(value());
    } else if (arg == "--reps") {
      reps = std::atoi(value());
    } else if (arg == "--no-ref") {
      with_ref = false;
    } else {
      std::fprintf(stderr,
                   "usage: bench-kernels [--isa ref|avx2|avx512|neon] [--model NAME]... [--batch N] [--reps N] "
                   "[--no-ref]\n");
      return 2;
    }
  }
  if (batch < 1 || reps < 1) {
    std::fprintf(stderr, "bench-kernels: error: --batch and --reps must be >= 1\n");
    return 2;
  }
  const kernels::KernelTable* table = isa ? kernels::table_for(isa) : &kernels::K();
  if (!table) {
    std::fprintf(stderr, "bench-kernels: error: ISA '%s' is not available on this CPU or build\n", isa);
    return 2;
  }
  const kernels::KernelTable& ref = *kernels::table_for("ref");

  // ---- peak ----
  std::printf("# plasmo kernel benchmark: 1 thread, batch %d, ISA %s; median of %d runs (thread CPU time)\n\n", batch,
              table->isa, reps);
  struct Probe {
    const char* name;
    double (*fn)(long);
  };
  const Probe probes[] = {
      {"avx512", bench::peak_probe_avx512}, {"avx2", bench::peak_probe_avx2}, {"neon", bench::peak_probe_neon}};
  double peak = 0;
  std::printf("| FMA peak probe | GFLOP/s (median) | spread |\n| --- | ---: | ---: |\n");
  for (const Probe& probe : probes) {
    if (!kernels::table_for(probe.name)) continue;
    const Stat s = measure_peak(probe.fn, reps);
    if (s.median == 0) continue;
    std::printf("| %s | %.1f | %.0f%% |\n", probe.name, s.median, 100 * s.spread);
    if (std::strcmp(probe.name, table->isa) == 0) peak = s.median;
  }
  if (peak == 0) peak = 1;  // ref: no probe; percentages are then meaningless
  std::printf("\nPercentages below are of the %s peak (%.1f GFLOP/s).\n\n", table->isa, peak);

  // ---- convolutions ----
  std::printf(
      "| model | conv | n | geometry (per image) | fwd GFLOP/s | fwd %% | bwd-data GFLOP/s | bwd-data %% | "
      "bwd-weight GFLOP/s | bwd-weight %% | spread (max) | ref fwd/data/weight GFLOP/s (batch 1) |\n"
      "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
  Rng rng(1);
  Buffers buf;
  struct Total {
    double flops = 0, forward = 0, data = 0, weight = 0;
  };
  std::vector<std::pair<std::string, Total>> totals;
  for (const ConvShape& s : kShapes) {
    if (!models.empty() && std::find(models.begin(), models.end(), s.model) == models.end()) continue;
    const kernels::ConvGeom g = kernels::make_conv_geom(batch, s.in_channels, s.in_size, s.in_size, s.out_channels,
                                                        s.kernel, s.stride, s.pad, s.groups);
    // Multiply-adds of one pass (the same for all three): out elements x taps per output.
    const double flops =
        2.0 * g.batch * g.out_channels * g.out_h * g.out_w * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
    prepare(g, *table, buf, rng);
    const PassTimes t = time_passes(g, *table, buf, reps);
    const double spread = std::max(t.forward.spread, std::max(t.data.spread, t.weight.spread));
    char ref_text[64] = "-";
    if (with_ref) {
      const kernels::ConvGeom g1 = kernels::make_conv_geom(1, s.in_channels, s.in_size, s.in_size, s.out_channels,
                                                           s.kernel, s.stride, s.pad, s.groups);
      Buffers ref_buf;
      prepare(g1, ref, ref_buf, rng);
      const PassTimes r = time_passes(g1, ref, ref_buf, 1);
      const double f1 = flops / batch;
      std::snprintf(ref_text, sizeof ref_text, "%.1f / %.1f / %.1f", f1 / r.forward.median / 1e9,
                    f1 / r.data.median / 1e9, f1 / r.weight.median / 1e9);
    }
    char geometry[96];
    std::snprintf(geometry, sizeof geometry, "%d->%d %dx%d k%d s%d p%d%s", s.in_channels, s.out_channels, s.in_size,
                  s.in_size, s.kernel, s.stride, s.pad, s.groups > 1 ? " dw" : "");
    auto rate = [&](const Stat& st) { return flops / st.median / 1e9; };
    std::printf("| %s | %s | %d | %s | %.1f | %.0f%% | %.1f | %.0f%% | %.1f | %.0f%% | %.0f%% | %s |\n", s.model,
                s.name, s.count, geometry, rate(t.forward), 100 * rate(t.forward) / peak, rate(t.data),
                100 * rate(t.data) / peak, rate(t.weight), 100 * rate(t.weight) / peak, 100 * spread, ref_text);
    std::fflush(stdout);
    auto it = std::find_if(totals.begin(), totals.end(), [&](const auto& p) { return p.first == s.model; });
    if (it == totals.end()) it = totals.insert(totals.end(), {s.model, Total{}});
    it->second.flops += s.count * flops;
    it->second.forward += s.count * t.forward.median;
    it->second.data += s.count * t.data.median;
    it->second.weight += s.count * t.weight.median;
  }
  // The peak again: the machine is shared, so a drift between the two probes shows how much the
  // conditions changed during the run.
  for (const Probe& probe : probes)
    if (std::strcmp(probe.name, table->isa) == 0) {
      const Stat again = measure_peak(probe.fn, reps);
      std::printf("\n%s peak re-measured after the convolutions: %.1f GFLOP/s (spread %.0f%%)\n", probe.name,
                  again.median, 100 * again.spread);
    }
  std::printf(
      "\n| model (all convs, weighted by count) | GFLOP per pass | fwd GFLOP/s | fwd %% | bwd-data GFLOP/s | "
      "bwd-weight GFLOP/s | fwd+bwd ms per batch |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& [model, total] : totals)
    std::printf("| %s | %.2f | %.1f | %.0f%% | %.1f | %.1f | %.1f |\n", model.c_str(), total.flops / 1e9,
                total.flops / total.forward / 1e9, 100 * total.flops / total.forward / 1e9 / peak,
                total.flops / total.data / 1e9, total.flops / total.weight / 1e9,
                1e3 * (total.forward + total.data + total.weight));
  return 0;
}
