// Learning-rate schedules: the learning rate of each epoch as a closed form of the epoch index, equal to
// torch.optim.lr_scheduler's _get_closed_form_lr (1.13). Epochs count from 0; epoch 0 uses base_lr, as
// a PyTorch scheduler does before its first scheduler.step(). The training loop calls
// optimizer.set_lr(schedule.lr_at(epoch)) at the start of every epoch, so a resumed run gets the same
// rate from the epoch number alone (no scheduler state to save).
//
//   constant                     lr(e) = base_lr                              (no scheduler in PyTorch)
//   step   (step_size, gamma)    lr(e) = base_lr * gamma^floor(e / step_size)            (StepLR)
//   exp    (gamma)               lr(e) = base_lr * gamma^e                               (ExponentialLR)
//   cosine (T_max, eta_min)      lr(e) = eta_min + (base_lr - eta_min) * (1 + cos(pi e / T_max)) / 2
//                                                                                         (CosineAnnealingLR)
// The cosine closed form is periodic: past T_max the rate climbs back towards base_lr, as PyTorch's.
// Keras differs: its ExponentialDecay is lr * rate^(step / decay_steps) counted in batches, not epochs.
//
// The --schedule spec (parse_schedule):
//   "constant"
//   "step:STEP_SIZE[:GAMMA]"      STEP_SIZE an integer >= 1 (epochs), GAMMA > 0 (default 0.1, as StepLR)
//   "exp:GAMMA"                   GAMMA > 0; "exponential:GAMMA" is the same
//   "cosine[:T_MAX[:ETA_MIN]]"    T_MAX an integer >= 1 (default: the run's total epochs), ETA_MIN >= 0 (default 0)
// e.g. "step:10:0.5", "exp:0.9478" (the seed report: lr 1e-2 decayed by 0.9478 per epoch), "cosine".
// Anything else throws UsageError naming the spec and the syntax.
#pragma once
#include <string>

namespace plasmo {

class Schedule {
 public:
  enum class Kind { Constant, Step, Exponential, Cosine };

  static Schedule constant(double base_lr);
  static Schedule step(double base_lr, int step_size, double gamma);
  static Schedule exponential(double base_lr, double gamma);
  static Schedule cosine(double base_lr, int T_max, double eta_min = 0.0);

  // The learning rate for epoch `epoch` (0-based); UsageError for a negative epoch.
  double lr_at(int epoch) const;

  Kind kind() const { return kind_; }
  double base_lr() const { return base_lr_; }
  // The spec that rebuilds this schedule with parse_schedule ("step:10:0.5", "cosine:30:0").
  std::string spec() const;

 private:
  Schedule() = default;
  Kind kind_ = Kind::Constant;
  double base_lr_ = 0.0;
  int step_size_ = 1;     // Step
  double gamma_ = 1.0;    // Step, Exponential
  int T_max_ = 1;         // Cosine
  double eta_min_ = 0.0;  // Cosine
};

// Parses a --schedule spec (syntax above). total_epochs is cosine's default T_MAX (must be >= 1 then).
Schedule parse_schedule(const std::string& spec, double base_lr, int total_epochs);

}  // namespace plasmo
