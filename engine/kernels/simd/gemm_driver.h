// The blocked, packed GEMM driver shared by every ISA (the BLIS loop nest), templated on the ISA's vector
// traits V and microkernel Micro, and on three callables that say where the operands live:
//
//   C[M x N] = init + A[M x K] * B[K x N]
//
//   pack_a(row0, rows, k0, kc, dst)  writes A[row0 .. row0+rows) x [k0 .. k0+kc) as ceil(rows/MR) slivers,
//                                   sliver s at dst + s*MR*kc laid out [kc][MR], rows past `rows` zero.
//   pack_b(col0, cols, k0, kc, dst)  writes B[k0 .. k0+kc) x [col0 .. col0+cols) as slivers [kc][NR].
//   c (a CTile)                      maps a tile of C to memory: direct(row, col, ldc) returns a pointer
//                                   when the full MR x NR tile is a row-major block, else the driver goes
//                                   through a small buffer with load()/store().
//
// Packing lets one microkernel serve plain matrices, transposed matrices, convolution windows read
// straight from an NCHW image (implicit im2col) and gradient layouts alike.
//
// Loop nest (blocking by Blocking{MC, KC, NC}):
//   for jc (NC columns): for pc (KC of K): pack B panel   [KC x NC: its NR-slivers are reused by all rows]
//     for ic (MC rows): pack A block                     [MC x KC: stays in L2 for the whole panel]
//       for jr (NR): for ir (MR): microkernel             [B sliver KC x NR stays in L1 across ir]
// When all rows fit one block (M <= MC, the usual case for convolutions), each B sliver is packed just
// before its microkernels run, so it goes from the packer to the FMAs through L1 only.
// The first K block starts from init (C when accumulating, else the per-row row_init or 0); later
// blocks add to C. Each element of C therefore sees: init, then k = 0 .. K-1 in order, whatever tile
// or thread computes it.
#pragma once
#include <cstring>

#include "engine/kernels/simd/gemm_tiny.h"

