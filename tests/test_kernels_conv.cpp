// Parity of every fast convolution kernel (forward, forward by parts, backward data, backward weight;
// each ISA this machine runs) with the scalar reference, on odd geometries: channels 1, 3, 5, 17; H, W
// 1, 7, 31; kernels 1, 3, 7; stride 1, 2; padding 0, 1, 3; groups 1, 2, C; batch 1, 5, plus the models'
// own layer shapes at batch 2. Tolerance: tests/kernel_parity.h (K = the number of products per output).
// Also checked: outputs are fully overwritten (they start as NaN), gradients accumulate (they start
// random), scratch stays within the size the kernel asked for, forward by parts equals forward bit for bit,
// and so does the forward from pre-packed weights (conv2d_pack_weights + conv2d_forward_packed_part, whole
// and by parts; the reference table's packing is a copy, so its packed forward is checked the same way).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

#include "engine/kernels/kernels.h"
#include "tests/kernel_parity.h"

using namespace plasmo;
using namespace plasmo::testing;

namespace {

std::string describe(const kernels::ConvGeom& g) {
  std::ostringstream s;
  s << "N" << g.batch << " C" << g.in_channels << "->" << g.out_channels << " " << g.in_h << "x" << g.in_w << " k"
    << g.kernel_h << " s" << g.stride_h << " p" << g.pad_h << " g" << g.groups;
  return s.str();
}

// The forward from packed weights, whole and in 2 or 3 parts, against y (the same table's forward): equal
// bit for bit. Packing must stay within conv2d_packed_floats. Returns the number of failures.
int check_packed_forward(const kernels::KernelTable& table, const std::string& what, const kernels::ConvGeom& g,
                         const std::vector<float>& x, const std::vector<float>& w, const float* bias,
                         const std::vector<float>& y) {
  const int layout = table.conv2d_packed_layout(g);
  if (layout == 0) {
    CHECK(table.conv2d_packed_floats(g) == 0);
    return 0;
  }
  int failures = 0;
  GuardedBuffer packed(table.conv2d_packed_floats(g));
  table.conv2d_pack_weights(g, w.data(), packed.data());
  if (!packed.intact()) {
    FAIL_CHECK(what << " pack weights: wrote past conv2d_packed_floats");
    ++failures;
  }
  for (int parts : {1, 2, 3}) {
    std::vector<float> y_packed(y.size(), std::numeric_limits<float>::quiet_NaN());
    for (int part = 0; part < parts; ++part) {
      GuardedBuffer part_scratch(table.conv2d_scratch_floats(g));
      table.conv2d_forward_packed_part(g, x.data(), packed.data(), bias, y_packed.data(), part_scratch.data(), part,
                                       parts);
      if (!part_scratch.intact()) {
        FAIL_CHECK(what << " packed forward part " << part << "/" << parts << ": wrote past its scratch");
        ++failures;
      }
    }
    for (size_t i = 0; i < y.size(); ++i)
      if (!(y_packed[i] == y[i])) {
        FAIL_CHECK(what << " packed forward (layout " << layout << ") in " << parts << " parts differs at " << i << ": "
                        << y_packed[i] << " vs " << y[i]);
        ++failures;
        break;
      }
  }
  return failures;
}

// Runs one geometry through every entry of every fast table; returns the number of failures.
int check_conv(const kernels::ConvGeom& g, bool with_bias, Rng& rng);

// One geometry of a list: make_conv_geom's arguments (batch, in_channels, H, W, out_channels, kernel, stride,
// pad, groups), then whether the convolution adds a bias.
struct ConvCase {
  int batch, in_channels, in_h, in_w, out_channels, kernel, stride, pad, groups;
  bool with_bias;
};

// check_conv on each case in turn (the same draws from rng as one call each); the number of failures.
template <size_t count>
int check_conv_cases(const ConvCase (&cases)[count], Rng& rng) {
  int failures = 0;
  for (const ConvCase& c : cases)
    failures += check_conv(kernels::make_conv_geom(c.batch, c.in_channels, c.in_h, c.in_w, c.out_channels, c.kernel,
                                                   c.stride, c.pad, c.groups),
                           c.with_bias, rng);
  return failures;
}

int check_conv(const kernels::ConvGeom& g, bool with_bias, Rng& rng) {
  const kernels::KernelTable& ref = *kernels::table_for("ref");
  const int group_in = g.in_channels / g.groups, group_out = g.out_channels / g.groups;
  const int taps = g.kernel_h * g.kernel_w;
  const size_t x_size = static_cast<size_t>(g.batch) * g.in_channels * g.in_h * g.in_w;
  const size_t y_size = static_cast<size_t>(g.batch) * g.out_channels * g.out_h * g.out_w;
  const size_t w_size = static_cast<size_t>(g.out_channels) * group_in * taps;
  const std::vector<float> x = random_vector(x_size, rng), w = random_vector(w_size, rng);
  const std::vector<float> b = random_vector(g.out_channels, rng), dy = random_vector(y_size, rng);
  const std::vector<float> dw0 = random_vector(w_size, rng), db0 = random_vector(g.out_channels, rng);
  const std::vector<float> ax = absolute(x), aw = absolute(w), ab = absolute(b), ady = absolute(dy);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float* bias = with_bias ? b.data() : nullptr;

  // Reference results and magnitudes (the reference on absolute values).
  GuardedBuffer ref_scratch(ref.conv2d_scratch_floats(g));
  std::vector<float> y_ref(y_size), y_mag(y_size), dx_ref(x_size), dx_mag(x_size);
  std::vector<float> dw_ref = dw0, dw_mag = absolute(dw0), db_ref = db0, db_mag = absolute(db0);
  ref.conv2d_forward(g, x.data(), w.data(), bias, y_ref.data(), ref_scratch.data());
  ref.conv2d_forward(g, ax.data(), aw.data(), with_bias ? ab.data() : nullptr, y_mag.data(), ref_scratch.data());
  ref.conv2d_backward_data(g, dy.data(), w.data(), dx_ref.data(), ref_scratch.data());
  ref.conv2d_backward_data(g, ady.data(), aw.data(), dx_mag.data(), ref_scratch.data());
  ref.conv2d_backward_weight(g, x.data(), dy.data(), dw_ref.data(), db_ref.data(), ref_scratch.data());
  ref.conv2d_backward_weight(g, ax.data(), ady.data(), dw_mag.data(), db_mag.data(), ref_scratch.data());
  int failures = check_packed_forward(ref, "ref " + describe(g), g, x, w, bias, y_ref);

  const int K_forward = group_in * taps + 1, K_data = group_out * taps;
  const int K_weight = g.batch * g.out_h * g.out_w + 1;
  for (const kernels::KernelTable* table : fast_tables()) {
    const std::string what = std::string(table->isa) + " " + describe(g) + (with_bias ? " bias" : "");
    GuardedBuffer scratch(table->conv2d_scratch_floats(g));

    std::vector<float> y(y_size, nan);
    table->conv2d_forward(g, x.data(), w.data(), bias, y.data(), scratch.data());
    failures += compare_parity(what + " forward", y, y_ref, y_mag, K_forward);

    // By parts, each with its own scratch: bit-identical to the whole forward.
    for (int parts : {2, 3}) {
      std::vector<float> y_parts(y_size, nan);
      for (int part = 0; part < parts; ++part) {
        GuardedBuffer part_scratch(table->conv2d_scratch_floats(g));
        table->conv2d_forward_part(g, x.data(), w.data(), bias, y_parts.data(), part_scratch.data(), part, parts);
        if (!part_scratch.intact()) {
          FAIL_CHECK(what << " forward part " << part << "/" << parts << ": wrote past its scratch");
          ++failures;
        }
      }
      for (size_t i = 0; i < y_size; ++i)
        if (!(y_parts[i] == y[i])) {
          FAIL_CHECK(what << " forward in " << parts << " parts differs at " << i << ": " << y_parts[i] << " vs "
                          << y[i]);
          ++failures;
          break;
        }
    }

    failures += check_packed_forward(*table, what, g, x, w, bias, y);

    std::vector<float> dx(x_size, nan);
    table->conv2d_backward_data(g, dy.data(), w.data(), dx.data(), scratch.data());
    failures += compare_parity(what + " backward data", dx, dx_ref, dx_mag, K_data);

    std::vector<float> dw = dw0, db = db0;
    table->conv2d_backward_weight(g, x.data(), dy.data(), dw.data(), db.data(), scratch.data());
    failures += compare_parity(what + " backward weight", dw, dw_ref, dw_mag, K_weight);
    failures += compare_parity(what + " backward bias", db, db_ref, db_mag, K_weight);
    // dbias may be null.
    std::vector<float> dw_nobias = dw0;
    table->conv2d_backward_weight(g, x.data(), dy.data(), dw_nobias.data(), nullptr, scratch.data());
    failures += compare_parity(what + " backward weight (no dbias)", dw_nobias, dw_ref, dw_mag, K_weight);

    if (!scratch.intact()) {
      FAIL_CHECK(what << ": wrote past the scratch it asked for");
      ++failures;
    }
  }
  return failures;
}

}  // namespace

