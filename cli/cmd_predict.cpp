// `plasmo predict --model FILE [--tta] IMAGE...`: one line per image on stdout,
//   path<TAB>label<TAB>p_parasitized
// label Parasitized when p >= the model file's threshold, else Uninfected; p with 6 decimals (the same
// format as plasmo-infer). An unreadable image gets an error line on stderr, the others are still
// printed, and the exit status is 1.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "data_loader/image_input.h"
#include "engine/error.h"
#include "eval/score.h"
#include "models/model_file.h"

namespace plasmo::cli {

namespace {

const char* kUsage =
    "usage: plasmo predict --model FILE [--tta] [--batch N] IMAGE...\n"
    "  prints path<TAB>label<TAB>p_parasitized per image; label Parasitized when p >= the model's threshold\n"
    "  --tta: average p over the image's 8 mirrors and rotations; --threads N, --seed N, --quiet\n";

int run_predict(const Argv& argv) {
  const Args args(argv, {"model", "batch", "threads", "seed"}, {"tta", "quiet", "help"});
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  apply_common_options(args);
  const std::string model_path = args.require("model");
  const std::vector<std::string>& paths = args.positional();
  if (paths.empty()) throw UsageError("predict needs at least one image: plasmo predict --model FILE IMAGE...");
  const int batch_size = args.get_int("batch", 32);
  if (batch_size < 1) throw UsageError("--batch must be >= 1");
  const bool tta = args.has("tta");

  std::unique_ptr<Model> model = load_model_file(model_path);
  const double threshold = model->meta().threshold;
  const int S = model->input_size();
  const size_t image_floats = static_cast<size_t>(3) * S * S;
  data::ImageInput input(S, eval::model_normalization(model->meta()));

  bool failed = false;
  Tensor batch;
  std::vector<float> pixels;
  std::vector<const std::string*> batch_paths;
  std::vector<double> p;
  for (size_t next = 0; next < paths.size();) {
    batch_paths.clear();
    for (; next < paths.size() && static_cast<int>(batch_paths.size()) < batch_size; ++next) {
      pixels.resize((batch_paths.size() + 1) * image_floats);
      std::string reason;
      if (!input.load_file(paths[next], pixels.data() + batch_paths.size() * image_floats, &reason)) {
        std::fprintf(stderr, "plasmo: error: %s: %s\n", paths[next].c_str(), reason.c_str());
        failed = true;
        continue;
      }
      batch_paths.push_back(&paths[next]);
    }
    if (batch_paths.empty()) continue;
    const int N = static_cast<int>(batch_paths.size());
    batch.resize(Shape{N, 3, S, S});
    std::copy(pixels.begin(), pixels.begin() + static_cast<std::ptrdiff_t>(N * image_floats), batch.data());
    eval::score_batch(*model, batch, tta, p);
    for (int n = 0; n < N; ++n)
      std::printf("%s\t%s\t%.6f\n", batch_paths[n]->c_str(), p[n] >= threshold ? "Parasitized" : "Uninfected", p[n]);
    std::fflush(stdout);
  }
  return failed ? 1 : 0;
}

const CommandRegistrar registrar({"predict",
                                  "classify images: --model FILE IMAGE... -> path<TAB>label<TAB>p_parasitized",
                                  run_predict, 30});

}  // namespace

}  // namespace plasmo::cli
