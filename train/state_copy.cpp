#include "train/state_copy.h"

#include "engine/error.h"

namespace plasmo::train {

namespace {

void copy_tensor(const std::string& name, const Tensor& source, Tensor& target) {
  if (target.empty()) {
    target = source.clone();
    return;
  }
  if (target.shape() != source.shape())
    throw ShapeError("StateCopy: tensor '" + name + "': expected shape " + target.shape().str() + ", found " +
                     source.shape().str());
  target.copy_from(source);
}

}  // namespace

void StateCopy::capture(const std::vector<Param>& params, const std::vector<Buffer>& buffers) {
  const bool first = empty();
  if (!first && (params.size() != params_.size() || buffers.size() != buffers_.size()))
    throw ShapeError("StateCopy: " + std::to_string(params.size()) + " parameters and " +
                     std::to_string(buffers.size()) + " buffers, expected " + std::to_string(params_.size()) + " and " +
                     std::to_string(buffers_.size()));
  if (first) {
    params_.resize(params.size());
    buffers_.resize(buffers.size());
  }
  for (size_t i = 0; i < params.size(); ++i) {
    Entry& entry = params_[i];
    if (first) entry.name = params[i].name;
    if (entry.name != params[i].name)
      throw ShapeError("StateCopy: parameter " + std::to_string(i) + " is '" + params[i].name + "', expected '" +
                       entry.name + "'");
    copy_tensor(entry.name, *params[i].value, entry.f32);
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    Entry& entry = buffers_[i];
    if (first) {
      entry.name = buffers[i].name;
      entry.is_i64 = buffers[i].i64 != nullptr;
    }
    if (entry.name != buffers[i].name || entry.is_i64 != (buffers[i].i64 != nullptr))
      throw ShapeError("StateCopy: buffer " + std::to_string(i) + " is '" + buffers[i].name + "', expected '" +
                       entry.name + "'");
    if (entry.is_i64)
      entry.i64 = *buffers[i].i64;
    else
      copy_tensor(entry.name, *buffers[i].f32, entry.f32);
  }
}

std::vector<Param> StateCopy::params(const std::string& prefix) {
  std::vector<Param> out;
  for (Entry& entry : params_) out.push_back({prefix + entry.name, &entry.f32, nullptr});
  return out;
}

std::vector<Buffer> StateCopy::buffers(const std::string& prefix) {
  std::vector<Buffer> out;
  for (Entry& entry : buffers_) {
    Buffer buffer;
    buffer.name = prefix + entry.name;
    if (entry.is_i64)
      buffer.i64 = &entry.i64;
    else
      buffer.f32 = &entry.f32;
    out.push_back(buffer);
  }
  return out;
}

}  // namespace plasmo::train
