// Operand packers and output tiles that let the GEMM driver (gemm_driver.h) run convolutions straight on
// NCHW tensors, with the columns of several images side by side:
//
//   column j of a batch slice  <->  image n = j / P, output pixel p = j % P = oh * out_w + ow   (P = out_h*out_w)
//
// PackWindows      B[k][j] = x[n][ci][oh*stride - pad + kh][ow*stride - pad + kw] (0 in the padding),
//                  k = (ci*kernel_h + kh)*kernel_w + kw: im2col done while packing, never stored whole.
// PackWindowsT     the same matrix transposed (k indexes slivers, j runs along the packed dimension).
// PackPlanes       B[row][j] = X[n][row][p] for a [batch, rows, P] tensor (dy in backward data).
// PackPlanesT      the same transposed (dy as the A operand of the weight gradient).
// PlanesTile       C[row][j] <-> Y[n][row0 + row][p]: the NCHW output of a GEMM over batch columns.
//
// A run is a stretch of columns in one image and one output row (for windows) or one image (for planes):
// the unit that maps to contiguous memory.
#pragma once
#include <cstring>

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels::simd {

// dst[i] = row[iw0 + i*stride] where 0 <= iw0 + i*stride < in_w, else 0, for i < count.
template <class V>
inline void copy_window_row(const float* row, int in_w, int iw0, int stride, int count, float* dst) {
  constexpr int W = V::width;
  // Valid i: [lo, hi).
  int lo = iw0 >= 0 ? 0 : (-iw0 + stride - 1) / stride;
  int hi = iw0 >= in_w ? 0 : (in_w - iw0 + stride - 1) / stride;
  if (hi > count) hi = count;
  if (lo > hi) lo = hi;
  if (stride > 2 || !V::has_masked_io) {
    // Zeros, the valid stretch (memcpy, or whole vectors of even elements for stride 2), zeros.
    int i = 0;
    for (; i < lo; ++i) dst[i] = 0.0f;
    if (stride == 1) {
      if (hi > lo) std::memcpy(dst + lo, row + iw0 + lo, sizeof(float) * (hi - lo));
      i = hi;
    } else {
      if (stride == 2)
        for (; i + W <= hi; i += W) V::store(dst + i, V::load_even(row + iw0 + 2 * i));
      for (; i < hi; ++i) dst[i] = row[iw0 + i * stride];
    }
    for (; i < count; ++i) dst[i] = 0.0f;
    return;
  }
  for (int c0 = 0; c0 < count; c0 += W) {
    const int lane_lo = lo - c0, lane_hi = hi - c0;
    typename V::reg v;
    if (lane_lo <= 0 && lane_hi >= W)
      v = stride == 1 ? V::load(row + iw0 + c0) : V::load_even_lanes(row + iw0 + 2 * c0, 0, W);
    else if (lane_hi <= 0 || lane_lo >= W)
      v = V::zero();
    else
      v = stride == 1 ? V::load_lanes(row + iw0 + c0, lane_lo, lane_hi)
                      : V::load_even_lanes(row + iw0 + 2 * c0, lane_lo, lane_hi);
    if (c0 + W <= count)
      V::store(dst + c0, v);
    else
      V::store_partial(dst + c0, v, count - c0);
  }
}

// A stretch of `count` columns of one image (and one output row for windows), starting at column
// offset `dst` within a sliver.
struct Run {
  int n, oh, ow, count, dst;
};

// Splits columns [col, col + count) into runs that stay within one output row (row_len = out_w) or,
// with row_len = P, within one image. Returns the number of runs.
inline int split_runs(long col, int count, int P, int row_len, Run* runs) {
  int num = 0;
  for (int done = 0; done < count;) {
    const long j = col + done;
    const int n = static_cast<int>(j / P), p = static_cast<int>(j % P);
    const int oh = p / row_len, ow = p % row_len;
    const int len = min_int(row_len - ow, count - done);
    runs[num++] = Run{n, oh, ow, len, done};
    done += len;
  }
  return num;
}

// B[k][j] of the forward convolution for one group: k over group_in*kernel_h*kernel_w window taps, j over
// the columns [col_offset, ...) of the batch. x points at the group's first channel of image 0.
template <class V, int R>
struct PackWindows {
  const ConvGeom* g;
  const float* x;
  long image_stride;  // floats between images (in_channels * in_h * in_w)
  long col_offset;

  void operator()(int col0, int cols, int k0, int kc, float* dst) const {
    const ConvGeom& geo = *g;
    const int P = geo.out_h * geo.out_w;
    const long plane = static_cast<long>(geo.in_h) * geo.in_w;
    Run runs[R];
    for (int s = 0; s < cols; s += R) {
      const int width = min_int(R, cols - s);
      const int num_runs = split_runs(col_offset + col0 + s, width, P, geo.out_w, runs);
      float* d = dst + static_cast<long>(s) * kc;
      // Window tap k = (ci, kh, kw), advanced incrementally.
      int ci = k0 / (geo.kernel_h * geo.kernel_w), kh = (k0 / geo.kernel_w) % geo.kernel_h, kw = k0 % geo.kernel_w;
      for (int k = 0; k < kc; ++k, d += R) {
        for (int r = 0; r < num_runs; ++r) {
          const Run& run = runs[r];
          const int ih = run.oh * geo.stride_h - geo.pad_h + kh;
          if (ih < 0 || ih >= geo.in_h) {
            std::memset(d + run.dst, 0, sizeof(float) * run.count);
            continue;
          }
          const float* row = x + run.n * image_stride + ci * plane + static_cast<long>(ih) * geo.in_w;
          copy_window_row<V>(row, geo.in_w, run.ow * geo.stride_w - geo.pad_w + kw, geo.stride_w, run.count,
                             d + run.dst);
        }
        for (int i = width; i < R; ++i) d[i] = 0.0f;
        if (++kw == geo.kernel_w) {
          kw = 0;
          if (++kh == geo.kernel_h) {
            kh = 0;
            ++ci;
          }
        }
      }
    }
  }
};

// Packs R-wide slivers of the transpose of a matrix whose rows are produced by fill_row(line, j0, count,
// out): sliver element (j, i) = Row(line0 + i)[j0 + j]. Rows are first gathered into `tmp` (R x kc
// floats, L1-sized), then transposed with the ISA's register transpose.
template <class V, int R, class FillRow>
inline void pack_rows_transposed(const FillRow& fill_row, int line0, int lines, int j0, int kc, float* tmp,
                                 float* dst) {
  for (int s = 0; s < lines; s += R) {
    const int n = min_int(R, lines - s);
    for (int i = 0; i < n; ++i) fill_row(line0 + s + i, j0, kc, tmp + static_cast<long>(i) * kc);
    float* d = dst + static_cast<long>(s) * kc;
    transpose_copy<V>(tmp, kc, n, kc, d, R);
    if (n < R)
      for (int k = 0; k < kc; ++k)
        for (int i = n; i < R; ++i) d[k * R + i] = 0.0f;
  }
}

// One im2col row: tap k = (ci, kh, kw) over columns [j0, j0 + count) of the batch (see PackWindows).
template <class V>
struct WindowRow {
  const ConvGeom* g;
  const float* x;
  long image_stride;
  void operator()(int k, long j0, int count, float* out) const {
    const ConvGeom& geo = *g;
    const int P = geo.out_h * geo.out_w;
    const int ci = k / (geo.kernel_h * geo.kernel_w), kh = (k / geo.kernel_w) % geo.kernel_h, kw = k % geo.kernel_w;
    const long plane = static_cast<long>(geo.in_h) * geo.in_w;
    for (int done = 0; done < count;) {
      const long j = j0 + done;
      const int n = static_cast<int>(j / P), p = static_cast<int>(j % P);
      const int oh = p / geo.out_w, ow = p % geo.out_w;
      const int len = min_int(geo.out_w - ow, count - done);
      const int ih = oh * geo.stride_h - geo.pad_h + kh;
      if (ih < 0 || ih >= geo.in_h) {
        std::memset(out + done, 0, sizeof(float) * len);
      } else {
        const float* row = x + n * image_stride + ci * plane + static_cast<long>(ih) * geo.in_w;
        copy_window_row<V>(row, geo.in_w, ow * geo.stride_w - geo.pad_w + kw, geo.stride_w, len, out + done);
      }
      done += len;
    }
  }
};

// One row of a [batch, rows, P] tensor over batch columns: Row(row)[j] = X[j / P][row][j % P].
struct PlaneRow {
  const float* X;
  long image_stride;
  int P;
  void operator()(int row, long j0, int count, float* out) const {
    for (int done = 0; done < count;) {
      const long j = j0 + done;
      const int n = static_cast<int>(j / P), p = static_cast<int>(j % P);
      const int len = min_int(P - p, count - done);
      std::memcpy(out + done, X + n * image_stride + static_cast<long>(row) * P + p, sizeof(float) * len);
      done += len;
    }
  }
};

// GEMM operand "lines are rows of Fill, packed dimension is columns": slivers of the transpose.
template <class V, int R, class FillRow>
struct PackTransposed {
  FillRow fill;
  float* tmp;  // R * KC floats
  void operator()(int line0, int lines, int k0, int kc, float* dst) const {
    pack_rows_transposed<V, R>([this](int line, int j0, int count, float* out) { fill(line, j0, count, out); },
                               line0, lines, k0, kc, tmp, dst);
  }
};

// GEMM operand B[row][j] = X[n][row][p] over batch columns starting at col_offset (slivers of R columns).
template <class V, int R>
struct PackPlanes {
  const float* X;
  long image_stride;
  int P;
  long col_offset;
  void operator()(int col0, int cols, int k0, int kc, float* dst) const {
    Run runs[R];
    for (int s = 0; s < cols; s += R) {
      const int width = min_int(R, cols - s);
      const int num_runs = split_runs(col_offset + col0 + s, width, P, P, runs);
      float* d = dst + static_cast<long>(s) * kc;
      for (int k = 0; k < kc; ++k, d += R) {
        const long row_offset = static_cast<long>(k0 + k) * P;
        if (num_runs == 1 && width == R) {
          copy_pad<V, R>(X + runs[0].n * image_stride + row_offset + runs[0].ow, R, d);
          continue;
        }
        for (int r = 0; r < num_runs; ++r)
          std::memcpy(d + runs[r].dst, X + runs[r].n * image_stride + row_offset + runs[r].ow,
                      sizeof(float) * runs[r].count);
        for (int i = width; i < R; ++i) d[i] = 0.0f;
      }
    }
  }
};

// C[row][j] <-> Y[n][row][p] for columns j >= col_offset of the batch (Y points at the first output row
// this GEMM writes, e.g. a group's first channel).
template <int NR>
struct PlanesTile {
  float* Y;
  long image_stride;
  int P;
  long col_offset;
  float* direct(int row, int col, long& ld) const {
    const long j = col_offset + col;
    const int p = static_cast<int>(j % P);
    if (p + NR > P) return nullptr;  // the tile crosses into the next image
    ld = P;
    return Y + (j / P) * image_stride + static_cast<long>(row) * P + p;
  }
  template <bool kStore>
  void copy(int row, int col, int rows, int cols, float* tmp, int ldt) const {
    Run runs[NR];
    const int num_runs = split_runs(col_offset + col, cols, P, P, runs);
    for (int r = 0; r < rows; ++r)
      for (int i = 0; i < num_runs; ++i) {
        float* y = Y + runs[i].n * image_stride + static_cast<long>(row + r) * P + runs[i].ow;
        float* t = tmp + r * ldt + runs[i].dst;
        if (kStore)
          std::memcpy(y, t, sizeof(float) * runs[i].count);
        else
          std::memcpy(t, y, sizeof(float) * runs[i].count);
      }
  }
  void load(int row, int col, int rows, int cols, float* tmp, int ldt) const {
    copy<false>(row, col, rows, cols, tmp, ldt);
  }
  void store(int row, int col, int rows, int cols, const float* tmp, int ldt) const {
    copy<true>(row, col, rows, cols, const_cast<float*>(tmp), ldt);
  }
};

}  // namespace plasmo::kernels::simd
