#include "data_loader/synth.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <stb/stb_image_write.h>

#include "data_loader/discover.h"
#include "engine/error.h"
#include "engine/rng.h"
#include "engine/threads.h"

namespace fs = std::filesystem;

namespace plasmo::data {

namespace {

constexpr uint64_t kPlanStream = 0x706c616eULL;     // "plan"
constexpr uint64_t kPatientStream = 0x70617469ULL;  // "pati"
constexpr uint64_t kCellStream = 0x63656c6cULL;     // "cell"
constexpr int kSynthFormat = 1;  // bump when the images change, so synth.txt of an older set mismatches

// Sensor noise, approximately N(0, 1): the sum of four 16-bit uniforms from one draw (Irwin-Hall,
// variance 4/12), rescaled. A quarter of the cost of Box-Muller, and noise needs no exact tails.
float cheap_normal(Rng& rng) {
  const uint64_t bits = rng.next_u64();
  const float sum =
      static_cast<float>((bits & 0xffff) + ((bits >> 16) & 0xffff) + ((bits >> 32) & 0xffff) + (bits >> 48));
  return (sum * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;  // (sum - mean 2) / sqrt(1/3)
}

float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }
float lerp(float a, float b, float t) { return a + (b - a) * t; }

// The slide of one patient: stain tint and brightness, chromatin colour, texture strength.
struct Stain {
  float cell[3];
  float chromatin[3];
  float noise_sigma;
  float texture;
};

Stain patient_stain(int patient, uint64_t seed) {
  Rng rng = Rng::derive(seed, kPatientStream, static_cast<uint64_t>(patient));
  static const float kPink[3] = {214.0f, 150.0f, 148.0f}, kLavender[3] = {168.0f, 156.0f, 206.0f};
  static const float kMagenta[3] = {118.0f, 28.0f, 104.0f}, kViolet[3] = {78.0f, 34.0f, 126.0f};
  const float tint = rng.uniform();  // 0 pink ... 1 lavender (Giemsa varies from slide to slide)
  const float brightness = rng.uniform(0.86f, 1.08f);
  const float chromatin_tint = rng.uniform(), chromatin_brightness = rng.uniform(0.85f, 1.12f);
  Stain stain;
  for (int c = 0; c < 3; ++c) {
    stain.cell[c] = std::min(245.0f, lerp(kPink[c], kLavender[c], tint) * brightness + rng.uniform(-6.0f, 6.0f));
    stain.chromatin[c] = lerp(kMagenta[c], kViolet[c], chromatin_tint) * chromatin_brightness;
  }
  stain.noise_sigma = rng.uniform(1.5f, 4.0f);
  stain.texture = rng.uniform(0.015f, 0.05f);
  return stain;
}

// A shape painted over the cell: colour blended in with opacity * mask(x, y).
struct Overlay {
  enum Kind { Disc, Ring, Blob } kind = Disc;
  float x = 0, y = 0;   // centre, pixels
  float radius = 0;     // disc/ring outer radius; blob 1/e radius
  float thickness = 0;  // ring
  float colour[3] = {0, 0, 0};
  float opacity = 0;

