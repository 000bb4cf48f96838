// Tensor: float32, up to 4-D, row-major (NCHW for images, [N, features] for dense layers), data 64-byte
// aligned. A tensor either owns its memory or views memory owned elsewhere (a model file, an arena).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

namespace plasmo {

struct Shape {
  int rank = 0;
  int dims[4] = {1, 1, 1, 1};

  Shape() = default;
  Shape(std::initializer_list<int> sizes);  // throws ShapeError for rank > 4 or a negative size

  int operator[](int axis) const { return dims[axis]; }
  int& operator[](int axis) { return dims[axis]; }
  size_t numel() const;  // 1 for rank 0 (a scalar)

  // NCHW names; meaningful for rank-4 shapes (n() is dims[0] for any rank >= 1).
  int n() const { return dims[0]; }
  int c() const { return dims[1]; }
  int h() const { return dims[2]; }
  int w() const { return dims[3]; }

  bool operator==(const Shape& other) const;
  bool operator!=(const Shape& other) const { return !(*this == other); }
  std::string str() const;  // "[2, 3, 32, 32]"
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(const Shape& shape);                  // owned, zero-filled
  static Tensor view(float* data, const Shape& shape);  // not owned; caller keeps `data` alive

  Tensor(Tensor&& other) noexcept;
  Tensor& operator=(Tensor&& other) noexcept;
  Tensor(const Tensor&) = delete;  // copies are explicit: clone()
  Tensor& operator=(const Tensor&) = delete;
  ~Tensor();

  Tensor clone() const;  // owned deep copy

  // Changes the shape. An owned tensor reallocates (zero-filled) only when the new size exceeds its
  // capacity, so a layer that calls resize() every batch allocates once. A view cannot grow.
  void resize(const Shape& shape);
  // Same data, new shape of equal numel (a view when called on a view; shares nothing otherwise).
  void reshape(const Shape& shape);

  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank; }
  int dim(int axis) const { return shape_.dims[axis]; }
  size_t size() const { return data_ ? shape_.numel() : 0; }  // 0 for an empty (default) tensor
  bool empty() const { return data_ == nullptr; }
  bool owns_memory() const { return owned_; }

  // Every access that can change the values (the non-const data(), operator[] and at(), fill, copy_from,
  // resize, reshape, assignment) bumps version(), so a cache derived from the values stays valid while
  // version() is unchanged (Conv2d's packed weights). Read through the const overloads (std::as_const)
  // where nothing is written. Writes through a pointer kept from an earlier data() call are not seen:
  // call data() again (or bump()) after writing that way.
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump() { version_.store(version_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }

  float* data() {
    bump();
    return data_;
  }
  const float* data() const { return data_; }
  float& operator[](size_t i) {
    bump();
    return data_[i];
  }
  float operator[](size_t i) const { return data_[i]; }
  // Element of a rank-4 tensor.
  float& at(int n, int c, int h, int w) {
    bump();
    return data_[((static_cast<size_t>(n) * shape_.dims[1] + c) * shape_.dims[2] + h) * shape_.dims[3] + w];
  }
  float at(int n, int c, int h, int w) const {
    return data_[((static_cast<size_t>(n) * shape_.dims[1] + c) * shape_.dims[2] + h) * shape_.dims[3] + w];
  }

  void fill(float value);
  void zero() { fill(0.0f); }
  void copy_from(const Tensor& src);  // same numel required (shapes may differ)

 private:
  void release();
  Shape shape_;
  float* data_ = nullptr;
  size_t capacity_ = 0;  // floats allocated (owned tensors)
  bool owned_ = false;
  // Relaxed loads and stores, not a read-modify-write: workers calling data() on one tensor at once may
  // lose an increment, never the change (any bump leaves it different from what a cache recorded).
  std::atomic<uint64_t> version_{0};
};

// 64-byte aligned float buffer for scratch space (not zero-filled). Free with aligned_free_floats.
float* aligned_alloc_floats(size_t count);
void aligned_free_floats(float* p);

// A growable scratch buffer: ensure() reallocates only when asked for more than it holds.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { aligned_free_floats(data_); }
  float* ensure(size_t count);
  float* data() { return data_; }
  size_t capacity() const { return capacity_; }

 private:
  float* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace plasmo