TEST_CASE("Kernel parity: convolution on odd geometries, every entry, every ISA") {
  REQUIRE(!fast_tables().empty());
  // The full grid (channels^2 x H x W x kernel x stride x padding x groups x batch) has ~15k geometries;
  // every one of its values appears below, and a fixed pseudo-random sample covers their combinations.
  const int channels[] = {1, 3, 5, 17}, sizes[] = {1, 7, 31}, kernel_sizes[] = {1, 3, 7};
  const int strides[] = {1, 2}, paddings[] = {0, 1, 3}, batches[] = {1, 5};
  Rng pick(2024), rng(99);
  int checked = 0, failures = 0;
  for (int attempt = 0; checked < 400 && attempt < 100000; ++attempt) {
    const int in_c = channels[pick.below(4)], out_pick = channels[pick.below(4)];
    const int H = sizes[pick.below(3)], W = sizes[pick.below(3)], kernel = kernel_sizes[pick.below(3)];
    const int stride = strides[pick.below(2)], pad = paddings[pick.below(3)], batch = batches[pick.below(2)];
    const int group_choice = static_cast<int>(pick.below(3));  // 1, 2, C
    int groups = 1, out_c = out_pick;
    if (group_choice == 1) {
      if (in_c % 2 || out_c % 2) continue;  // odd channel counts cannot split in 2
      groups = 2;
    } else if (group_choice == 2) {
      groups = in_c;
      out_c = pick.below(4) == 0 ? 2 * in_c : in_c;  // depthwise, sometimes with 2 filters per channel
    }
    if (H + 2 * pad < kernel || W + 2 * pad < kernel) continue;
    const kernels::ConvGeom g = kernels::make_conv_geom(batch, in_c, H, W, out_c, kernel, stride, pad, groups);
    failures += check_conv(g, pick.below(4) != 0, rng);
    ++checked;
  }
  CHECK(checked == 400);
  CHECK(failures == 0);
}

