#include <doctest/doctest.h>

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "data_loader/cache.h"
#include "data_loader/dataset.h"
#include "tests/test_data_util.h"

using namespace plasmo;
using namespace plasmo::data;
using plasmo::testing::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr int kSize = 10;

struct CachedTree {
  TempDir data, cache;
  CachedTree() {
    fs::create_directories(data / "Parasitized");
    fs::create_directories(data / "Uninfected");
    for (int i = 0; i < 12; ++i)
      plasmo::testing::write_png(data / ((i % 2 ? "Parasitized/" : "Uninfected/") + std::string("P") +
                                         std::to_string(i % 3) + "_IMG_1_cell_" + std::to_string(i) + ".png"),
                                 plasmo::testing::test_image(15 + i, 18, i));
    std::ofstream(data / "Uninfected/P9_IMG_1_cell_99.png") << "truncated";  // one unreadable file
  }
  Dataset load() const {
    LoadOptions options;
    options.image_size = kSize;
    options.cache_dir = cache.path();
    return Dataset::load(data.path(), options);
  }
};

bool same_images(const Dataset& a, const Dataset& b) {
  if (a.size() != b.size()) return false;
  for (int i = 0; i < a.size(); ++i) {
    if (a.samples()[i].path != b.samples()[i].path) return false;
    if (!std::equal(a.image(i), a.image(i) + 3 * kSize * kSize, b.image(i))) return false;
  }
  return true;
}

void flip_byte(const std::string& path, long offset_from_end) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(-offset_from_end, std::ios::end);
  char byte = 0;
  file.read(&byte, 1);
  byte ^= 0x01;
  file.seekp(-offset_from_end, std::ios::end);
  file.write(&byte, 1);
}

}  // namespace

TEST_CASE("cache: built on the first load, hit on the second with the same images and skipped list") {
  CachedTree tree;
  const Dataset first = tree.load();
  CHECK(first.report().cache == CacheStatus::Built);
  CHECK(first.report().cache_note == "no cache yet");
  CHECK(first.report().cache_path.rfind(tree.cache.path() + "/dataset-s10-", 0) == 0);
  CHECK(fs::exists(first.report().cache_path));
  CHECK(first.size() == 12);
  REQUIRE(first.skipped().size() == 1);
  const Dataset second = tree.load();
  CHECK(second.report().cache == CacheStatus::Hit);
  CHECK(same_images(first, second));
  REQUIRE(second.skipped().size() == 1);
  CHECK(second.skipped()[0].path == first.skipped()[0].path);
  CHECK(second.skipped()[0].reason == first.skipped()[0].reason);
  // Nothing was written next to the images.
  int entries = 0;
  for (const auto& entry : fs::recursive_directory_iterator(tree.data.path())) entries += entry.is_regular_file();
  CHECK(entries == 13);
  // The same folder named another way shares the cache.
  LoadOptions same;
  same.image_size = kSize;
  same.cache_dir = tree.cache.path();
  const Dataset renamed = Dataset::load(tree.data.path() + "/.", same);
  CHECK(renamed.report().cache == CacheStatus::Hit);
  CHECK(renamed.report().cache_path == first.report().cache_path);
  // Another size is another cache file.
  LoadOptions options;
  options.image_size = 6;
  options.cache_dir = tree.cache.path();
  CHECK(Dataset::load(tree.data.path(), options).report().cache == CacheStatus::Built);
  CHECK(tree.load().report().cache == CacheStatus::Hit);
}