namespace plasmo::kernels::simd {

struct Blocking {
  int MC, KC, NC;  // multiples of MR, (any), NR
};

static inline int min_int(int a, int b) { return a < b ? a : b; }
static inline int max_int(int a, int b) { return a > b ? a : b; }
static inline long min_long(long a, long b) { return a < b ? a : b; }
// Fetches floats [p, p + count) into L2 (one prefetch per 64-byte line; nothing for count <= 0): data a
// later block reads from memory, requested while the current block computes.
static inline void prefetch_l2(const float* p, long count) {
  for (long i = 0; i < count; i += 16) __builtin_prefetch(p + i, 0, 2);
}
static inline int round_up(int value, int multiple) { return (value + multiple - 1) / multiple * multiple; }
// ceil(value / stride) for value >= 0, without a division for the common strides 1 and 2.
static inline int ceil_div_stride(int value, int stride) {
  return stride == 1 ? value : stride == 2 ? (value + 1) >> 1 : (value + stride - 1) / stride;
}

// dst[j*ldd + r] = src[r*lds + j] for r < rows, j < cols (a transposing copy), using the ISA's register
// transpose of (up to width) x width blocks, scalar copies for the last cols % width columns.
template <class V>
inline void transpose_copy(const float* src, long lds, int rows, int cols, float* dst, long ldd) {
  constexpr int W = V::width;
  const int full_cols = cols / W * W;
  for (int r0 = 0; r0 < rows; r0 += W) {
    const int block_rows = min_int(W, rows - r0);
    for (int j0 = 0; j0 < full_cols; j0 += W)
      V::transpose_block(src + r0 * lds + j0, lds, block_rows, dst + j0 * ldd + r0, ldd);
  }
  for (int j = full_cols; j < cols; ++j)
    for (int r = 0; r < rows; ++r) dst[j * ldd + r] = src[r * lds + j];
}

// Copies `count` floats (count <= R), zero-filling dst[count .. R).
template <class V, int R>
inline void copy_pad(const float* src, int count, float* dst) {
  constexpr int W = V::width;
  static_assert(R % W == 0 || R < W, "a sliver is whole vectors or shorter than one");
  if constexpr (R < W) {  // a sliver shorter than one vector
    V::store_partial(dst, V::load_partial(src, count), R);
    return;
  }
#pragma GCC unroll 4
  for (int v = 0; v < R / W; ++v) {
    const int lanes = count - v * W;
    V::store(dst + v * W, lanes >= W ? V::load(src + v * W) : V::load_partial(src + v * W, lanes));
  }
}

// Packs R-wide slivers of a stored row-major matrix X (`ld`) for the operand role where the sliver index
// runs along `lines` and the packed contiguous index along K:
//   contiguous == true:  sliver element (k, i) = X[k0 + k][line0 + i]   (lines are columns of X)
//   contiguous == false: sliver element (k, i) = X[line0 + i][k0 + k]   (lines are rows of X: a transpose)
template <class V, int R>
struct PackMatrix {
  const float* X;
  long ld;
  bool contiguous;
  void operator()(int line0, int lines, int k0, int kc, float* dst) const {
    for (int s = 0; s < lines; s += R) {
      const int n = min_int(R, lines - s);
      float* d = dst + static_cast<long>(s) * kc;
      if (contiguous) {
        const float* src = X + static_cast<long>(k0) * ld + line0 + s;
        for (int k = 0; k < kc; ++k) copy_pad<V, R>(src + k * ld, n, d + k * R);
      } else {
        transpose_copy<V>(X + static_cast<long>(line0 + s) * ld + k0, ld, n, kc, d, R);
        if (n < R)
          for (int k = 0; k < kc; ++k)
            for (int i = n; i < R; ++i) d[k * R + i] = 0.0f;
      }
    }
  }
};

// C stored row-major with leading dimension ldc.
struct MatrixTile {
  float* C;
  long ldc;
  float* direct(int row, int col, long& ld) const {
    ld = ldc;
    return C + row * ldc + col;
  }
  void load(int row, int col, int rows, int cols, float* tmp, int ldt) const {
    for (int r = 0; r < rows; ++r) std::memcpy(tmp + r * ldt, C + (row + r) * ldc + col, sizeof(float) * cols);
  }
  void store(int row, int col, int rows, int cols, const float* tmp, int ldt) const {
    for (int r = 0; r < rows; ++r) std::memcpy(C + (row + r) * ldc + col, tmp + r * ldt, sizeof(float) * cols);
  }
};

template <class Micro>
inline size_t gemm_scratch_floats(const Blocking& b) {
  return static_cast<size_t>(b.MC) * b.KC + static_cast<size_t>(b.NC) * b.KC;
}

// One MR x NR tile (or its top-left rows x cols part at the edges): kernel(C, ldc, accumulate, row_init)
// runs the microkernel on a full tile, either in place or on a buffer.
template <class Micro, class CTile, class Kernel>
inline void gemm_tile_with(int row, int col, int rows, int cols, const CTile& c, bool accumulate, const float* row_init,
                           const Kernel& kernel) {
  constexpr int MR = Micro::MR, NR = Micro::NR;
  long ldc = 0;
  if (rows == MR && cols == NR) {
    if (float* dst = c.direct(row, col, ldc)) {
      kernel(dst, ldc, accumulate, row_init);
      return;
    }
  }
  // Through a buffer that starts as the tile's init, so every element gets the same arithmetic as in
  // the direct case (init + products in k order).
  alignas(64) float tmp[MR * NR];
  if (accumulate) {
    c.load(row, col, rows, cols, tmp, NR);
  } else {
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < cols; ++j) tmp[r * NR + j] = row_init ? row_init[r] : 0.0f;
  }
  for (int r = 0; r < MR; ++r)  // lanes outside the tile: defined values, never stored
    for (int j = (r < rows ? cols : 0); j < NR; ++j) tmp[r * NR + j] = 0.0f;
  kernel(tmp, NR, true, nullptr);
  c.store(row, col, rows, cols, tmp, NR);
}

