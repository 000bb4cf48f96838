// Operand packers and output tiles that let the GEMM driver (gemm_driver.h) run convolutions straight on
// NCHW tensors, with the columns of several images side by side:
//
//   column j of a batch slice  <->  image n = j / P, output pixel p = j % P = oh * out_w + ow   (P = out_h*out_w)
//
// PackWindows      B[k][j] = x[n][ci][oh*stride - pad + kh][ow*stride - pad + kw] (0 in the padding),
//                  k = (ci*kernel_h + kh)*kernel_w + kw: im2col done while packing, never stored whole,
//                  read from a WindowSource (x, or a zero-padded copy of a few images: no bounds checks).
// WindowRow        one row of that matrix (for packing it transposed: the weight gradient).
// PackPlanes       B[row][j] = X[n][row][p] for a [batch, rows, P] tensor (dy in backward data).
// PlaneRow         one row of that matrix (dy as the transposed A operand of the weight gradient).
// PlanesTile       C[row][j] <-> Y[n][row0 + row][p]: the NCHW output of a GEMM over batch columns.
//
// A run is a stretch of columns in one image and one output row (for windows) or one image (for planes):
// the unit that maps to contiguous memory.
#pragma once
#include <cstring>
#include <type_traits>

#include "engine/kernels/kernels.h"
#include "engine/kernels/simd/gemm_driver.h"

