// Splitting a layer's independent work over the thread pool (engine/threads.h).
// Use these only for items that do not interact (the (n, c) planes of a pooling layer, runs of an
// elementwise op): each output element is then computed by the same kernel call sequence whatever the
// split, so results are bit-identical for any thread count. Work below kMinFloatsToSplit stays on the
// calling thread: waking the workers costs more than it saves there (see docs/adding-a-layer.md).
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/threads.h"

namespace plasmo {

// Measured on the 2-vCPU dev machine (scalar kernels): waking the second worker costs 3-60 us depending
// on load; below 64K floats two threads never beat one (ReLU, Sigmoid, MaxPool 3x3/2), at 64K the
// costlier kernels (Sigmoid, MaxPool) break even or gain.
constexpr int64_t kMinFloatsToSplit = 65536;

// Calls fn(begin, end) over [0, count): once on the calling thread for small work, else once per
// worker on the pool's fixed chunk [count*t/T, count*(t+1)/T).
template <class Fn>
void split_items(int64_t count, int64_t floats_per_item, Fn&& fn) {
  ThreadPool& pool = thread_pool();
  if (count <= 0) return;
  if (pool.size() == 1 || count < 2 || count * floats_per_item < kMinFloatsToSplit) {
    fn(int64_t{0}, count);
    return;
  }
  pool.parallel_for(count, [&](int64_t begin, int64_t end, int /*worker*/) { fn(begin, end); });
}

// Elementwise work over n floats: calls fn(begin, end) on float ranges that start on 16-float (64-byte)
// boundaries, so SIMD kernels see aligned starts and no two workers write the same cache line.
template <class Fn>
void split_floats(size_t n, Fn&& fn) {
  constexpr int64_t kBlock = 16;
  const int64_t blocks = (static_cast<int64_t>(n) + kBlock - 1) / kBlock;
  split_items(blocks, kBlock, [&](int64_t begin, int64_t end) {
    const size_t first = static_cast<size_t>(begin * kBlock);
    const size_t last = static_cast<size_t>(end * kBlock) < n ? static_cast<size_t>(end * kBlock) : n;
    fn(first, last);
  });
}

}  // namespace plasmo