TEST_CASE("cache: a touched, changed or added file invalidates it") {
  CachedTree tree;
  const Dataset first = tree.load();
  // Touch: same bytes, new mtime.
  const std::string touched = first.samples()[3].path;
  fs::last_write_time(touched, fs::last_write_time(touched) + std::chrono::seconds(5));
  const Dataset after_touch = tree.load();
  CHECK(after_touch.report().cache == CacheStatus::Built);
  CHECK(after_touch.report().cache_note.find("stale") == 0);
  CHECK(same_images(first, after_touch));
  CHECK(tree.load().report().cache == CacheStatus::Hit);
  // Changed content: the new pixels are used.
  plasmo::testing::write_png(touched, plasmo::testing::test_image(30, 30, 77));
  const Dataset after_change = tree.load();
  CHECK(after_change.report().cache == CacheStatus::Built);
  CHECK_FALSE(same_images(first, after_change));
  // Added file.
  plasmo::testing::write_png(tree.data / "Parasitized/P7_IMG_2_cell_1.png", plasmo::testing::test_image(9, 9, 1));
  const Dataset after_add = tree.load();
  CHECK(after_add.report().cache == CacheStatus::Built);
  CHECK(after_add.size() == 13);
  // Removed file.
  fs::remove(tree.data / "Parasitized/P7_IMG_2_cell_1.png");
  CHECK(tree.load().report().cache == CacheStatus::Built);
  CHECK(tree.load().size() == 12);
}

TEST_CASE("cache: a corrupt or truncated cache is rebuilt, never trusted") {
  CachedTree tree;
  const Dataset first = tree.load();
  const std::string path = first.report().cache_path;
  // One bit in the pixels.
  flip_byte(path, 7);
  Dataset rebuilt = tree.load();
  CHECK(rebuilt.report().cache == CacheStatus::Built);
  CHECK(rebuilt.report().cache_note == "corrupt: pixel checksum mismatch");
  CHECK(same_images(first, rebuilt));
  CHECK(tree.load().report().cache == CacheStatus::Hit);
  // One bit in the header.
  flip_byte(path, static_cast<long>(fs::file_size(path)) - 20);
  rebuilt = tree.load();
  CHECK(rebuilt.report().cache == CacheStatus::Built);
  CHECK(rebuilt.report().cache_note.find("corrupt") == 0);
  // Truncated.
  fs::resize_file(path, fs::file_size(path) - 100);
  rebuilt = tree.load();
  CHECK(rebuilt.report().cache == CacheStatus::Built);
  CHECK(rebuilt.report().cache_note.find("corrupt") == 0);
  CHECK(same_images(first, rebuilt));
  // Garbage of the right size.
  const auto size = fs::file_size(path);
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << std::string(size, 'x'); }
  rebuilt = tree.load();
  CHECK(rebuilt.report().cache_note == "corrupt: not a plasmo cache file");
  CHECK(same_images(first, rebuilt));
}

TEST_CASE("cache: an unwritable cache folder does not stop the run; no cache when disabled") {
  CachedTree tree;
  const std::string blocker = tree.cache / "file";
  std::ofstream(blocker) << "x";
  LoadOptions options;
  options.image_size = kSize;
  options.cache_dir = blocker + "/sub";  // a folder under a file: cannot be created
  const Dataset data = Dataset::load(tree.data.path(), options);
  CHECK(data.report().cache == CacheStatus::NotWritten);
  CHECK(data.report().cache_note.find("cannot create cache folder") == 0);
  CHECK(data.size() == 12);
  options.use_cache = false;
  options.cache_dir = tree.cache.path();
  CHECK(Dataset::load(tree.data.path(), options).report().cache == CacheStatus::Disabled);
  CHECK(fs::is_empty(tree.cache.path()) == false);  // only the blocker file
  int files = 0;
  for (const auto& entry : fs::directory_iterator(tree.cache.path())) files += entry.path().filename() != "file";
  CHECK(files == 0);
}

TEST_CASE("cache: default folder is $XDG_CACHE_HOME/plasmo, else ~/.cache/plasmo") {
  const char* old_xdg = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old_xdg ? old_xdg : "";
  ::setenv("XDG_CACHE_HOME", "/some/where", 1);
  CHECK(default_cache_dir() == "/some/where/plasmo");
  ::unsetenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  if (home) CHECK(default_cache_dir() == std::string(home) + "/.cache/plasmo");
  if (old_xdg) ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
}