namespace plasmo::kernels::simd {

// dst[i] = src[i * stride] for i < count; every address read is inside the window (masked loads only
// keep the tail from reading past it).
template <class V>
inline void copy_strided(const float* src, int stride, int count, float* dst) {
  constexpr int W = V::width;
  int i = 0;
  if (stride == 1) {
    for (; i + W <= count; i += W) V::store(dst + i, V::load(src + i));
    if (i < count) {
      if (V::has_masked_io) {
        V::store_partial(dst + i, V::load_partial(src + i, count - i), count - i);
        return;
      }
      for (; i < count; ++i) dst[i] = src[i];
    }
    return;
  }
  if (stride == 2) {
    for (; i + W <= count; i += W) V::store(dst + i, V::load_even(src + 2 * i));
    if (i < count && V::has_masked_io) {
      V::store_partial(dst + i, V::load_even_lanes(src + 2 * i, 0, count - i), count - i);
      return;
    }
  }
  for (; i < count; ++i) dst[i] = src[i * stride];
}

// Where the packers read windows from: images laid out so that every window lies inside them. Window
// row oh*stride_h + kh, column ow*stride_w + kw of channel ci of image n is at
//   base + (n - n_first) * image_stride + ci * plane + row * row_len + column,
// which is x itself for a convolution without padding, else a zero-padded copy made by pad_images.
//
// A source may also hold kernel_w column-shifted copies of the padded images (pad_shifted: stride-1
// convolutions with rows narrower than a vector), copy kw at base + kw * tap_w with rows of out_w
// columns; a window's column kw is then copy kw's column ow. Either way tap (ci, kh, kw) of the window
// at (oh, ow) is at
//   base + (n - n_first) * image_stride + ci * plane + (oh*stride_h + kh) * row_len + ow*stride_w + kw * tap_w.
struct WindowSource {
  const float* base;
  long image_stride, plane;
  int row_len, n_first;
  long tap_w = 1;
};

inline int padded_h(const ConvGeom& g) { return g.in_h + 2 * g.pad_h; }
inline int padded_w(const ConvGeom& g) { return g.in_w + 2 * g.pad_w; }

// dst[i][c][sh][sw] = x[n_first + i][c][sh - pad_h][sw - pad_w], 0 outside x (a negative padding crops).
// Rows are short (4..70 floats here), so with masked loads each row is a few whole-vector copies whose
// masks (x's columns) are made once; a row's last vector may spill into the next row, written after it
// (dst needs V::width floats of slack past the last plane).
template <class V>
inline void pad_images(const ConvGeom& g, const float* x, int n_first, int images, float* dst) {
  constexpr int W = V::width, kMaxChunks = 8;
  const int Hs = padded_h(g), Ws = padded_w(g);
  // Columns sw with 0 <= sw - pad_w < in_w.
  const int col_lo = max_int(0, g.pad_w), col_hi = min_int(Ws, g.in_w + g.pad_w);
  const long planes = static_cast<long>(images) * g.in_channels;
  const int chunks = (Ws + W - 1) / W;
  if constexpr (V::has_masked_io) {
    if (chunks <= kMaxChunks) {
      typename V::mask masks[kMaxChunks];
      for (int c = 0; c < chunks; ++c) masks[c] = V::make_mask(col_lo - c * W, col_hi - c * W);
      for (long plane = 0; plane < planes; ++plane) {
        const float* src = x + (static_cast<long>(n_first) * g.in_channels + plane) * g.in_h * g.in_w;
        float* out = dst + plane * Hs * Ws;
        for (int sh = 0; sh < Hs; ++sh, out += Ws) {
          const int ih = sh - g.pad_h;
          if (ih < 0 || ih >= g.in_h) {
            for (int c = 0; c < chunks; ++c) V::store(out + c * W, V::zero());
            continue;
          }
          const float* row = src + static_cast<long>(ih) * g.in_w - g.pad_w;  // row[sw] = x[ih][sw - pad_w]
          for (int c = 0; c < chunks; ++c) V::store(out + c * W, V::load_masked(row + c * W, masks[c]));
        }
      }
      return;
    }
  }
  for (long plane = 0; plane < planes; ++plane) {
    const float* src = x + (static_cast<long>(n_first) * g.in_channels + plane) * g.in_h * g.in_w;
    float* out = dst + plane * Hs * Ws;
    for (int sh = 0; sh < Hs; ++sh, out += Ws) {
      const int ih = sh - g.pad_h;
      const bool inside = ih >= 0 && ih < g.in_h && col_lo < col_hi;
      int sw = 0;
      if (inside) {
        for (; sw < col_lo; ++sw) out[sw] = 0.0f;
        copy_strided<V>(src + static_cast<long>(ih) * g.in_w + (col_lo - g.pad_w), 1, col_hi - col_lo, out + col_lo);
        sw = col_hi;
      }
      for (; sw < Ws; ++sw) out[sw] = 0.0f;
    }
  }
}

// The kernel_w column-shifted copies of images [n_first, n_first + images) for a stride-1 convolution:
//   dst[kw][i][c][sh][ow] = x[n_first + i][c][sh - pad_h][ow + kw - pad_w]   (0 outside x), ow < out_w,
// rows of out_w floats, so that the output pixels of an image, row after row, meet tap (c, kh, kw) at
// consecutive addresses: 16 of them (two 8-pixel rows) are one vector read in place by the microkernel.
template <class V>
inline void pad_shifted(const ConvGeom& g, const float* x, int n_first, int images, float* dst) {
  constexpr int W = V::width;
  const int Hs = padded_h(g), Ws = g.out_w;
  const long planes = static_cast<long>(images) * g.in_channels;
  if constexpr (V::has_masked_io) {
    // Rows as wide as x's ("same" padding, out_w dividing the vector width): the inside rows of copy kw
    // are x's plane moved by kw - pad_w floats, with the lanes that fall in the padding columns (the same
    // in every vector) zeroed: whole vectors, masked once.
    const int inside = g.in_h * g.in_w;
    if (g.in_w == Ws && W % Ws == 0 && inside % W == 0) {
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        const int shift = kw - g.pad_w;
        unsigned bits = 0;
        for (int lane = 0; lane < W; ++lane)
          if (lane % Ws + shift >= 0 && lane % Ws + shift < g.in_w) bits |= 1u << lane;
        const typename V::mask keep = V::mask_from_bits(bits);
        for (long plane = 0; plane < planes; ++plane) {
          const float* src = x + (static_cast<long>(n_first) * g.in_channels + plane) * inside + shift;
          float* out = dst + (kw * planes + plane) * Hs * Ws;
          for (int i = 0; i < g.pad_h * Ws; i += W) V::store_partial(out + i, V::zero(), min_int(W, g.pad_h * Ws - i));
          out += g.pad_h * Ws;
          for (int i = 0; i < inside; i += W) V::store(out + i, V::load_masked(src + i, keep));
          out += inside;
          const int below = (Hs - g.pad_h - g.in_h) * Ws;
          for (int i = 0; i < below; i += W) V::store_partial(out + i, V::zero(), min_int(W, below - i));
        }
      }
      return;
    }
  }
  for (int kw = 0; kw < g.kernel_w; ++kw) {
    // Columns ow whose input column iw = ow + kw - pad_w lies in [0, in_w).
    const int lo = max_int(0, g.pad_w - kw), hi = min_int(Ws, g.in_w + g.pad_w - kw);
    for (long plane = 0; plane < planes; ++plane) {
      const float* src = x + (static_cast<long>(n_first) * g.in_channels + plane) * g.in_h * g.in_w;
      float* out = dst + (kw * planes + plane) * Hs * Ws;
      for (int sh = 0; sh < Hs; ++sh, out += Ws) {
        const int ih = sh - g.pad_h;
        const bool inside = ih >= 0 && ih < g.in_h && lo < hi;
        for (int c0 = 0; c0 < Ws; c0 += V::width) {
          const int count = min_int(V::width, Ws - c0);
          // lane i = x[ih][c0 + i + kw - pad_w]; only lanes [lo - c0, hi - c0) are read.
          const typename V::reg v = inside ? V::load_lanes(src + static_cast<long>(ih) * g.in_w + (kw - g.pad_w) + c0,
                                                           lo - c0, min_int(hi - c0, count))
                                           : V::zero();
          if (count == V::width)
            V::store(out + c0, v);
          else
            V::store_partial(out + c0, v, count);
        }
      }
    }
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
  // One division to find the first column's place, then walk.
  int n = static_cast<int>(col / P), p = static_cast<int>(col % P);
  int oh = p / row_len, ow = p % row_len;
  const int rows = P / row_len;
  int num = 0;
  for (int done = 0; done < count;) {
    const int len = min_int(row_len - ow, count - done);
    runs[num++] = Run{n, oh, ow, len, done};
    done += len;
    ow = 0;
    if (++oh == rows) {
      oh = 0;
      ++n;
    }
  }
  return num;
}

// B[k][j] of the forward convolution for one group: k over group_in*kernel_h*kernel_w window taps, j over
// the batch columns from col_offset on; src points at the group's first channel.
template <class V, int R>
struct PackWindows {
  const ConvGeom* g;
  WindowSource src;
  long col_offset;

