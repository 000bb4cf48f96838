// Optimizers: SGD (momentum, dampening, Nesterov, L2 weight decay), Adam, RMSprop, with the update rules
// and defaults of torch.optim 1.13 (single-tensor path, maximize=False, amsgrad=False, centered=False).
// The per-element math is a kernel (kernels::K().sgd_step / adam_step / rmsprop_step; the scalar
// reference in engine/kernels/ref/optim.cpp is the definition). It repeats ATen's operations and
// roundings, and this file computes the step's scalars in double as PyTorch does, so trajectories are
// bit-identical to torch.optim's (tests/test_optim.cpp). Formulas: docs/math.md.
//
// Lifecycle: construct over a list of parameters (engine/layer.h Param: name, value, grad) -> every
// state tensor is allocated then, zero-filled. Each training step: the network's backward fills the
// gradients, step() updates every value in place, the caller zeroes the gradients (zero_grad() or
// zero_grads(net)) before the next backward. step() never allocates; it reads grads, never writes them.
// set_lr() changes the rate for the following steps (the schedule calls it each epoch).
//
// Threads: step() splits the elements of all parameters across the thread pool in blocks of 16 floats
// (each parameter starts a new block). The update is elementwise, so the result does not depend on the
// thread count.
//
// Weight decay is PyTorch's coupled L2: g <- g + weight_decay * w before the update, i.e. the gradient of
// loss + weight_decay/2 * |w|^2 (Keras's old kernel_regularizer=l2(l) adds l*|w|^2: weight_decay = 2l).
// Keras's own `weight_decay` argument (Keras >= 2.11 optimizers) is decoupled instead: w <- w - lr*wd*w
// before the update (AdamW-style); plasmo does not offer that.
//
// ---- Checkpoint state -------------------------------------------------------------------------------
// state() lists every piece of state as engine/layer.h Buffer entries, ready for safetensors:
//   F32 tensors, shape = the parameter's shape:
//     "optim.<param name>.momentum_buffer"   SGD with momentum != 0; RMSprop with momentum > 0
//     "optim.<param name>.exp_avg"           Adam (first moment m)
//     "optim.<param name>.exp_avg_sq"        Adam (second moment v)
//     "optim.<param name>.square_avg"        RMSprop
//   I64 scalar (Buffer::i64, a safetensors I64 tensor of shape [] or [1]):
//     "optim.step"                           steps taken (Adam's bias-correction t; SGD's "first step")
// (e.g. optim.fc.weight.momentum_buffer). These are torch.optim's state names; PyTorch keeps `step` per
// parameter as a float tensor, plasmo one count for all, since all parameters step together.
// Export: write each f32 tensor / the i64 value under its name. Import: for each entry, copy the saved
// data into *f32 (shapes must match: a mismatch is the caller's FormatError) or *i64; every name must be
// present. The state is complete: nothing else is needed to continue bit-identically. The learning rate
// is not state: it comes from the schedule and the epoch. summary() (hyperparameters, e.g.
// "SGD(lr=0.01, momentum=0.9, dampening=0, weight_decay=0, nesterov=false)") fits a metadata string;
// kind() ("sgd") lets a resume check it continues with the optimizer that wrote the state.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/kernels/kernels.h"
#include "engine/layer.h"
#include "engine/tensor.h"

namespace plasmo {

class Optimizer {
 public:
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;
  virtual ~Optimizer() = default;

  virtual const char* kind() const = 0;     // "sgd", "adam", "rmsprop" (make_optimizer's names)
  virtual std::string summary() const = 0;  // hyperparameters, e.g. "Adam(lr=0.001, betas=(0.9, 0.999), ...)"

  // One update of every parameter from its gradient. ShapeError if a value or gradient changed size
  // since construction.
  void step();
  // Sets every parameter gradient to zero.
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);  // UsageError unless finite and >= 0
  int64_t step_count() const { return step_count_; }

  // Every state tensor plus "optim.step" (see the header comment). Pointers stay valid for the
  // optimizer's lifetime.
  std::vector<Buffer> state() { return state_; }
  const std::vector<Param>& params() const { return params_; }

 protected:
  Optimizer(std::vector<Param> params, double lr);
  // Allocates a zero-filled state tensor shaped like parameter `index`, named
  // "optim.<param name>.<state_name>". Constructors only. The returned reference stays valid.
  Tensor& add_state(size_t index, const char* state_name);
  // Computes the step's scalars (bias corrections...) for step t (1 for the first), once, before update().
  virtual void prepare(int64_t t) = 0;
  // Updates elements [begin, end) of parameter `index`. Runs on pool workers: must not allocate or touch
  // anything outside those elements.
  virtual void update(size_t index, size_t begin, size_t end) = 0;

  std::vector<Param> params_;
  double lr_;

 private:
  std::vector<size_t> sizes_;         // numel of each parameter at construction
  std::vector<int64_t> first_block_;  // parameter p covers blocks [first_block_[p], first_block_[p+1])
  std::vector<std::unique_ptr<Tensor>> state_tensors_;
  std::vector<Buffer> state_;
  int64_t step_count_ = 0;
};

