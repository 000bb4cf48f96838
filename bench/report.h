// `bench-models --report FILE...`: joins the JSON lines of bench-models (plasmo) and tools/bench_torch.py
// (PyTorch) into the one markdown report `make bench` prints: the machine and its FMA peak, the model table
// (training and inference images/s, single-image latency, 1 and 2 threads, plasmo vs PyTorch with the ratio
// and the target per row), the 2-thread scaling, the parameter-count cross-check, a summary of the
// targets and, when the files hold a profile, where plasmo's time goes per layer group and per layer.
#pragma once
#include <string>
#include <vector>

namespace plasmo::bench {

struct ReportOptions {
  std::vector<std::string> files;
  // Which clock a row's numbers come from: "auto" = CPU time for 1 thread (what a dedicated core gives, even
  // on a busy machine), wall clock for more; "wall" or "cpu" for all rows. Scaling always uses the wall clock.
  std::string clock = "auto";
  int top_layers = 10;       // slowest layers listed per profiled model and pass
  std::string kernels_file;  // bench-kernels' output (markdown), printed after the machine; "" = none
};

// Prints the report on stdout; returns the process exit status (0). Throws std::runtime_error for a file
// that cannot be read.
int print_report(const ReportOptions& options);

}  // namespace plasmo::bench