  void operator()(int col0, int cols, int k0, int kc, float* dst) const {
    const ConvGeom& geo = *g;
    const int P = geo.out_h * geo.out_w;
    Run runs[R];
    const float* base[R];
    for (int s = 0; s < cols; s += R) {
      const int width = min_int(R, cols - s);
      const int num_runs = split_runs(col_offset + col0 + s, width, P, geo.out_w, runs);
      for (int r = 0; r < num_runs; ++r)
        base[r] = src.base + (runs[r].n - src.n_first) * src.image_stride +
                  static_cast<long>(runs[r].oh * geo.stride_h) * src.row_len + runs[r].ow * geo.stride_w;
      float* d = dst + static_cast<long>(s) * kc;
      // Window tap k = (ci, kh, kw), advanced incrementally.
      int ci = k0 / (geo.kernel_h * geo.kernel_w), kh = (k0 / geo.kernel_w) % geo.kernel_h, kw = k0 % geo.kernel_w;
      for (int k = 0; k < kc; ++k, d += R) {
        const long offset = ci * src.plane + static_cast<long>(kh) * src.row_len + kw * src.tap_w;
        if (num_runs == 1 && width == R && geo.stride_w == 1) {
          copy_pad<V, R>(base[0] + offset, R, d);
        } else {
          for (int r = 0; r < num_runs; ++r)
            copy_strided<V>(base[r] + offset, geo.stride_w, runs[r].count, d + runs[r].dst);
          for (int i = width; i < R; ++i) d[i] = 0.0f;
        }
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

// One im2col row: tap k = (ci, kh, kw) over batch columns [col_offset + j0, ... + count) (see PackWindows).
template <class V>
struct WindowRow {
  const ConvGeom* g;
  WindowSource src;
  long col_offset;
  void operator()(int k, long j0, int count, float* out) const {
    const ConvGeom& geo = *g;
    const int P = geo.out_h * geo.out_w;
    const int ci = k / (geo.kernel_h * geo.kernel_w), kh = (k / geo.kernel_w) % geo.kernel_h, kw = k % geo.kernel_w;
    const float* tap = src.base + ci * src.plane + static_cast<long>(kh) * src.row_len + kw;
    const long j = col_offset + j0;
    int n = static_cast<int>(j / P), p = static_cast<int>(j % P);
    int oh = p / geo.out_w, ow = p % geo.out_w;
    for (int done = 0; done < count;) {
      const int len = min_int(geo.out_w - ow, count - done);
      copy_strided<V>(tap + (n - src.n_first) * src.image_stride + static_cast<long>(oh * geo.stride_h) * src.row_len +
                          ow * geo.stride_w,
                      geo.stride_w, len, out + done);
      done += len;
      ow = 0;
      if (++oh == geo.out_h) {
        oh = 0;
        ++n;
      }
    }
  }
};

// One row of a [batch, rows, P] tensor over batch columns: Row(row)[j] = X[j / P][row][j % P].
struct PlaneRow {
  const float* X;
  long image_stride;
  int P;
  void operator()(int row, long j0, int count, float* out) const {
    int n = static_cast<int>(j0 / P), p = static_cast<int>(j0 % P);
    for (int done = 0; done < count;) {
      const int len = min_int(P - p, count - done);
      std::memcpy(out + done, X + n * image_stride + static_cast<long>(row) * P + p, sizeof(float) * len);
      done += len;
      p = 0;
      ++n;
    }
  }
};

// GEMM operand "lines are rows of Fill, packed dimension is columns": slivers of the transpose.
template <class V, int R, class FillRow>
struct PackTransposed {
  FillRow fill;
  float* tmp;  // R * KC floats
  void operator()(int line0, int lines, int k0, int kc, float* dst) const {
    pack_rows_transposed<V, R>([this](int line, int j0, int count, float* out) { fill(line, j0, count, out); }, line0,
                               lines, k0, kc, tmp, dst);
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
// this GEMM writes, e.g. a group's first channel). A tile that crosses images is copied run by run: by
// memcpy, or, with a vector-traits V (PlanesTileV, conv_pointwise.h), by V's loads and stores, for planes
// so small (a 2x2 plane is 4 floats) that a library memcpy per run would cost more than the tile's math.
template <int NR, class V = void>
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
    if constexpr (std::is_void_v<V>)
      copy_by_memcpy<kStore>(row, col, rows, cols, tmp, ldt);
    else
      copy_by_vectors<kStore>(row, col, rows, cols, tmp, ldt);
  }
  void load(int row, int col, int rows, int cols, float* tmp, int ldt) const {
    copy<false>(row, col, rows, cols, tmp, ldt);
  }
  void store(int row, int col, int rows, int cols, const float* tmp, int ldt) const {
    copy<true>(row, col, rows, cols, const_cast<float*>(tmp), ldt);
  }

 private:
  template <bool kStore>
  void copy_by_memcpy(int row, int col, int rows, int cols, float* tmp, int ldt) const {
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
  template <bool kStore>
  void copy_by_vectors(int row, int col, int rows, int cols, float* tmp, int ldt) const {
    constexpr int W = V::width;
    const long j = col_offset + col;
    long n = j / P;
    int p = static_cast<int>(j % P);
    for (int done = 0; done < cols;) {
      const int len = min_int(P - p, cols - done);
      float* y = Y + n * image_stride + static_cast<long>(row) * P + p;
      float* t = tmp + done;
      for (int r = 0; r < rows; ++r, y += P, t += ldt)
        for (int i = 0; i < len; i += W) {
          const int m = min_int(W, len - i);
          if (kStore) {
            if (m == W)
              V::store(y + i, V::load(t + i));
            else
              V::store_partial(y + i, V::load_partial(t + i, m), m);
          } else {
            V::store(t + i, m == W ? V::load(y + i) : V::load_partial(y + i, m));
          }
        }
      done += len;
      p = 0;
      ++n;
    }
  }
};

}  // namespace plasmo::kernels::simd