template <class Micro, class CTile>
inline void gemm_tile(int row, int col, int rows, int cols, int kc, const float* Ap, const float* Bp, const CTile& c,
                      bool accumulate, const float* row_init) {
  gemm_tile_with<Micro>(
      row, col, rows, cols, c, accumulate, row_init,
      [=](float* C, long ldc, bool acc, const float* init) { Micro::run(kc, Ap, Bp, C, ldc, acc, init); });
}

// C = init + A * B over rows [0, M) and columns [0, N); Ap holds MC*KC floats, Bp KC*NC.
template <class Micro, class PackA, class PackB, class CTile>
void gemm_blocked(int M, int N, int K, const PackA& pack_a, const PackB& pack_b, const CTile& c, bool accumulate,
                  const float* row_init, const Blocking& blk, float* Ap, float* Bp) {
  constexpr int MR = Micro::MR, NR = Micro::NR;
  if (M <= 0 || N <= 0) return;
  for (int jc = 0; jc < N; jc += blk.NC) {
    const int nc = min_int(blk.NC, N - jc);
    // K == 0 still runs one (empty) block so C gets its init.
    for (int pc = 0; pc < K || pc == 0; pc += blk.KC) {
      const int kc = min_int(blk.KC, K - pc);
      const bool acc = accumulate || pc > 0;
      if (M <= blk.MC) {
        // One block of rows: each B sliver is used once, right after packing it, so it is packed into
        // the first sliver of Bp and never leaves L1.
        pack_a(0, M, pc, kc, Ap);
        for (int jr = 0; jr < nc; jr += NR) {
          const int nr = min_int(NR, nc - jr);
          pack_b(jc + jr, nr, pc, kc, Bp);
          for (int ir = 0; ir < M; ir += MR) {
            const float* init = (!acc && row_init) ? row_init + ir : nullptr;
            gemm_tile<Micro>(ir, jc + jr, min_int(MR, M - ir), nr, kc, Ap + static_cast<long>(ir) * kc, Bp, c, acc,
                             init);
          }
        }
      } else {
        pack_b(jc, nc, pc, kc, Bp);
        for (int ic = 0; ic < M; ic += blk.MC) {
          const int mc = min_int(blk.MC, M - ic);
          pack_a(ic, mc, pc, kc, Ap);
          for (int jr = 0; jr < nc; jr += NR) {
            const int nr = min_int(NR, nc - jr);
            for (int ir = 0; ir < mc; ir += MR) {
              const int mr = min_int(MR, mc - ir);
              const float* init = (!acc && row_init) ? row_init + ic + ir : nullptr;
              gemm_tile<Micro>(ic + ir, jc + jr, mr, nr, kc, Ap + static_cast<long>(ir) * kc,
                               Bp + static_cast<long>(jr) * kc, c, acc, init);
            }
          }
        }
      }
      if (K == 0) break;
    }
  }
}

// The KernelTable's sgemm: C = op(A) op(B) (+ C) on plain row-major matrices. It has no scratch
// argument, so it packs into stack buffers with blocks small enough for any thread's stack (~150 KB).
template <class V, class Micro>
void sgemm(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C,
           int ldc, bool accumulate) {
  if (sgemm_tiny_applies(M, N)) {  // gemm_tiny.h: the same bits without packing
    sgemm_tiny(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
    return;
  }
  constexpr int MR = Micro::MR, NR = Micro::NR;
  constexpr int MC = (96 + MR - 1) / MR * MR, KC = 128, NC = (192 + NR - 1) / NR * NR;
  alignas(64) float Ap[MC * KC];
  alignas(64) float Bp[KC * NC];
  // op(A)[row][k]: rows are A's rows (not transposed: pack transposes) or A's columns (transposed: copies).
  const PackMatrix<V, MR> pack_a{A, lda, trans_a};
  // op(B)[k][col]: columns are B's columns (copies) or B's rows (transposed: pack transposes).
  const PackMatrix<V, NR> pack_b{B, ldb, !trans_b};
  gemm_blocked<Micro>(M, N, K, pack_a, pack_b, MatrixTile{C, ldc}, accumulate, nullptr, Blocking{MC, KC, NC}, Ap, Bp);
}

}  // namespace plasmo::kernels::simd