// SGD as torch.optim.SGD (no default lr in 1.13; plasmo's default 1e-3 is torch >= 2.2's):
//   g = grad + weight_decay * w
//   momentum != 0:  buf = g on the first step, else buf = momentum * buf + (1 - dampening) * g
//                   g = nesterov ? g + momentum * buf : buf
//   w = w - lr * g
// Nesterov needs momentum > 0 and dampening 0 (as PyTorch).
// Keras SGD keeps a velocity holding the learning rate: v = momentum*v - lr*grad, w += v (Nesterov:
// w += momentum*v - lr*grad). With a constant lr this is the same trajectory (v = -lr*buf); when the
// lr changes, Keras's velocity still carries the old rates while PyTorch's buf does not. Keras has no
// dampening.
struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Param> params, const SGDOptions& options);
  const char* kind() const override { return "sgd"; }
  std::string summary() const override;

 private:
  void prepare(int64_t t) override;
  void update(size_t index, size_t begin, size_t end) override;
  SGDOptions options_;
  kernels::SGDStep step_;
  std::vector<Tensor*> momentum_buffer_;  // empty when momentum == 0
};

// Adam as torch.optim.Adam (defaults lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0), step t >= 1:
//   g = grad + weight_decay * w
//   m = beta1 * m + (1 - beta1) * g          v = beta2 * v + (1 - beta2) * g^2
//   w = w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Keras Adam (epsilon 1e-7 by default) computes w -= lr*sqrt(1-beta2^t)/(1-beta1^t) * m / (sqrt(v) + eps):
// its eps is the paper's "epsilon hat", added to the uncorrected sqrt(v), i.e. PyTorch's eps equals
// Keras's eps / sqrt(1 - beta2^t), which is large in the first steps (about 31*eps at t = 1).
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Param> params, const AdamOptions& options);
  const char* kind() const override { return "adam"; }
  std::string summary() const override;

 private:
  void prepare(int64_t t) override;
  void update(size_t index, size_t begin, size_t end) override;
  AdamOptions options_;
  kernels::AdamStep step_;
  std::vector<Tensor*> exp_avg_, exp_avg_sq_;
};

// RMSprop as torch.optim.RMSprop, centered=False (defaults lr 1e-2, alpha 0.99, eps 1e-8, weight_decay 0,
// momentum 0):
//   g = grad + weight_decay * w
//   square_avg = alpha * square_avg + (1 - alpha) * g^2
//   avg = sqrt(square_avg) + eps                                  (eps OUTSIDE the square root)
//   momentum > 0:  buf = momentum * buf + g / avg,  w = w - lr * buf
//   else:          w = w - lr * g / avg
// Keras RMSprop differs: defaults lr 1e-3, rho (= alpha) 0.9, epsilon 1e-7, and eps INSIDE the root,
// w -= lr * g / sqrt(square_avg + eps); its momentum buffer holds lr: buf = momentum*buf + lr*g/sqrt(..),
// w -= buf. To mimic a Keras run set alpha 0.9; the eps placement only matters where square_avg ~ eps^2.
struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
};

class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<Param> params, const RMSpropOptions& options);
  const char* kind() const override { return "rmsprop"; }
  std::string summary() const override;

 private:
  void prepare(int64_t t) override;
  void update(size_t index, size_t begin, size_t end) override;
  RMSpropOptions options_;
  kernels::RMSpropStep step_;
  std::vector<Tensor*> square_avg_, momentum_buffer_;  // momentum_buffer_ empty when momentum == 0
};

// Options for make_optimizer (the CLI's --lr, --momentum, --weight-decay ...). Unset fields take the
// chosen optimizer's default. A field the optimizer does not have (momentum for Adam, betas for SGD)
// must stay unset: UsageError otherwise, so a mistyped command line is not silently ignored.
struct OptimizerOptions {
  std::optional<double> lr;            // sgd 1e-3, adam 1e-3, rmsprop 1e-2
  std::optional<double> momentum;      // sgd, rmsprop (0)
  std::optional<double> dampening;     // sgd (0)
  std::optional<bool> nesterov;        // sgd (false)
  std::optional<double> weight_decay;  // all (0)
  std::optional<double> beta1, beta2;  // adam (0.9, 0.999)
  std::optional<double> alpha;         // rmsprop (0.99)
  std::optional<double> eps;           // adam, rmsprop (1e-8)
};

// name: "sgd" | "rmsprop" | "adam". UsageError for another name, an option the optimizer lacks, or a
// value out of range (lr, momentum, weight_decay, eps < 0; betas outside [0, 1); Nesterov without momentum
// or with dampening); UsageError for an empty or duplicate-named parameter list, ShapeError for a
// parameter whose value and gradient sizes differ.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<Param> params,
                                          const OptimizerOptions& options = {});

}  // namespace plasmo