  float mask(float px, float py) const {
    const float distance = std::sqrt((px - x) * (px - x) + (py - y) * (py - y));
    switch (kind) {
      case Disc:
        return clamp01(radius - distance + 0.5f);  // antialiased disc
      case Ring: {
        const float middle = radius - 0.5f * thickness;
        return clamp01(0.5f * thickness - std::fabs(distance - middle) + 0.5f);
      }
      case Blob: {
        const float d = distance / radius;
        return std::exp(-d * d * d * d * 0.7f);  // flat top, soft edge
      }
    }
    return 0.0f;
  }
};

}  // namespace

std::vector<SynthCell> plan_synthetic_cells(int count, uint64_t seed) {
  if (count < 2)
    throw UsageError("synth: --count must be at least 2 (one cell of each class), got " + std::to_string(count));
  const int patients = std::max(std::min(4, count), std::min(200, count / 40));
  const int healthy = patients >= 4 ? (patients + 2) / 4 : 0;
  Rng rng = Rng::derive(seed, kPlanStream);

  // Which patients are healthy: the first `healthy` of a shuffled list.
  std::vector<int> order(patients);
  for (int p = 0; p < patients; ++p) order[p] = p;
  for (int i = patients; i > 1; --i) std::swap(order[i - 1], order[rng.below(static_cast<uint32_t>(i))]);
  std::vector<bool> is_healthy(patients, false);
  for (int i = 0; i < healthy; ++i) is_healthy[order[i]] = true;

  // Cells per patient vary a lot in the real data (1 to 600 parasitized): log-normal weights.
  std::vector<double> parasitized_weight(patients), uninfected_weight(patients);
  for (int p = 0; p < patients; ++p) {
    parasitized_weight[p] = is_healthy[p] ? 0.0 : std::exp(0.8 * rng.normal());
    uninfected_weight[p] = std::exp(0.4 * rng.normal());
  }
  auto pick = [&](const std::vector<double>& weight) {
    double total = 0.0;
    for (double w : weight) total += w;
    double target = rng.uniform() * total;
    for (int p = 0; p < patients; ++p) {
      if (target < weight[p]) return p;
      target -= weight[p];
    }
    for (int p = patients - 1; p >= 0; --p)
      if (weight[p] > 0.0) return p;
    return 0;
  };

  const int parasitized = count / 2;
  std::vector<SynthCell> cells(count);
  std::vector<int> cells_of_patient(patients, 0);
  for (int i = 0; i < count; ++i) {
    SynthCell& cell = cells[i];
    cell.index = i;
    cell.label = i < parasitized ? kLabelParasitized : kLabelUninfected;
    cell.patient = pick(cell.label == kLabelParasitized ? parasitized_weight : uninfected_weight);
    const int number = cells_of_patient[cell.patient]++;
    char name[96];
    std::snprintf(name, sizeof(name), "S%03dP%d_IMG_%03d%03d_cell_%d.png", cell.patient, 1 + (cell.patient * 37) % 97,
                  cell.patient % 1000, number / 12, number);
    cell.file_name = name;
  }
  return cells;
}

Image render_synthetic_cell(const SynthCell& cell, uint64_t seed) {
  const Stain stain = patient_stain(cell.patient, seed);
  Rng rng = Rng::derive(seed, kCellStream, static_cast<uint64_t>(cell.index));

  // Crop size and cell geometry.
  const float diameter = rng.uniform(50.0f, 130.0f);
  const float aspect = rng.uniform(0.85f, 1.15f);
  const int width = std::max(8, static_cast<int>(std::lround(diameter)));
  const int height = std::max(8, static_cast<int>(std::lround(diameter * aspect)));
  const float radius_x = 0.5f * width * rng.uniform(0.88f, 0.97f), radius_y = 0.5f * height * rng.uniform(0.88f, 0.97f);
  const float centre_x = 0.5f * width + rng.uniform(-0.03f, 0.03f) * width;
  const float centre_y = 0.5f * height + rng.uniform(-0.03f, 0.03f) * height;
  // Outline r(theta) = 1 + sum_k a_k cos(k theta + phi_k); crenated cells get a ragged high harmonic.
  float harmonic_amplitude[4], harmonic_phase[4];
  const bool crenated = rng.uniform() < 0.15f;
  for (int k = 0; k < 4; ++k) {
    harmonic_amplitude[k] = rng.uniform(0.0f, k < 2 ? 0.045f : 0.02f);
    harmonic_phase[k] = rng.uniform(0.0f, 6.2831853f);
  }
  int harmonic_order[4] = {2, 3, 5, 9};
  if (crenated) {  // two ragged high harmonics of random orders
    harmonic_order[2] = 6 + static_cast<int>(rng.below(5));
    harmonic_order[3] = 11 + static_cast<int>(rng.below(6));
    harmonic_amplitude[2] = rng.uniform(0.02f, 0.045f);
    harmonic_amplitude[3] = rng.uniform(0.015f, 0.035f);
  }
  const float pallor = rng.uniform(0.0f, 0.14f);  // brighter centre
  const float rim = rng.uniform(0.03f, 0.12f);    // darker edge
  // Blotchy texture: three plane waves.
  float wave_fx[3], wave_fy[3], wave_phase[3];
  for (int k = 0; k < 3; ++k) {
    const float angle = rng.uniform(0.0f, 6.2831853f), frequency = rng.uniform(0.04f, 0.16f);
    wave_fx[k] = frequency * std::cos(angle);
    wave_fy[k] = frequency * std::sin(angle);
    wave_phase[k] = rng.uniform(0.0f, 6.2831853f);
  }

  // A point inside the cell at relative radius up to `reach` (1 = the mean outline).
  auto inside_point = [&](float reach, float& x, float& y) {
    const float angle = rng.uniform(0.0f, 6.2831853f), radial = reach * std::sqrt(rng.uniform());
    x = centre_x + radial * radius_x * std::cos(angle);
    y = centre_y + radial * radius_y * std::sin(angle);
  };
  std::vector<Overlay> overlays;
  const float size = std::min(radius_x, radius_y) * 2.0f;
  if (cell.label == kLabelParasitized) {
    const float draw = rng.uniform();
    const int bodies = draw < 0.6f ? 1 : draw < 0.85f ? 2 : 3;
    for (int body = 0; body < bodies; ++body) {
      Overlay shape;
      inside_point(0.88f, shape.x, shape.y);
      shape.opacity = rng.uniform(0.6f, 0.95f);
      for (int c = 0; c < 3; ++c) shape.colour[c] = stain.chromatin[c] * rng.uniform(0.92f, 1.08f);
      const float kind = rng.uniform();
      if (kind < 0.45f) {  // ring form, often with a chromatin dot (signet ring)
        shape.kind = Overlay::Ring;
        shape.radius = size * rng.uniform(0.05f, 0.085f);
        shape.thickness = std::max(1.6f, shape.radius * rng.uniform(0.3f, 0.45f));
        overlays.push_back(shape);
        if (rng.uniform() < 0.7f) {
          Overlay dot = shape;
          dot.kind = Overlay::Disc;
          const float at = rng.uniform(0.0f, 6.2831853f);
          dot.x += (shape.radius - 0.5f * shape.thickness) * std::cos(at);
          dot.y += (shape.radius - 0.5f * shape.thickness) * std::sin(at);
          dot.radius = shape.thickness * rng.uniform(0.8f, 1.1f);
          overlays.push_back(dot);
        }
      } else if (kind < 0.8f) {  // compact dot
        shape.kind = Overlay::Disc;
        shape.radius = size * rng.uniform(0.028f, 0.06f);
        overlays.push_back(shape);
      } else {  // trophozoite: a paler purple patch around a dark dot
        Overlay patch = shape;
        patch.kind = Overlay::Blob;
        patch.radius = size * rng.uniform(0.08f, 0.12f);
        patch.opacity = rng.uniform(0.45f, 0.6f);
        for (int c = 0; c < 3; ++c) patch.colour[c] = lerp(stain.chromatin[c], stain.cell[c], 0.35f);
        overlays.push_back(patch);
        shape.kind = Overlay::Disc;
        shape.radius = size * rng.uniform(0.03f, 0.05f);
        overlays.push_back(shape);
      }
    }
  } else {
    if (rng.uniform() < 0.35f) {  // pale artefacts: lighter or greyish, larger and soft
      const int artefacts = rng.uniform() < 0.7f ? 1 : 2;
      for (int a = 0; a < artefacts; ++a) {
        Overlay blob;
        blob.kind = Overlay::Blob;
        inside_point(0.85f, blob.x, blob.y);
        blob.radius = size * rng.uniform(0.05f, 0.11f);
        blob.opacity = rng.uniform(0.2f, 0.5f);
        const bool lighter = rng.uniform() < 0.5f;
        static const float kWhite[3] = {246.0f, 236.0f, 246.0f}, kGrey[3] = {150.0f, 138.0f, 172.0f};
        for (int c = 0; c < 3; ++c) blob.colour[c] = lighter ? kWhite[c] : kGrey[c];
        overlays.push_back(blob);
      }
    }
    if (rng.uniform() < 0.12f) {  // a faint small speck (dust, stain precipitate)
      Overlay speck;
      speck.kind = Overlay::Disc;
      inside_point(0.9f, speck.x, speck.y);
      speck.radius = size * rng.uniform(0.02f, 0.035f);
      speck.opacity = rng.uniform(0.15f, 0.38f);
      for (int c = 0; c < 3; ++c) speck.colour[c] = stain.chromatin[c];
      overlays.push_back(speck);
    }
  }

  Image image;
  image.width = width;
  image.height = height;
  image.rgb.assign(static_cast<size_t>(width) * height * 3, 0);
  const float edge_scale = std::min(radius_x, radius_y);  // pixels per unit of relative radius near the edge
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const float px = x + 0.5f, py = y + 0.5f;
      const float dx = (px - centre_x) / radius_x, dy = (py - centre_y) / radius_y;
      const float r = std::sqrt(dx * dx + dy * dy), theta = std::atan2(dy, dx);
      float outline = 1.0f;
      for (int k = 0; k < 4; ++k)
        outline += harmonic_amplitude[k] * std::cos(harmonic_order[k] * theta + harmonic_phase[k]);
      const float relative = r / outline;
      const float coverage = clamp01((1.0f - relative) * edge_scale + 0.5f);  // antialiased outline
      if (coverage <= 0.0f) continue;                                         // black background
      // shade = 1 + pallor exp(-(r/0.5)^2) - rim * smoothstep(0.7, 1, r), times the texture.
      const float edge_t = clamp01((relative - 0.7f) / 0.3f);
      float shade =
          1.0f + pallor * std::exp(-relative * relative * 4.0f) - rim * edge_t * edge_t * (3.0f - 2.0f * edge_t);
      float texture = 0.0f;
      for (int k = 0; k < 3; ++k) texture += std::sin(wave_fx[k] * px + wave_fy[k] * py + wave_phase[k]);
      shade *= 1.0f + stain.texture * texture / 3.0f;
      float colour[3];
      for (int c = 0; c < 3; ++c) colour[c] = stain.cell[c] * shade;
      for (const Overlay& shape : overlays) {
        const float weight = shape.opacity * shape.mask(px, py);
        if (weight <= 0.0f) continue;
        for (int c = 0; c < 3; ++c) colour[c] = lerp(colour[c], shape.colour[c], weight);
      }
      uint8_t* out = &image.rgb[(static_cast<size_t>(y) * width + x) * 3];
      for (int c = 0; c < 3; ++c) {
        const float value = (colour[c] + stain.noise_sigma * cheap_normal(rng)) * coverage;
        out[c] = static_cast<uint8_t>(std::lround(value < 0.0f ? 0.0f : value > 255.0f ? 255.0f : value));
      }
    }
  }
  return image;
}

