#include "data_loader/discover.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "engine/error.h"

namespace fs = std::filesystem;

namespace plasmo::data {

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The sub-folder of `dir` whose name equals `wanted` ignoring case; "" when none. Two candidates
// differing only in case are ambiguous.
std::string find_child_dir(const fs::path& dir, const std::string& wanted) {
  std::string found;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    if (lower(it->path().filename().string()) != wanted) continue;
    std::error_code type_error;
    if (!fs::is_directory(it->path(), type_error)) continue;  // follows symlinks
    if (!found.empty())
      throw UsageError("'" + dir.string() + "' has two folders named like '" + wanted + "' ('" + found + "' and '" +
                       it->path().string() + "'); keep one");
    found = it->path().string();
  }
  if (error) throw IoError("cannot list '" + dir.string() + "': " + error.message());
  return found;
}

}  // namespace

const char* class_name(int label) { return label == kLabelParasitized ? "Parasitized" : "Uninfected"; }

int Discovery::count(int label) const {
  return static_cast<int>(
      std::count_if(samples.begin(), samples.end(), [&](const Sample& s) { return s.label == label; }));
}

bool is_image_file_name(const std::string& file_name) {
  if (file_name.empty() || file_name[0] == '.') return false;
  const std::string name = lower(file_name);
  return ends_with(name, ".png") || ends_with(name, ".jpg") || ends_with(name, ".jpeg");
}

std::string patient_id(const std::string& file_name) {
  std::string stem = file_name;
  if (size_t dot = stem.rfind('.'); dot != std::string::npos && dot > 0) stem.resize(dot);
  if (size_t img = stem.find("_IMG_"); img != std::string::npos && img > 0) return stem.substr(0, img);
  if (size_t underscore = stem.rfind('_'); underscore != std::string::npos && underscore > 0)
    return stem.substr(0, underscore);
  return stem;
}

Discovery discover_dataset(const std::string& dir) {
  std::error_code error;
  const fs::file_status status = fs::status(dir, error);
  if (error || !fs::exists(status))
    throw IoError("data folder '" + dir + "' does not exist" + (error ? " (" + error.message() + ")" : ""));
  if (!fs::is_directory(status)) throw UsageError("data folder '" + dir + "' is not a folder");

  Discovery found;
  fs::path root(dir);
  std::string parasitized = find_child_dir(root, "parasitized");
  std::string uninfected = find_child_dir(root, "uninfected");
  if (parasitized.empty() && uninfected.empty()) {
    const std::string nested = find_child_dir(root, "cell_images");
    if (!nested.empty()) {
      root = nested;
      parasitized = find_child_dir(root, "parasitized");
      uninfected = find_child_dir(root, "uninfected");
    }
  }
  if (parasitized.empty() && uninfected.empty())
    throw UsageError("data folder '" + dir +
                     "' has no Parasitized/ and Uninfected/ folders (nor a cell_images/ folder holding them)");
  if (parasitized.empty() || uninfected.empty())
    throw UsageError("data folder '" + root.string() + "' has no " +
                     (parasitized.empty() ? "Parasitized/" : "Uninfected/") +
                     " folder; it needs both Parasitized/ and Uninfected/");
  found.root = root.string();
  found.class_dirs[kLabelParasitized] = parasitized;
  found.class_dirs[kLabelUninfected] = uninfected;

  for (int label : {kLabelParasitized, kLabelUninfected}) {
    const std::string& class_dir = found.class_dirs[label];
    const size_t before = found.samples.size();
    // readdir + fstatat relative to the open folder: no path lookup per file (23k files in ~20 ms).
    DIR* folder = ::opendir(class_dir.c_str());
    if (!folder) throw IoError("cannot list '" + class_dir + "': " + std::strerror(errno));
    const int folder_fd = ::dirfd(folder);
    while (const struct dirent* entry = ::readdir(folder)) {
      const char* name = entry->d_name;
      if (!is_image_file_name(name)) continue;
      struct stat info;
      if (::fstatat(folder_fd, name, &info, 0) != 0 || !S_ISREG(info.st_mode)) continue;  // dangling link, folder
      Sample sample;
      sample.path = class_dir + "/" + name;
      sample.label = label;
      sample.patient = patient_id(name);
      sample.file_size = static_cast<uint64_t>(info.st_size);
      sample.mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000LL + info.st_mtim.tv_nsec;
      found.samples.push_back(std::move(sample));
    }
    ::closedir(folder);
    if (found.samples.size() == before)
      throw UsageError("class folder '" + class_dir + "' holds no PNG or JPEG images");
  }
  std::sort(found.samples.begin(), found.samples.end(),
            [](const Sample& a, const Sample& b) { return a.path < b.path; });
  return found;
}

std::vector<Sample> limit_samples(const std::vector<Sample>& samples, int limit) {
  if (limit <= 0 || static_cast<size_t>(limit) >= samples.size()) return samples;
  std::vector<int> by_class[2];
  for (int i = 0; i < static_cast<int>(samples.size()); ++i)
    by_class[samples[i].label == kLabelParasitized].push_back(i);
  // Half each; a class with fewer gives its shortfall to the other.
  int want[2] = {limit / 2, limit - limit / 2};
  for (int label = 0; label < 2; ++label) {
    const int other = 1 - label;
    const int have = static_cast<int>(by_class[label].size());
    if (want[label] > have) {
      want[other] += want[label] - have;
      want[label] = have;
    }
  }
  std::vector<int> keep;
  for (int label = 0; label < 2; ++label) {
    const int64_t have = static_cast<int64_t>(by_class[label].size());
    // Evenly spaced: element floor(j * have / want) for j in [0, want).
    for (int64_t j = 0; j < want[label]; ++j) keep.push_back(by_class[label][j * have / want[label]]);
  }
  std::sort(keep.begin(), keep.end());
  std::vector<Sample> kept;
  kept.reserve(keep.size());
  for (int index : keep) kept.push_back(samples[index]);
  return kept;
}

}  // namespace plasmo::data