TEST_CASE("Kernel parity: convolution on every path (depthwise, direct, GEMM, col2im) and rare paddings") {
  Rng rng(5);
  int failures = 0;
  for (int stride : {1, 2})
    for (int size : {1, 7, 31, 32})
      for (int channels : {1, 3, 17})  // depthwise 3x3, padding 1 (MobileNetV2), and 1x1, 7x7
        for (int kernel : {1, 3, 7}) {
          if (size + 2 < kernel) continue;
          failures += check_conv(
              kernels::make_conv_geom(2, channels, size, size, channels, kernel, stride, kernel / 2, channels), true,
              rng);
        }
  // Direct path (stride 1, rows >= one vector, few output channels) against GEMM-sized neighbours.
  for (int out_c : {1, 3, 5, 8, 16, 17})
    for (int in_c : {1, 3, 16})
      for (int size : {16, 17, 31, 33})
        failures += check_conv(kernels::make_conv_geom(2, in_c, size, size + 3, out_c, 3, 1, 1, 1), true, rng);
  // Padding larger than kernel - 1 (the stride-1 backward data then crops), stride 2 with odd sizes.
  const ConvCase cases[] = {
      {3, 5, 7, 9, 6, 1, 1, 3, 1, true},
      {3, 5, 7, 9, 6, 3, 1, 3, 1, true},
      {3, 4, 9, 11, 20, 3, 2, 3, 2, true},
      {2, 20, 13, 13, 20, 5, 2, 2, 1, false},
  };
  failures += check_conv_cases(cases, rng);
  CHECK(failures == 0);
}

