// Optimizers: bookkeeping (state tensors, thread split, checks) around the per-element kernels.
// Update rules in optim.h; the element math is kernels::K().sgd_step / adam_step / rmsprop_step.
#include "engine/optim.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <set>

#include "engine/error.h"
#include "engine/kernels/kernels.h"
#include "engine/param_version.h"
#include "engine/threads.h"

namespace plasmo {

namespace {

// Elements are handed to workers in blocks of this many floats, each parameter starting a new block,
// so a SIMD kernel sees the same vector/tail split whatever the thread count.
constexpr int64_t kBlock = 16;
// Below this many elements in all, one thread does the whole step (a pool wake-up costs more).
constexpr int64_t kParallelMinElements = int64_t{1} << 16;

std::string num(double value) {
  char text[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

void check_nonnegative(const char* optimizer, const char* what, double value) {
  require(std::isfinite(value) && value >= 0.0,
          std::string(optimizer) + ": " + what + " " + num(value) + " must be finite and >= 0");
}

void check_unit_interval(const char* optimizer, const char* what, double value) {
  require(std::isfinite(value) && value >= 0.0 && value < 1.0,
          std::string(optimizer) + ": " + what + " " + num(value) + " must be in [0, 1)");
}

}  // namespace

// ---- Optimizer ---------------------------------------------------------------------------------------

Optimizer::Optimizer(std::vector<Param> params, double lr) : params_(std::move(params)), lr_(0.0) {
  set_lr(lr);
  require(!params_.empty(), "optimizer: empty parameter list");
  std::set<std::string> names;
  std::set<const Tensor*> values;
  first_block_.push_back(0);
  for (const Param& p : params_) {
    require(p.value != nullptr && p.grad != nullptr, "optimizer: parameter " + p.name + " has no value or grad");
    require(names.insert(p.name).second, "optimizer: parameter name " + p.name + " appears twice");
    require(values.insert(p.value).second, "optimizer: the tensor of " + p.name + " is listed twice");
    if (p.value->empty() || p.grad->size() != p.value->size())
      throw ShapeError("optimizer: parameter " + p.name + " value " + p.value->shape().str() + " and grad " +
                       p.grad->shape().str() + " must be allocated with equal sizes");
    const size_t size = p.value->size();
    sizes_.push_back(size);
    first_block_.push_back(first_block_.back() + static_cast<int64_t>((size + kBlock - 1) / kBlock));
  }
  Buffer step_entry;
  step_entry.name = "optim.step";
  step_entry.i64 = &step_count_;
  state_.push_back(step_entry);
}

void Optimizer::set_lr(double lr) {
  require(std::isfinite(lr) && lr >= 0.0, "optimizer: learning rate " + num(lr) + " must be finite and >= 0");
  lr_ = lr;
}

Tensor& Optimizer::add_state(size_t index, const char* state_name) {
  state_tensors_.push_back(std::make_unique<Tensor>(params_[index].value->shape()));
  Tensor& tensor = *state_tensors_.back();
  Buffer entry;
  entry.name = "optim." + params_[index].name + "." + state_name;
  entry.f32 = &tensor;
  state_.push_back(entry);
  return tensor;
}

void Optimizer::zero_grad() {
  const kernels::KernelTable& kt = kernels::K();
  for (Param& p : params_) kt.zero(p.grad->size(), p.grad->data());
}

void Optimizer::step() {
  parameters_changed();  // the values are written below (engine/param_version.h)
  for (size_t index = 0; index < params_.size(); ++index) {
    const Param& p = params_[index];
    if (p.value->size() != sizes_[index] || p.grad->size() != sizes_[index])
      throw ShapeError("optimizer: parameter " + p.name + " has value " + p.value->shape().str() + " and grad " +
                       p.grad->shape().str() + ", expected " + std::to_string(sizes_[index]) +
                       " elements as at construction");
  }
  const int64_t t = step_count_ + 1;
  prepare(t);
  // Updates the elements in blocks [block_begin, block_end) of the concatenated parameters.
  auto run_blocks = [this](int64_t block_begin, int64_t block_end, int /*worker*/) {
    for (size_t index = 0; index < params_.size(); ++index) {
      const int64_t first = first_block_[index], last = first_block_[index + 1];
      if (last <= block_begin) continue;
      if (first >= block_end) break;
      const size_t begin = static_cast<size_t>((std::max(first, block_begin) - first) * kBlock);
      const size_t end = std::min(sizes_[index], static_cast<size_t>((std::min(last, block_end) - first) * kBlock));
      if (begin < end) update(index, begin, end);
    }
  };
  const int64_t blocks = first_block_.back();
  if (blocks * kBlock < kParallelMinElements) {
    run_blocks(0, blocks, 0);
  } else {
    thread_pool().parallel_for(blocks, run_blocks);
  }
  step_count_ = t;
}

// ---- SGD -------------------------------------------------------------------------------------------------

SGD::SGD(std::vector<Param> params, const SGDOptions& options)
    : Optimizer(std::move(params), options.lr), options_(options) {
  check_nonnegative("sgd", "momentum", options.momentum);
  check_nonnegative("sgd", "weight_decay", options.weight_decay);
  require(std::isfinite(options.dampening), "sgd: dampening " + num(options.dampening) + " must be finite");
  require(!options.nesterov || (options.momentum > 0.0 && options.dampening == 0.0),
          "sgd: Nesterov momentum requires momentum > 0 and dampening 0");
  if (options.momentum != 0.0)
    for (size_t index = 0; index < params_.size(); ++index)
      momentum_buffer_.push_back(&add_state(index, "momentum_buffer"));
}

// Scalars rounded once from double, as PyTorch rounds its Python floats (see kernels.h).
void SGD::prepare(int64_t t) {
  step_.lr = static_cast<float>(lr_);
  step_.momentum = static_cast<float>(options_.momentum);
  step_.one_minus_dampening = static_cast<float>(1.0 - options_.dampening);
  step_.weight_decay = static_cast<float>(options_.weight_decay);
  step_.nesterov = options_.nesterov;
  step_.first = t == 1;  // PyTorch creates the buffer as a copy of the first step's d
}

void SGD::update(size_t index, size_t begin, size_t end) {
  const Param& p = params_[index];
  float* buf = momentum_buffer_.empty() ? nullptr : momentum_buffer_[index]->data() + begin;
  kernels::K().sgd_step(end - begin, p.value->data() + begin, p.grad->data() + begin, buf, step_);
}

std::string SGD::summary() const {
  return "SGD(lr=" + num(lr_) + ", momentum=" + num(options_.momentum) + ", dampening=" + num(options_.dampening) +
         ", weight_decay=" + num(options_.weight_decay) + ", nesterov=" + (options_.nesterov ? "true" : "false") + ")";
}

// ---- Adam ------------------------------------------------------------------------------------------------

Adam::Adam(std::vector<Param> params, const AdamOptions& options)
    : Optimizer(std::move(params), options.lr), options_(options) {
  check_unit_interval("adam", "beta1", options.beta1);
  check_unit_interval("adam", "beta2", options.beta2);
  check_nonnegative("adam", "eps", options.eps);
  check_nonnegative("adam", "weight_decay", options.weight_decay);
  for (size_t index = 0; index < params_.size(); ++index) {
    exp_avg_.push_back(&add_state(index, "exp_avg"));
    exp_avg_sq_.push_back(&add_state(index, "exp_avg_sq"));
  }
}

void Adam::prepare(int64_t t) {
  step_.beta1 = static_cast<float>(options_.beta1);
  step_.one_minus_beta1 = static_cast<float>(1.0 - options_.beta1);
  step_.beta2 = static_cast<float>(options_.beta2);
  step_.one_minus_beta2 = static_cast<float>(1.0 - options_.beta2);
  // torch: bias_correction1 = 1 - beta1 ** step; step_size = lr / bias_correction1;
  //        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step), all in double.
  const double step = static_cast<double>(t);
  step_.step_size = static_cast<float>(lr_ / (1.0 - std::pow(options_.beta1, step)));
  step_.bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(options_.beta2, step)));
  step_.eps = static_cast<float>(options_.eps);
  step_.weight_decay = static_cast<float>(options_.weight_decay);
}

void Adam::update(size_t index, size_t begin, size_t end) {
  const Param& p = params_[index];
  kernels::K().adam_step(end - begin, p.value->data() + begin, p.grad->data() + begin, exp_avg_[index]->data() + begin,
                         exp_avg_sq_[index]->data() + begin, step_);
}

std::string Adam::summary() const {
  return "Adam(lr=" + num(lr_) + ", betas=(" + num(options_.beta1) + ", " + num(options_.beta2) +
         "), eps=" + num(options_.eps) + ", weight_decay=" + num(options_.weight_decay) + ")";
}

// ---- RMSprop ---------------------------------------------------------------------------------------------

RMSprop::RMSprop(std::vector<Param> params, const RMSpropOptions& options)
    : Optimizer(std::move(params), options.lr), options_(options) {
  check_nonnegative("rmsprop", "alpha", options.alpha);
  check_nonnegative("rmsprop", "eps", options.eps);
  check_nonnegative("rmsprop", "weight_decay", options.weight_decay);
  check_nonnegative("rmsprop", "momentum", options.momentum);
  for (size_t index = 0; index < params_.size(); ++index) square_avg_.push_back(&add_state(index, "square_avg"));
  if (options.momentum > 0.0)
    for (size_t index = 0; index < params_.size(); ++index)
      momentum_buffer_.push_back(&add_state(index, "momentum_buffer"));
}

void RMSprop::prepare(int64_t /*t*/) {
  step_.lr = static_cast<float>(lr_);
  step_.alpha = static_cast<float>(options_.alpha);
  step_.one_minus_alpha = static_cast<float>(1.0 - options_.alpha);
  step_.eps = static_cast<float>(options_.eps);
  step_.weight_decay = static_cast<float>(options_.weight_decay);
  step_.momentum = static_cast<float>(options_.momentum);
}

void RMSprop::update(size_t index, size_t begin, size_t end) {
  const Param& p = params_[index];
  float* buf = momentum_buffer_.empty() ? nullptr : momentum_buffer_[index]->data() + begin;
  kernels::K().rmsprop_step(end - begin, p.value->data() + begin, p.grad->data() + begin,
                            square_avg_[index]->data() + begin, buf, step_);
}

std::string RMSprop::summary() const {
  return "RMSprop(lr=" + num(lr_) + ", alpha=" + num(options_.alpha) + ", eps=" + num(options_.eps) +
         ", weight_decay=" + num(options_.weight_decay) + ", momentum=" + num(options_.momentum) + ")";
}

// ---- factory -------------------------------------------------------------------------------------------

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<Param> params,
                                          const OptimizerOptions& options) {
  // The options not every optimizer has (all take lr and weight_decay), in the order they are refused.
  struct OptionalOption {
    const char* name;
    bool is_set;
    const char* hint;  // appended to the refusal
  };
  const OptionalOption optional_options[] = {
      {"momentum", options.momentum.has_value(), " (Adam's is beta1)"},  // only Adam refuses momentum
      {"dampening", options.dampening.has_value(), ""},
      {"nesterov", options.nesterov.has_value(), ""},
      {"beta1", options.beta1.has_value(), ""},
      {"beta2", options.beta2.has_value(), ""},
      {"alpha", options.alpha.has_value(), ""},
      {"eps", options.eps.has_value(), ""},
  };
  // Refuses a set option the chosen optimizer does not have: one outside `accepted`.
  auto accept_only = [&](std::initializer_list<std::string> accepted) {
    for (const OptionalOption& option : optional_options)
      if (option.is_set && std::find(accepted.begin(), accepted.end(), option.name) == accepted.end())
        throw UsageError("optimizer " + name + " has no option " + option.name + option.hint);
  };
  if (name == "sgd") {
    accept_only({"momentum", "dampening", "nesterov"});
    SGDOptions sgd;
    sgd.lr = options.lr.value_or(sgd.lr);
    sgd.momentum = options.momentum.value_or(sgd.momentum);
    sgd.dampening = options.dampening.value_or(sgd.dampening);
    sgd.nesterov = options.nesterov.value_or(sgd.nesterov);
    sgd.weight_decay = options.weight_decay.value_or(sgd.weight_decay);
    return std::make_unique<SGD>(std::move(params), sgd);
  }
  if (name == "adam") {
    accept_only({"beta1", "beta2", "eps"});
    AdamOptions adam;
    adam.lr = options.lr.value_or(adam.lr);
    adam.beta1 = options.beta1.value_or(adam.beta1);
    adam.beta2 = options.beta2.value_or(adam.beta2);
    adam.eps = options.eps.value_or(adam.eps);
    adam.weight_decay = options.weight_decay.value_or(adam.weight_decay);
    return std::make_unique<Adam>(std::move(params), adam);
  }
  if (name == "rmsprop") {
    accept_only({"momentum", "alpha", "eps"});
    RMSpropOptions rmsprop;
    rmsprop.lr = options.lr.value_or(rmsprop.lr);
    rmsprop.alpha = options.alpha.value_or(rmsprop.alpha);
    rmsprop.eps = options.eps.value_or(rmsprop.eps);
    rmsprop.weight_decay = options.weight_decay.value_or(rmsprop.weight_decay);
    rmsprop.momentum = options.momentum.value_or(rmsprop.momentum);
    return std::make_unique<RMSprop>(std::move(params), rmsprop);
  }
  throw UsageError("unknown optimizer '" + name + "': expected sgd, rmsprop or adam");
}

}  // namespace plasmo
