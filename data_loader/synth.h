// Synthetic thin-smear cells in the NIH layout, for the demo and the tests (no download needed).
//
// What the images carry (the parts of the real data that matter to a classifier):
//   - a roughly round cell on a black background, the crop 50-130 px a side (not square: aspect
//     0.85-1.15), outline perturbed by low harmonics, sometimes crenated (ragged);
//   - pale red-to-lavender stain with a per-patient tint and brightness (the slide), a brighter centre
//     (central pallor), a darker rim, smooth blotchy texture and per-pixel sensor noise;
//   - Parasitized: one to three small dark purple chromatin shapes (rings, signet rings with a dot,
//     dots, or a paler trophozoite patch around a dark dot), anywhere inside the cell;
//   - Uninfected: about a third carry one or two pale, soft artefacts (stain blobs, dust), lighter
//     and larger than chromatin, so "any spot" is not the answer; a few carry a faint small speck.
// Half of the cells are Parasitized (count / 2, rounded down), the rest Uninfected. Cells are grouped
// in patients (about 40 cells each, at least 4 patients); about a quarter of the patients are healthy
// (Uninfected cells only), the others contribute cells of both classes in varying proportions.
//
// Names follow NIH's so the patient rule applies: DIR/Parasitized/S012P34_IMG_012003_cell_7.png has
// patient S012P34 (patient 12), photo 3 of that patient, cell 7 (cell numbers are unique per patient).
// Everything is a function of (count, seed): same arguments, same bytes, whatever the thread count.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data_loader/decode.h"

namespace plasmo {
class ThreadPool;
}

namespace plasmo::data {

struct SynthCell {
  std::string file_name;  // e.g. S012P34_IMG_012003_cell_7.png
  int label = 0;          // 1 = Parasitized
  int patient = 0;        // patient number (0-based)
  int index = 0;          // position in the plan; keys the cell's random stream
};

// The list of cells for (count, seed): labels, patients, names. Throws UsageError for count < 2.
std::vector<SynthCell> plan_synthetic_cells(int count, uint64_t seed);

// Renders one planned cell as 8-bit RGB.
Image render_synthetic_cell(const SynthCell& cell, uint64_t seed);

// PNG bytes of an RGB image (stb_image_write).
std::vector<uint8_t> encode_png(const Image& image);
// Writes bytes to a file; throws IoError.
void write_file(const std::string& path, const std::vector<uint8_t>& bytes);

struct SynthOptions {
  int count = 2000;
  uint64_t seed = 1;
  ThreadPool* pool = nullptr;              // nullptr = thread_pool()
  std::function<void(int, int)> progress;  // (written, total), from the calling thread only
};

struct SynthSummary {
  int parasitized = 0, uninfected = 0, patients = 0, healthy_patients = 0;
  bool already_present = false;  // DIR already held exactly this set (same count and seed): nothing written
};

// Writes DIR/Parasitized/*.png, DIR/Uninfected/*.png and DIR/synth.txt (the recipe, written last).
// When DIR/synth.txt records the same count and seed and the images are there, writes nothing.
// Throws UsageError when the class folders already hold other images (use an empty folder), IoError
// when a file cannot be written.
SynthSummary write_synthetic_dataset(const std::string& dir, const SynthOptions& options);

}  // namespace plasmo::data