TEST_CASE("Kernel parity: gathered convolution (rows of <= 4 pixels) over several chunks of images") {
  // conv_gemm.h's gathered forward runs chunks of about 512 batch columns; without pre-packed weights a
  // call (or part) covering more than one chunk packs its W^T slivers once, up front, and one chunk
  // packs each block as it goes. 4x4 and 3x3 outputs with 33 and 58 images cross a chunk boundary; the
  // parts (2, 3) split the columns so that some parts run one chunk and others two; groups 2 and odd
  // channel counts leave partial slivers; 30 input channels per group (K = 270) make two KC blocks.
  Rng rng(11);
  const ConvCase cases[] = {
      {33, 30, 4, 4, 17, 3, 1, 1, 1, true},
      {34, 60, 8, 8, 34, 3, 2, 1, 2, false},
      {58, 3, 3, 3, 40, 3, 1, 1, 1, true},
  };
  CHECK(check_conv_cases(cases, rng) == 0);
}

TEST_CASE("Kernel parity: gathered pointwise convolution with > 512 outputs, 64-column chunks (MobileNetV2's 2x2)") {
  // 1x1 stride-1 convolutions on planes of <= 4-pixel rows that are not whole vectors (2x2, 3x3, 1x1;
  // 4x4 too with 8 lanes) and more than 512 output channels per group run the gathered forward in chunks
  // of 64 batch columns (conv_gemm.h, kGatherPointwiseColumns): 2x2 with 37 images is 3 chunks (16, 16,
  // 5), 3x3 with 17 is 3 (8, 8, 1), 1x1 with 70 is 2; backward data runs the same path on the transposed
  // geometry (520->17: 520 outputs there). Odd channel counts leave partial slivers, 300 input channels
  // make two KC blocks, groups 2 (550 outputs each); plus MobileNetV2's 960->160, 160->960 and 320->1280
  // at 2x2 over two chunks.
  Rng rng(13);
  const ConvCase cases[] = {
      {37, 17, 2, 2, 601, 1, 1, 0, 1, true},    {37, 300, 2, 2, 515, 1, 1, 0, 1, false},
      {17, 5, 3, 3, 517, 1, 1, 0, 1, true},     {70, 34, 1, 1, 1100, 1, 1, 0, 2, true},
      {37, 520, 2, 2, 17, 1, 1, 0, 1, true},    {5, 3, 2, 2, 600, 1, 1, 0, 1, true},
      {18, 960, 2, 2, 160, 1, 1, 0, 1, false},  {18, 160, 2, 2, 960, 1, 1, 0, 1, false},
      {17, 320, 2, 2, 1280, 1, 1, 0, 1, false},
  };
  CHECK(check_conv_cases(cases, rng) == 0);
}

TEST_CASE("Kernel parity: stride-1 convolution on 8-pixel rows read from column-shifted copies") {
  // conv_gemm.h reads the windows of stride-1 convolutions whose output rows are 8 wide (with AVX-512)
  // from kernel_w column-shifted copies of the images (conv_pack.h, pad_shifted): as wide as x ("same"
  // padding: whole-vector copies) or not (padding 0, kernel 5), chunks of 8 images (9 images make two),
  // non-square planes, odd channel counts, groups 2, K = 270 (two KC blocks), batch columns that leave a
  // partial sliver; 3 rows of 8 (24 pixels per image, not whole vectors) keep the packed path.
  Rng rng(12);
  const ConvCase cases[] = {
      {3, 30, 8, 8, 17, 3, 1, 1, 1, true}, {2, 6, 10, 10, 10, 3, 1, 0, 2, false},
      {9, 5, 10, 10, 7, 3, 1, 0, 1, true},  // 2 chunks, no padding
      {1, 3, 8, 8, 5, 5, 1, 2, 1, true},   {5, 4, 6, 8, 9, 3, 1, 1, 1, true},
      {3, 4, 3, 8, 9, 3, 1, 1, 1, true},
  };
  CHECK(check_conv_cases(cases, rng) == 0);
}

