#include "engine/threads.h"

#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PLASMO_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define PLASMO_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define PLASMO_CPU_RELAX() ((void)0)
#endif

namespace plasmo {

namespace {
thread_local bool tls_in_worker = false;

// How long a waiting thread spins before it sleeps: long enough to catch the next layer's task in a
// forward pass, short enough not to burn a core between batches.
constexpr int kSpinIterations = 20000;

int default_thread_count() {
  if (const char* env = std::getenv("PLASMO_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned cores = std::thread::hardware_concurrency();
  return cores ? static_cast<int>(cores) : 1;
}

int g_requested_threads = 0;
std::unique_ptr<ThreadPool> g_pool;
}  // namespace

bool ThreadPool::in_worker() { return tls_in_worker; }

ThreadPool::ThreadPool(int threads) : threads_(threads < 1 ? 1 : threads), errors_(threads_) {
  for (int worker = 1; worker < threads_; ++worker) workers_.emplace_back([this, worker] { worker_loop(worker); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    // Spin, then sleep, until a new generation (or stop) is published.
    for (int spin = 0; spin < kSpinIterations; ++spin) {
      if (generation_.load(std::memory_order_acquire) != seen || stopping_.load(std::memory_order_acquire)) break;
      PLASMO_CPU_RELAX();
    }
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_cv_.wait(lock, [&] { return stopping_.load() || generation_.load() != seen; });
      if (stopping_) return;
      seen = generation_.load();
    }
    tls_in_worker = true;
    try {
      task_(task_ctx_, worker);
    } catch (...) {
      errors_[worker] = std::current_exception();
    }
    tls_in_worker = false;
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::run_erased(TaskFn fn, void* ctx) {
  if (threads_ == 1 || tls_in_worker) {
    // Serial: one worker, or a nested call from inside a task.
    bool was = tls_in_worker;
    tls_in_worker = true;
    try {
      for (int worker = 0; worker < threads_; ++worker) fn(ctx, worker);
    } catch (...) {
      tls_in_worker = was;
      throw;
    }
    tls_in_worker = was;
    return;
  }
  for (auto& e : errors_) e = nullptr;
  task_ = fn;
  task_ctx_ = ctx;
  pending_.store(threads_ - 1, std::memory_order_relaxed);
  {
    // Publishing under the lock pairs with the sleepers' predicate check (no lost wake-up).
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  tls_in_worker = true;
  try {
    fn(ctx, 0);
  } catch (...) {
    errors_[0] = std::current_exception();
  }
  tls_in_worker = false;
  for (int spin = 0; spin < kSpinIterations && pending_.load(std::memory_order_acquire) != 0; ++spin)
    PLASMO_CPU_RELAX();
  if (pending_.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
  }
  for (auto& e : errors_)
    if (e) std::rethrow_exception(e);
}

ThreadPool& thread_pool() {
  if (!g_pool) g_pool = std::make_unique<ThreadPool>(thread_count());
  return *g_pool;
}

void set_thread_count(int n) {
  g_requested_threads = n > 0 ? n : 0;
  if (g_pool && g_pool->size() != thread_count()) g_pool.reset();
}

int thread_count() { return g_requested_threads > 0 ? g_requested_threads : default_thread_count(); }

}  // namespace plasmo
