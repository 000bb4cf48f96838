// Finding the images of a data folder and what each one is.
//
// DIR holds Parasitized/ and Uninfected/ (folder names matched case-insensitively), or holds a
// cell_images/ folder (any case) that does. In each class folder, files ending .png, .jpg or .jpeg
// (any case) are images; other files (Thumbs.db, *.txt, *.csv), names starting with '.' and
// sub-folders are skipped silently. Label 1 = Parasitized, 0 = Uninfected (DESIGN.md's class index).
//
// Patient ID of a file (patient_id()): the file-name prefix before the first "_IMG_"
// (C100P61ThinF_IMG_20150918_144104_cell_162.png -> C100P61ThinF, NIH's rule; the synthetic cells are
// named the same way, S012P3_IMG_000123_cell_4.png -> S012P3). A name without "_IMG_" falls back to
// the prefix before the last '_' of the name without its extension (patientA_17.png -> patientA), and
// a name without any '_' is its own patient (the whole name without extension).
//
// Errors (thrown): IoError when DIR is missing or unreadable; UsageError when DIR is not a folder, a
// class folder is missing, ambiguous (two folders differing only in case) or holds no images.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace plasmo::data {

constexpr int kLabelUninfected = 0;
constexpr int kLabelParasitized = 1;
const char* class_name(int label);  // "Uninfected" / "Parasitized"

struct Sample {
  std::string path;     // the class folder joined with the file name
  int label = 0;        // 1 = Parasitized
  std::string patient;  // patient_id(file name)
  uint64_t file_size = 0;
  int64_t mtime_ns = 0;  // last modification, nanoseconds since the epoch (part of the cache key)
};

struct Discovery {
  std::string root;             // the folder holding the two class folders
  std::string class_dirs[2];    // [label] -> folder path as found on disk
  std::vector<Sample> samples;  // sorted by path (Parasitized/ before Uninfected/ when names sort so)
  int count(int label) const;
};

Discovery discover_dataset(const std::string& dir);

std::string patient_id(const std::string& file_name);   // the rule above; file_name without folders
bool is_image_file_name(const std::string& file_name);  // .png/.jpg/.jpeg, any case, not a dot-file

// Keeps at most `limit` samples (limit <= 0: all), half from each class (the rest from the other class
// when one has too few), evenly spaced through each class's path-sorted list so that many patients
// stay represented. Deterministic; keeps the path order.
std::vector<Sample> limit_samples(const std::vector<Sample>& samples, int limit);

}  // namespace plasmo::data
