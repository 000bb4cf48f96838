// The data loader's speed on a real data folder (default: the NIH development set), `make bench-loader`:
//   cold:   discover + decode + resize every image (no plasmo cache; the OS file cache is warm after
//           the first pass, so this measures decoding, not the disk), images/s;
//   cached: discover + read and verify the cache file, seconds for the whole set;
// at S = 32 and 64, with 1 and 2 threads, each the median of --repeats runs. Also prints the patient
// split of the set for --val-frac / --seed (default 0.2 and 1).
//   build/bench-loader [--data DIR] [--repeats N] [--sizes 32,64] [--threads 1,2] [--val-frac F] [--seed S]
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "data_loader/dataset.h"
#include "data_loader/split.h"
#include "engine/error.h"
#include "engine/threads.h"

using namespace plasmo;
using namespace plasmo::data;

namespace {

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> values;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) values.push_back(std::atoi(item.c_str()));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return values;
}

double process_cpu_seconds() {
  timespec now;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return now.tv_sec + now.tv_nsec * 1e-9;
}

std::string load_average() {
  std::FILE* file = std::fopen("/proc/loadavg", "r");
  char text[64] = "?";
  if (file) {
    if (!std::fgets(text, sizeof(text), file)) text[0] = 0;
    std::fclose(file);
  }
  std::string result(text);
  while (!result.empty() && (result.back() == '\n' || result.back() == ' ')) result.pop_back();
  return result;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "../shared/nih-malaria";
  int repeats = 3;
  std::vector<int> sizes = {32, 64}, thread_counts = {1, 2};
  double val_frac = 0.2;
  unsigned long long seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string option = argv[i], value = argv[i + 1];
    if (option == "--data")
      dir = value;
    else if (option == "--repeats")
      repeats = std::max(1, std::atoi(value.c_str()));
    else if (option == "--sizes")
      sizes = parse_list(value);
    else if (option == "--threads")
      thread_counts = parse_list(value);
    else if (option == "--val-frac")
      val_frac = std::atof(value.c_str());
    else if (option == "--seed")
      seed = std::strtoull(value.c_str(), nullptr, 10);
    else {
      std::fprintf(stderr, "bench-loader: unknown option %s\n", option.c_str());
      return 2;
    }
  }
  if (!std::filesystem::exists(dir)) {
    std::printf("bench-loader: no data folder '%s' (pass --data DIR); nothing to measure\n", dir.c_str());
    return 0;
  }
  char pattern[] = "/tmp/plasmo-bench-cache-XXXXXX";
  if (!::mkdtemp(pattern)) {
    std::fprintf(stderr, "bench-loader: cannot create a temporary cache folder\n");
    return 1;
  }
  const std::string cache_dir = pattern;

  try {
    std::printf("bench-loader: %s, median of %d runs each; load average %s\n", dir.c_str(), repeats,
                load_average().c_str());
    std::printf(
        "(cold: no plasmo cache, OS file cache warm; cpu ms/image = process CPU time / images, what one\n"
        " otherwise idle core would take; cached: discovery + mapping and checking the cache file)\n");
    std::printf("%4s %7s  %14s %10s %15s  %14s  %s\n", "S", "threads", "cold images/s", "cold s", "cpu ms/image",
                "cached start s", "images");
    int images = 0;
    for (int size : sizes) {
      for (int threads : thread_counts) {
        ThreadPool pool(threads);
        LoadOptions options;
        options.image_size = size;
        options.pool = &pool;
        options.use_cache = false;
        std::vector<double> cold, cold_cpu, cached;
        for (int run = 0; run < repeats; ++run) {
          const double cpu_before = process_cpu_seconds();
          const Dataset data = Dataset::load(dir, options);
          cold_cpu.push_back(process_cpu_seconds() - cpu_before);
          cold.push_back(data.report().seconds);
          images = data.size();
        }
        LoadOptions with_cache = options;
        with_cache.use_cache = true;
        with_cache.cache_dir = cache_dir;
        Dataset::load(dir, with_cache);  // writes the cache (if not there yet)
        for (int run = 0; run < repeats; ++run) {
          const Dataset data = Dataset::load(dir, with_cache);
          if (data.report().cache != CacheStatus::Hit)
            throw Error("cache miss on a cached run: " + data.report().cache_note);
          cached.push_back(data.report().seconds);
        }
        const double cold_seconds = median(cold);
        std::printf("%4d %7d  %14.0f %10.2f %15.3f  %14.3f  %d\n", size, threads, images / cold_seconds, cold_seconds,
                    1000.0 * median(cold_cpu) / images, median(cached), images);
        std::fflush(stdout);
      }
    }
    const Discovery found = discover_dataset(dir);
    const Split split = split_by_patient(found.samples, val_frac, seed);
    std::printf("load average at the end: %s\n\n%s", load_average().c_str(),
                format_split_summary(split.summary).c_str());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench-loader: error: %s\n", error.what());
    std::filesystem::remove_all(cache_dir);
    return 1;
  }
  std::filesystem::remove_all(cache_dir);
  return 0;
}