TEST_CASE("Kernel parity: depthwise 3x3 by output rows (conv_dw_rows.h): strides 1 and 2, paddings 0 to 2") {
  // Rows of 4 to 40 outputs (half a vector to several per row, with tails), planes that are not square
  // and odd, 1 to 19 channels, batch 1 and 5: the masked borders of both strides, the stride-2 backward
  // data's even/odd column classes, and the weight sums over several images.
  Rng rng(77);
  int failures = 0;
  for (int stride : {1, 2})
    for (int pad : {0, 1, 2})
      for (const auto& hw : {std::pair<int, int>{8, 8}, {16, 16}, {9, 17}, {33, 40}, {5, 64}, {12, 31}}) {
        const int channels = 1 + static_cast<int>(rng.below(19)), batch = rng.below(2) ? 5 : 1;
        if (hw.first + 2 * pad < 3 || hw.second + 2 * pad < 3) continue;
        failures +=
            check_conv(depthwise_3x3(batch, channels, hw.first, hw.second, stride, pad), rng.below(2) != 0, rng);
      }
  CHECK(failures == 0);
}

TEST_CASE("Kernel parity: depthwise 3x3 forward by rows (conv_dw_forward.h): padding 1, strides 1 and 2") {
  // Output rows of half a vector to several vectors with tails (8 and 16 lanes: widths 7 to 100), planes
  // of 1, 7 and 31 rows (the zero rows above and below, a last group of rows cut short), channels 1, 3, 5,
  // 17, batch 1 and 5, with and without bias: the masked first and last columns of both strides and the
  // even/odd column loads of stride 2. check_conv also splits the planes in 2 and 3 parts.
  Rng rng(61);
  int failures = 0;
  for (int stride : {1, 2})
    for (int height : {1, 7, 31})
      for (int width : {7, 16, 17, 31, 64, 100})
        for (int channels : {1, 3, 5, 17}) {
          const int batch = rng.below(2) ? 5 : 1;
          failures += check_conv(depthwise_3x3(batch, channels, height, width, stride, 1), rng.below(2) != 0, rng);
        }
  CHECK(failures == 0);
}

TEST_CASE("Kernel parity: depthwise 3x3 on small planes (conv_dw_small.h): several planes per vector, 1x1 to 8x8") {
  // Stride 1 and 2, padding 1 on planes of 1x1 .. 8x8 (and 2x8, 4x2): with 16 or 8 lanes these are whole planes
  // per vector or several planes of consecutive channels per vector (channels a multiple of the planes
  // per vector: with the per-lane weight table at batch >= 8, assembled per unit below) or rows of a
  // plane; other channel counts take the other paths.
  Rng rng(31);
  int failures = 0;
  for (const auto& hw : {std::pair<int, int>{1, 1}, {2, 2}, {4, 4}, {8, 8}, {2, 8}, {4, 2}, {2, 1}})
    for (int channels : {4, 16, 32, 48, 5, 64})
      for (int batch : {1, 3, 9})
        for (int stride : {1, 2})  // stride 2: the stride-1 vectors subsampled (forward; backward elsewhere)
          failures +=
              check_conv(depthwise_3x3(batch, channels, hw.first, hw.second, stride, 1), rng.below(2) != 0, rng);
  CHECK(failures == 0);
}

TEST_CASE("Kernel parity: pointwise convolution on 16-pixel planes (conv_pointwise.h) as a packed GEMM") {
  // 4x4, 2x8 and 8x2 planes (16 columns per image: one tile row with 16 lanes), channel counts that are
  // and are not multiples of the tile (1 to 97, expand and project), batch 1 to 5 (column slivers that
  // hold one image or several, and partial ones).
  Rng rng(13);
  int failures = 0;
  for (const auto& hw : {std::pair<int, int>{4, 4}, {2, 8}, {8, 2}})
    for (int in_c : {1, 3, 17, 40, 97})
      for (int out_c : {1, 5, 16, 33, 96})
        failures += check_conv(
            kernels::make_conv_geom(1 + static_cast<int>(rng.below(5)), in_c, hw.first, hw.second, out_c, 1, 1, 0, 1),
            rng.below(2) != 0, rng);
  CHECK(failures == 0);
}