std::vector<uint8_t> encode_png(const Image& image) {
  std::vector<uint8_t> bytes;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<uint8_t>*>(context);
    out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  if (!stbi_write_png_to_func(append, &bytes, image.width, image.height, 3, image.rgb.data(), image.width * 3))
    throw IoError("cannot encode a " + std::to_string(image.width) + " x " + std::to_string(image.height) + " PNG");
  return bytes;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError("cannot write '" + path + "': " + std::strerror(errno));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t put = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      throw IoError("cannot write '" + path + "': " + why);
    }
    written += static_cast<size_t>(put);
  }
  if (::close(fd) != 0) throw IoError("cannot write '" + path + "': " + std::strerror(errno));
}

namespace {
int count_images_in(const fs::path& folder) {
  std::error_code error;
  int count = 0;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error))
    if (is_image_file_name(it->path().filename().string())) ++count;
  return count;
}
std::string recipe(int count, uint64_t seed) {
  return "plasmo synth format " + std::to_string(kSynthFormat) + "\ncount " + std::to_string(count) + "\nseed " +
         std::to_string(seed) + "\n";
}
}  // namespace

SynthSummary write_synthetic_dataset(const std::string& dir, const SynthOptions& options) {
  const std::vector<SynthCell> cells = plan_synthetic_cells(options.count, options.seed);
  SynthSummary summary;
  {
    int patients = 0;
    for (const SynthCell& cell : cells) patients = std::max(patients, cell.patient + 1);
    std::vector<int> by_patient(patients, 0), parasitized_by_patient(patients, 0);
    for (const SynthCell& cell : cells) {
      by_patient[cell.patient]++;
      parasitized_by_patient[cell.patient] += cell.label;
      (cell.label == kLabelParasitized ? summary.parasitized : summary.uninfected)++;
    }
    for (int p = 0; p < patients; ++p) {
      summary.patients += by_patient[p] > 0;
      summary.healthy_patients += by_patient[p] > 0 && parasitized_by_patient[p] == 0;
    }
  }

  const fs::path root(dir);
  const fs::path class_dirs[2] = {root / "Uninfected", root / "Parasitized"};
  const fs::path recipe_path = root / "synth.txt";
  const std::string wanted_recipe = recipe(options.count, options.seed);
  const int existing = count_images_in(class_dirs[0]) + count_images_in(class_dirs[1]);
  if (existing > 0) {
    std::ifstream in(recipe_path);
    std::stringstream found;
    found << in.rdbuf();
    if (in && found.str() == wanted_recipe && existing == options.count) {
      summary.already_present = true;
      return summary;
    }
    throw UsageError("'" + dir + "' already holds " + std::to_string(existing) +
                     " images (not from this count and seed); synth writes into an empty or new folder");
  }
  std::error_code error;
  for (const fs::path& folder : class_dirs) {
    fs::create_directories(folder, error);
    if (error) throw IoError("cannot create '" + folder.string() + "': " + error.message());
  }
  fs::remove(recipe_path, error);

  ThreadPool& pool = options.pool ? *options.pool : thread_pool();
  std::atomic<size_t> next{0}, done{0};
  pool.run([&](int worker) {
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= cells.size()) break;
      const SynthCell& cell = cells[i];
      const Image image = render_synthetic_cell(cell, options.seed);
      write_file((class_dirs[cell.label] / cell.file_name).string(), encode_png(image));
      const size_t finished = done.fetch_add(1) + 1;
      if (worker == 0 && options.progress && (finished % 64 == 0 || finished == cells.size()))
        options.progress(static_cast<int>(finished), static_cast<int>(cells.size()));
    }
  });
  std::vector<uint8_t> recipe_bytes(wanted_recipe.begin(), wanted_recipe.end());
  write_file(recipe_path.string(), recipe_bytes);
  return summary;
}

}  // namespace plasmo::data
