#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "engine/threads.h"

using namespace plasmo;

TEST_CASE("ThreadPool: parallel_for covers [0, count) exactly once in fixed chunks") {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t count : {0, 1, 2, 7, 100}) {
      std::vector<int> hits(static_cast<size_t>(count), 0);
      std::vector<int> owner(static_cast<size_t>(count), -1);
      pool.parallel_for(count, [&](int64_t begin, int64_t end, int worker) {
        for (int64_t i = begin; i < end; ++i) {
          hits[i]++;
          owner[i] = worker;
        }
      });
      for (int64_t i = 0; i < count; ++i) {
        REQUIRE(hits[i] == 1);
        // The chunk of worker t is [count*t/T, count*(t+1)/T).
        if (count > 1 && threads > 1) {
          int t = owner[i];
          REQUIRE(i >= ThreadPool::chunk_begin(count, t, threads));
          REQUIRE(i < ThreadPool::chunk_begin(count, t + 1, threads));
        }
      }
    }
  }
}

TEST_CASE("ThreadPool: run() reaches every worker, nested calls run serially, errors propagate") {
  ThreadPool pool(3);
  std::atomic<int> mask{0};
  pool.run([&](int worker) { mask |= 1 << worker; });
  CHECK(mask == 7);
  std::atomic<int> inner{0};
  pool.run([&](int) { pool.parallel_for(10, [&](int64_t b, int64_t e, int) { inner += static_cast<int>(e - b); }); });
  CHECK(inner == 30);
  CHECK_THROWS_AS(pool.run([&](int worker) {
    if (worker == 2) throw std::runtime_error("boom");
  }),
                  std::runtime_error);
  // The pool still works after an exception.
  mask = 0;
  pool.run([&](int worker) { mask |= 1 << worker; });
  CHECK(mask == 7);
}
