#include "eval/colormap.h"

#include <array>
#include <cmath>

namespace plasmo::eval {

namespace {

// Ten stops at value i / 9, sampled from the inferno map.
constexpr uint8_t kStops[10][3] = {
    {0x00, 0x00, 0x04}, {0x1b, 0x0c, 0x42}, {0x4b, 0x0c, 0x6b}, {0x78, 0x1c, 0x6d}, {0xa5, 0x2c, 0x60},
    {0xcf, 0x44, 0x46}, {0xed, 0x69, 0x25}, {0xfb, 0x9a, 0x06}, {0xf7, 0xd0, 0x3c}, {0xfc, 0xff, 0xa4},
};

std::array<Rgb, 256> build_table() {
  std::array<Rgb, 256> table{};
  for (int entry = 0; entry < 256; ++entry) {
    const double position = entry / 255.0 * 9.0;  // in stop units
    const int stop = position >= 9.0 ? 8 : static_cast<int>(position);
    const double t = position - stop;
    uint8_t channel[3];
    for (int c = 0; c < 3; ++c)
      channel[c] = static_cast<uint8_t>(std::lround((1.0 - t) * kStops[stop][c] + t * kStops[stop + 1][c]));
    table[entry] = {channel[0], channel[1], channel[2]};
  }
  return table;
}

}  // namespace

Rgb inferno(float value) {
  static const std::array<Rgb, 256> table = build_table();
  if (!(value > 0.0f)) return table[0];  // also NaN
  if (value >= 1.0f) return table[255];
  return table[static_cast<int>(std::lround(value * 255.0f))];
}

}  // namespace plasmo::eval
