// A fixed pool of worker threads with deterministic work partitioning: parallel_for(count) always gives
// worker t the same contiguous chunk [count*t/T, count*(t+1)/T), so with the same thread count every
// partial result, and the order they are combined in, is the same run after run.
//
// Thread count: set_thread_count() (the CLI's --threads), else PLASMO_THREADS, else the number of cores.
// The caller of run() is worker 0; nested calls from inside a worker run serially on that worker.
// No allocation per call: the task is passed as a pointer to the caller's callable.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace plasmo {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return threads_; }

  // Calls fn(worker) once for each worker in [0, size()) and returns when all are done. An exception
  // thrown by a worker is rethrown here (the first one, by worker index).
  template <class Fn>
  void run(Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run_erased([](void* ctx, int worker) { (*static_cast<F*>(ctx))(worker); }, static_cast<void*>(&fn));
  }

  // Splits [0, count) into size() contiguous chunks and calls fn(begin, end, worker) for each non-empty one.
  template <class Fn>
  void parallel_for(int64_t count, Fn&& fn) {
    const int workers = threads_;
    if (count <= 0) return;
    if (workers == 1 || count == 1 || in_worker()) {
      fn(int64_t{0}, count, 0);
      return;
    }
    run([&](int worker) {
      int64_t begin = chunk_begin(count, worker, workers);
      int64_t end = chunk_begin(count, worker + 1, workers);
      if (begin < end) fn(begin, end, worker);
    });
  }

  static int64_t chunk_begin(int64_t count, int worker, int workers) { return count * worker / workers; }
  static bool in_worker();  // true inside a task started by run()

 private:
  using TaskFn = void (*)(void*, int);
  void run_erased(TaskFn fn, void* ctx);
  void worker_loop(int worker);

  int threads_;
  std::vector<std::thread> workers_;
  // A task is published by bumping generation_; workers spin briefly on it before sleeping on start_cv_
  // (waking a sleeping thread costs tens of microseconds, more than a small layer's work).
  std::mutex mutex_;
  std::condition_variable start_cv_, done_cv_;
  TaskFn task_ = nullptr;
  void* task_ctx_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
  std::vector<std::exception_ptr> errors_;
};

// The process-wide pool, created on first use with thread_count() workers.
ThreadPool& thread_pool();
// Sets the thread count before the pool is first used (later calls rebuild the pool; not thread-safe:
// call it from main before any work starts). n <= 0 means the default.
void set_thread_count(int n);
int thread_count();

}  // namespace plasmo
