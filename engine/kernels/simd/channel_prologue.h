// The BatchNorm forward applied by the depthwise convolution that reads its output (train mode; see
// BatchNorm2d's forward deferral and ConvPrologue in engine/layers/conv2d.h): one pass over a few planes
// of the BatchNorm's input x writes
//   y    = act(x * scale[c] + shift[c])  to the BatchNorm's output, streamed (it is read again only in
//          backward, a whole step later: non-temporal stores save the read a normal store does first);
//   copy = the same values to a small buffer the convolution then reads from L1.
// The values are channel_affine_act's, bit for bit (the same multiply, add and comparisons, unfused).
// The stores are fenced (x86 sfence) only when asked, after a thread's last call: a fence per call of a
// few planes cost ~1 ms per training step in MobileNetV2@64 (each waits for the streamed lines to drain).
// Built per ISA next to simd/channel.h (engine/kernels/<isa>/channel.cpp).
#pragma once
#include <cstddef>

#include "engine/kernels/simd/channel.h"

namespace plasmo::kernels::simd {
namespace {

template <class V>
void channel_affine_act_copy(int N, int C, int HW, const float* x, const float* scale, const float* shift, int act,
                             float* y, float* copy, bool fence) {
  using F = typename V::F;
  constexpr int W = V::W;
  with_act(act, [&](auto act_tag) {
    constexpr int ACT = decltype(act_tag)::value;
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c) {
        const size_t base = (static_cast<size_t>(n) * C + c) * HW;
        const F sc = V::set1(scale[c]), sh = V::set1(shift[c]);
        for_each_vector<V>(static_cast<size_t>(HW), [&](size_t i, int count) {
          const F t = activate<V, ACT>(affine<V>(load_n<V>(x + base + i, count), sc, sh));
          if (count == W)
            store_stream<V>(y + base + i, t);
          else
            store_n<V>(y + base + i, t, count);
          store_n<V>(copy + base + i, t, count);
        });
      }
    if (fence) stream_fence();
  });
}

}  // namespace
}  // namespace plasmo::kernels::simd
