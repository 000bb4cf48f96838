// `plasmo data-info --data DIR [--val-frac F] [--seed S] [--size S --decode] [--split-out FILE]`: what a
// data folder holds and how it splits by patient (the numbers the trainer will see), optionally decoding
// everything through the cache to time it and print the training split's mean/std. --split-out writes
// the split itself as CSV (file,label,patient,side), so outside tools (tools/recipe/) train and
// validate on exactly the patients plasmo's trainer uses.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>

#include "cli/args.h"
#include "cli/commands.h"
#include "data_loader/dataset.h"
#include "data_loader/discover.h"
#include "data_loader/split.h"
#include "engine/error.h"

namespace plasmo::cli {

namespace {

const char* cache_status_name(data::CacheStatus status) {
  switch (status) {
    case data::CacheStatus::Disabled:
      return "off";
    case data::CacheStatus::Hit:
      return "hit";
    case data::CacheStatus::Built:
      return "built";
    case data::CacheStatus::NotWritten:
      return "not written";
  }
  return "?";
}

void print_counts(const std::string& root, const std::vector<data::Sample>& samples) {
  int images[2] = {0, 0};
  std::set<std::string> patients, infected;
  for (const data::Sample& sample : samples) {
    images[sample.label]++;
    patients.insert(sample.patient);
    if (sample.label == data::kLabelParasitized) infected.insert(sample.patient);
  }
  std::printf("data: %s\n", root.c_str());
  std::printf("images: %d (%d Parasitized, %d Uninfected) from %zu patients (%zu with Parasitized cells)\n",
              images[0] + images[1], images[1], images[0], patients.size(), infected.size());
}

// A CSV field, quoted (RFC 4180: doubled quotes inside) only when it holds a comma, quote or line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

// The file's path relative to the data root (Parasitized/x.png) when it lies under it, else as found.
std::string relative_to_root(const std::string& root, const std::string& path) {
  if (!root.empty() && path.size() > root.size() && path.compare(0, root.size(), root) == 0) {
    size_t start = root.size();
    while (start < path.size() && path[start] == '/') ++start;
    if (start > root.size() || root.back() == '/') return path.substr(start);
  }
  return path;
}

// One row per sample in the samples' (path) order: file,label,patient,side with label 1 = Parasitized
// and side train|val. Written to FILE.tmp and renamed, so a reader never sees half a file.
void write_split_csv(const std::string& out_path, const std::string& root, const std::vector<data::Sample>& samples,
                     const data::Split& split) {
  std::vector<char> is_val(samples.size(), 0);
  for (int index : split.val) is_val[static_cast<size_t>(index)] = 1;
  const std::string tmp_path = out_path + ".tmp";
  {
    std::ofstream out(tmp_path, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError("data-info: cannot write split CSV " + tmp_path);
    out << "file,label,patient,side\n";
    for (size_t i = 0; i < samples.size(); ++i)
      out << csv_field(relative_to_root(root, samples[i].path)) << ',' << samples[i].label << ','
          << csv_field(samples[i].patient) << ',' << (is_val[i] ? "val" : "train") << '\n';
    out.flush();
    if (!out) throw IoError("data-info: write failed for split CSV " + tmp_path);
  }
  if (std::rename(tmp_path.c_str(), out_path.c_str()) != 0)
    throw IoError("data-info: cannot rename " + tmp_path + " to " + out_path);
}

int run_data_info(const Argv& argv) {
  const Args args(argv, {"data", "val-frac", "seed", "size", "cache", "limit", "threads", "split-out"},
                  {"decode", "no-cache", "quiet"});
  apply_common_options(args);
  if (!args.positional().empty()) throw UsageError("data-info takes no file arguments; use --data DIR");
  const std::string dir = args.require("data");
  const double val_frac = args.get_double("val-frac", 0.2);
  const long long seed = args.get_i64("seed", 1);
  if (seed < 0) throw UsageError("--seed wants a non-negative integer");
  const bool decode = args.has("decode") || args.has("size");

  if (!decode) {
    const data::Discovery found = data::discover_dataset(dir);
    const std::vector<data::Sample> samples = data::limit_samples(found.samples, args.get_int("limit", 0));
    print_counts(found.root, samples);
    const data::Split split = data::split_by_patient(samples, val_frac, static_cast<uint64_t>(seed));
    std::printf("%s", data::format_split_summary(split.summary).c_str());
    if (args.has("split-out")) write_split_csv(args.get("split-out"), found.root, samples, split);
    return 0;
  }

  data::LoadOptions options;
  options.image_size = args.get_int("size", 32);
  options.cache_dir = args.get("cache");
  options.use_cache = !args.has("no-cache");
  options.limit = args.get_int("limit", 0);
  const bool terminal = ::isatty(STDERR_FILENO);
  if (!args.has("quiet") && terminal)
    options.progress = [](int done, int total) {
      std::fprintf(stderr, "\rdecoding: %d/%d", done, total);
      if (done == total) std::fprintf(stderr, "\n");
    };
  const data::Dataset dataset = data::Dataset::load(dir, options);
  for (const data::SkippedFile& skipped : dataset.skipped())
    std::fprintf(stderr, "plasmo: skipped %s: %s\n", skipped.path.c_str(), skipped.reason.c_str());
  print_counts(dataset.root(), dataset.samples());
  const data::LoadReport& report = dataset.report();
  std::printf("loaded %d images at %dx%d in %.2f s (%zu skipped); cache %s%s%s%s\n", dataset.size(), options.image_size,
              options.image_size, report.seconds, dataset.skipped().size(), cache_status_name(report.cache),
              report.cache_path.empty() ? "" : " ", report.cache_path.c_str(),
              report.cache_note.empty() || report.cache == data::CacheStatus::Hit
                  ? ""
                  : (" (" + report.cache_note + ")").c_str());
  const data::Split split = data::split_by_patient(dataset.samples(), val_frac, static_cast<uint64_t>(seed));
  std::printf("%s", data::format_split_summary(split.summary).c_str());
  if (args.has("split-out")) write_split_csv(args.get("split-out"), dataset.root(), dataset.samples(), split);
  if (!split.train.empty()) {
    const data::Normalization norm = data::compute_normalization(dataset, split.train);
    std::printf("train mean %s std %s\n", data::Normalization::format(norm.mean).c_str(),
                data::Normalization::format(norm.std).c_str());
  }
  return 0;
}

const CommandRegistrar registrar({"data-info",
                                  "count images and patients, show the patient split: --data DIR [--val-frac F] "
                                  "[--seed S] [--size S --decode] [--split-out FILE.csv]",
                                  run_data_info, 65});

}  // namespace

}  // namespace plasmo::cli
