// A perceptual colour map for heatmaps: dark purple (0) through red and orange to pale yellow (1), the
// shape of matplotlib's "inferno" (lightness rises steadily, readable in grey and by colour-blind
// readers). Our own table: 256 entries interpolated linearly in sRGB between ten stops of that map.
#pragma once
#include <cstdint>

namespace plasmo::eval {

struct Rgb {
  uint8_t r, g, b;
};

// value in [0, 1] (clamped; NaN -> 0) -> colour, from the 256-entry table (nearest entry).
Rgb inferno(float value);

}  // namespace plasmo::eval
