#include "engine/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "engine/error.h"

namespace plasmo {

Shape::Shape(std::initializer_list<int> sizes) {
  if (sizes.size() > 4) throw ShapeError("shape of rank " + std::to_string(sizes.size()) + ": at most 4 dims");
  rank = static_cast<int>(sizes.size());
  int axis = 0;
  for (int size : sizes) {
    if (size < 0) throw ShapeError("negative size " + std::to_string(size) + " in a shape");
    dims[axis++] = size;
  }
}

size_t Shape::numel() const {
  size_t count = 1;
  for (int axis = 0; axis < rank; ++axis) count *= static_cast<size_t>(dims[axis]);
  return count;
}

bool Shape::operator==(const Shape& other) const {
  if (rank != other.rank) return false;
  for (int axis = 0; axis < rank; ++axis)
    if (dims[axis] != other.dims[axis]) return false;
  return true;
}

std::string Shape::str() const {
  std::string text = "[";
  for (int axis = 0; axis < rank; ++axis) {
    if (axis) text += ", ";
    text += std::to_string(dims[axis]);
  }
  return text + "]";
}

float* aligned_alloc_floats(size_t count) {
  // aligned_alloc needs a size that is a multiple of the alignment.
  size_t bytes = ((count * sizeof(float) + 63) / 64) * 64;
  if (bytes == 0) bytes = 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return static_cast<float*>(p);
}

void aligned_free_floats(float* p) { std::free(p); }

float* Scratch::ensure(size_t count) {
  if (count > capacity_) {
    aligned_free_floats(data_);
    data_ = nullptr;
    data_ = aligned_alloc_floats(count);
    capacity_ = count;
  }
  return data_;
}

Tensor::Tensor(const Shape& shape) : shape_(shape) {
  capacity_ = shape.numel();
  data_ = aligned_alloc_floats(capacity_);
  owned_ = true;
  std::memset(data_, 0, capacity_ * sizeof(float));
}

Tensor Tensor::view(float* data, const Shape& shape) {
  Tensor t;
  t.shape_ = shape;
  t.data_ = data;
  t.capacity_ = shape.numel();
  t.owned_ = false;
  return t;
}

Tensor::Tensor(Tensor&& other) noexcept
    : shape_(other.shape_), data_(other.data_), capacity_(other.capacity_), owned_(other.owned_) {
  version_.store(other.version() + 1, std::memory_order_relaxed);
  other.bump();
  other.data_ = nullptr;
  other.capacity_ = 0;
  other.owned_ = false;
  other.shape_ = Shape();
}

Tensor& Tensor::operator=(Tensor&& other) noexcept {
  if (this != &other) {
    // Past both versions: a cache keyed on this tensor's version never matches the new values.
    const uint64_t version = (other.version() > this->version() ? other.version() : this->version()) + 1;
    version_.store(version, std::memory_order_relaxed);
    other.bump();
    release();
    shape_ = other.shape_;
    data_ = other.data_;
    capacity_ = other.capacity_;
    owned_ = other.owned_;
    other.data_ = nullptr;
    other.capacity_ = 0;
    other.owned_ = false;
    other.shape_ = Shape();
  }
  return *this;
}

Tensor::~Tensor() { release(); }

void Tensor::release() {
  if (owned_) aligned_free_floats(data_);
  data_ = nullptr;
  capacity_ = 0;
  owned_ = false;
}

Tensor Tensor::clone() const {
  Tensor copy(shape_);
  if (size()) std::memcpy(copy.data_, data_, size() * sizeof(float));
  return copy;
}

void Tensor::resize(const Shape& shape) {
  bump();
  size_t needed = shape.numel();
  if (needed <= capacity_ && data_ != nullptr) {
    shape_ = shape;
    return;
  }
  if (data_ != nullptr && !owned_)
    throw ShapeError("cannot grow a tensor view from " + shape_.str() + " to " + shape.str());
  release();
  shape_ = shape;
  capacity_ = needed;
  data_ = aligned_alloc_floats(capacity_);
  owned_ = true;
  std::memset(data_, 0, capacity_ * sizeof(float));
}

void Tensor::reshape(const Shape& shape) {
  if (shape.numel() != size())
    throw ShapeError("cannot reshape " + shape_.str() + " to " + shape.str() + ": element counts differ");
  bump();
  shape_ = shape;
}

void Tensor::fill(float value) {
  bump();
  size_t count = size();
  for (size_t i = 0; i < count; ++i) data_[i] = value;
}

void Tensor::copy_from(const Tensor& src) {
  if (src.size() != size())
    throw ShapeError("copy from " + src.shape().str() + " into " + shape_.str() + ": element counts differ");
  bump();
  if (size()) std::memcpy(data_, src.data_, size() * sizeof(float));
}

}  // namespace plasmo