TEST_CASE("Kernel parity: pointwise backward in place on planes of >= 4 vectors (conv_pw_weight.h, conv_pw_data.h)") {
  // 1x1 stride 1. Weight gradient: dy (expand) or x (projection) read in place, the other copied a chunk
  // at a time. Backward data: tiles of 3 vectors of pixels (the last 4 vectors as 2 + 2), dy copied per
  // column on planes a multiple of 2 KB (16x32, 32x32). Planes of 64 pixels (several images per weight
  // chunk: 17 images make two chunks), 217 and 961 (partial last vectors), 512 and 1024 (one chunk per
  // plane) and 1089 (two chunks, the second short); channel counts 1, 3, 5, 17 and the models' 16..96
  // (blocks of 3 x 8 and 8 x 3 with every tail), both ways.
  Rng rng(41);
  int failures = 0;
  const std::pair<int, int> planes[] = {{8, 8}, {7, 31}, {31, 31}, {16, 32}, {32, 32}, {33, 33}};
  const std::pair<int, int> channels[] = {{1, 1}, {3, 5}, {5, 3}, {17, 3}, {3, 17}, {16, 96}, {32, 16}, {17, 17}};
  for (const auto& hw : planes)
    for (const auto& c : channels)
      for (int batch : {1, 5}) {
        if (hw.first * hw.second > 300 && c.first * c.second > 300 && batch > 1) continue;  // keep the test short
        failures += check_conv(kernels::make_conv_geom(batch, c.first, hw.first, hw.second, c.second, 1, 1, 0, 1),
                               rng.below(2) != 0, rng);
      }
  const ConvCase cases[] = {
      {17, 5, 8, 8, 7, 1, 1, 0, 1, true},
      {3, 24, 16, 16, 144, 1, 1, 0, 1, false},
      {2, 144, 16, 16, 24, 1, 1, 0, 1, false},
  };
  failures += check_conv_cases(cases, rng);
  CHECK(failures == 0);
}

TEST_CASE(
    "Kernel parity: pointwise convolution with 8 to 16 outputs on whole-vector planes (in-place GEMM, not direct)") {
  // 1x1 convolutions that conv_direct.h took before (out_channels <= 16, rows >= one vector) now run the
  // in-place GEMM when the plane is whole vectors and the outputs fill a tile (conv.h, direct()): outputs
  // 8, 9, 15, 16 (full and partial microkernel rows), inputs 1, 3, 5, 17, 32, planes of whole vectors
  // (16x16, 32x32, 1x32, 7x16: one row, odd rows) and not (7x31, 31x17: these stay direct), batch 1 and 5,
  // with and without bias; then MobileNetV2's 32->16 at 32x32 (features.1.conv.1).
  Rng rng(61);
  int failures = 0;
  for (const auto& hw : {std::pair<int, int>{16, 16}, {32, 32}, {1, 32}, {7, 16}, {7, 31}, {31, 17}})
    for (int in_c : {1, 3, 5, 17, 32})
      for (int out_c : {8, 9, 15, 16}) {
        const int batch = rng.below(2) ? 5 : 1;
        failures += check_conv(kernels::make_conv_geom(batch, in_c, hw.first, hw.second, out_c, 1, 1, 0, 1),
                               rng.below(2) != 0, rng);
      }
  failures += check_conv(kernels::make_conv_geom(3, 32, 32, 32, 16, 1, 1, 0, 1), false, rng);
  CHECK(failures == 0);
}

TEST_CASE("Kernel parity: convolution with at most 16 output columns (the few-column path)") {
  // J = batch * out_h * out_w from 1 to 16, output channels that leave partial tiles and vectors, K from 1
  // (1x1 on one channel) to several K blocks, groups 1 and 2.
  Rng rng(17);
  int failures = 0;
  int checked = 0;
  for (int batch : {1, 3})
    for (int size : {1, 2, 3, 4})
      for (int out_c : {1, 6, 17, 40, 70})
        for (int in_c : {1, 4, 34}) {
          const int kernel = size == 1 ? 1 : 3, pad = kernel / 2;
          if (batch * size * size > 16) continue;
          failures += check_conv(kernels::make_conv_geom(batch, in_c, size, size, out_c, kernel, 1, pad, 1),
                                 checked % 2 == 0, rng);
          if (in_c % 2 == 0 && out_c % 2 == 0)
            failures +=
                check_conv(kernels::make_conv_geom(batch, in_c, size, size, out_c, kernel, 1, pad, 2), true, rng);
          ++checked;
        }
  failures += check_conv(kernels::make_conv_geom(1, 300, 4, 4, 48, 3, 2, 1, 1), true, rng);  // K = 2700: 11 blocks
  failures += check_conv(kernels::make_conv_geom(1, 9, 7, 5, 13, 3, 2, 1, 1), true, rng);    // 4 x 3 pixels: J = 12
  CHECK(failures == 0);
}

TEST_CASE("Kernel parity: few-column convolution, 1 to 16 columns, pointwise and 3x3 (conv_few.h)") {
  // Every column count J = 1..16 as one image's plane (1 x J, and h x w where J factors), pointwise (x's
  // planes read as they are when the plane is one tile: 2x2, 1x4, 2x4, 4x4; gathered otherwise) and 3x3
  // padded; batch 2 and 4 (columns of several images); channels 1, 3, 17, 31 in and out (partial vectors,
  // partial 4-column outputs), groups 1 and the channels' common divisors.
  Rng rng(29);
  int failures = 0;
  for (int columns = 1; columns <= 16; ++columns)
    for (int h = 1; h <= columns; ++h) {
      if (columns % h != 0) continue;
      const int w = columns / h;
      for (int in_c : {1, 3, 17, 31})
        for (int out_c : {1, 3, 17, 31}) {
          failures += check_conv(kernels::make_conv_geom(1, in_c, h, w, out_c, 1, 1, 0, 1), rng.below(2) != 0, rng);
          if (in_c == out_c && (columns % 3 == 0))
            failures += check_conv(kernels::make_conv_geom(1, in_c, h, w, out_c, 1, 1, 0, in_c), true, rng);
        }
      failures += check_conv(kernels::make_conv_geom(1, 17, h, w, 31, 3, 1, 1, 1), true, rng);
    }
  for (int batch : {2, 4})
    for (int in_c : {3, 31})
      for (int out_c : {1, 17, 31}) {
        failures += check_conv(kernels::make_conv_geom(batch, in_c, 2, 2, out_c, 1, 1, 0, 1), true, rng);
        failures += check_conv(kernels::make_conv_geom(batch, in_c, 2, 2, out_c, 3, 1, 1, 1), true, rng);
      }
  const ConvCase cases[] = {
      {1, 320, 2, 2, 1280, 1, 1, 0, 1, true},  // MobileNetV2's last 1x1
      {1, 960, 2, 2, 320, 1, 1, 0, 1, true},
      {1, 384, 4, 4, 62, 1, 1, 0, 2, true},  // groups, 4x4
  };
  failures += check_conv_cases(cases, rng);
  CHECK(failures == 0);
}

TEST_CASE("Kernel parity: convolution at the models' layer shapes (batch 2 and 1)") {
  struct Shape {
    int in_c, size, out_c, kernel, stride, pad, groups;
  };
  const Shape shapes[] = {
      {3, 32, 16, 3, 1, 1, 1},    // autoencoder enc1
      {16, 16, 8, 3, 1, 1, 1},    // enc2
      {4, 4, 4, 3, 1, 1, 1},      // dec1
      {16, 32, 3, 3, 1, 1, 1},    // dec4
      {3, 64, 64, 7, 2, 3, 1},    // resnet18 stem
      {64, 16, 64, 3, 1, 1, 1},   // layer1
      {64, 16, 128, 3, 2, 1, 1},  // layer2.0.conv1
      {64, 16, 128, 1, 2, 0, 1},  // layer2.0.downsample
      {256, 4, 256, 3, 1, 1, 1},  // layer3
      {512, 2, 512, 3, 1, 1, 1},  // layer4 (K = 4608: many K blocks)
      {32, 32, 32, 3, 1, 1, 32},  // mobilenetv2 depthwise
      {96, 32, 96, 3, 2, 1, 96},  // depthwise stride 2
      {16, 32, 96, 1, 1, 0, 1},   // expand 1x1
      {576, 4, 160, 1, 1, 0, 1},  // project 1x1
  };
  Rng rng(3);
  int failures = 0;
  // Batch 2, and batch 1 (single-image inference: the few-column path from 16 output pixels down).
  for (int batch : {2, 1})
    for (const Shape& s : shapes)
      failures += check_conv(
          kernels::make_conv_geom(batch, s.in_c, s.size, s.size, s.out_c, s.kernel, s.stride, s.pad, s.groups), true,
          rng);
  CHECK(failures == 0);
}
