// Learning-rate schedules: closed forms of torch.optim.lr_scheduler (see schedule.h).
#include "engine/schedule.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine/error.h"

namespace plasmo {

namespace {

const char* kSyntax =
    "expected constant | step:STEP_SIZE[:GAMMA] | exp:GAMMA | cosine[:T_MAX[:ETA_MIN]], e.g. step:10:0.5, exp:0.9478";

// Shortest "%.*g" text that reads back as exactly `value`.
std::string number_text(double value) {
  char text[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

void check_lr(const char* what, double value) {
  if (!(std::isfinite(value) && value >= 0.0))
    throw UsageError(std::string("schedule: ") + what + " " + number_text(value) + " must be finite and >= 0");
}

void check_gamma(double gamma) {
  if (!(std::isfinite(gamma) && gamma > 0.0))
    throw UsageError("schedule: gamma " + number_text(gamma) + " must be finite and > 0");
}

std::vector<std::string> split_colons(const std::string& spec) {
  std::vector<std::string> fields;
  std::string field;
  for (char ch : spec) {
    if (ch == ':') {
      fields.push_back(field);
      field.clear();
    } else {
      field += ch;
    }
  }
  fields.push_back(field);
  return fields;
}

double parse_number(const std::string& spec, const std::string& field, const char* what) {
  errno = 0;
  char* end = nullptr;
  const double value = field.empty() ? 0.0 : std::strtod(field.c_str(), &end);
  if (field.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(value))
    throw UsageError("schedule '" + spec + "': " + what + " '" + field + "' is not a number; " + kSyntax);
  return value;
}

int parse_int(const std::string& spec, const std::string& field, const char* what) {
  errno = 0;
  char* end = nullptr;
  const long value = field.empty() ? 0 : std::strtol(field.c_str(), &end, 10);
  if (field.empty() || *end != '\0' || errno == ERANGE || value < 1 || value > 1000000000L)
    throw UsageError("schedule '" + spec + "': " + what + " '" + field + "' must be an integer >= 1; " + kSyntax);
  return static_cast<int>(value);
}

}  // namespace

Schedule Schedule::constant(double base_lr) {
  check_lr("base lr", base_lr);
  Schedule s;
  s.kind_ = Kind::Constant;
  s.base_lr_ = base_lr;
  return s;
}

Schedule Schedule::step(double base_lr, int step_size, double gamma) {
  check_lr("base lr", base_lr);
  check_gamma(gamma);
  if (step_size < 1) throw UsageError("schedule: step_size " + std::to_string(step_size) + " must be >= 1");
  Schedule s;
  s.kind_ = Kind::Step;
  s.base_lr_ = base_lr;
  s.step_size_ = step_size;
  s.gamma_ = gamma;
  return s;
}

Schedule Schedule::exponential(double base_lr, double gamma) {
  check_lr("base lr", base_lr);
  check_gamma(gamma);
  Schedule s;
  s.kind_ = Kind::Exponential;
  s.base_lr_ = base_lr;
  s.gamma_ = gamma;
  return s;
}

Schedule Schedule::cosine(double base_lr, int T_max, double eta_min) {
  check_lr("base lr", base_lr);
  check_lr("eta_min", eta_min);
  if (T_max < 1) throw UsageError("schedule: cosine T_max " + std::to_string(T_max) + " must be >= 1");
  Schedule s;
  s.kind_ = Kind::Cosine;
  s.base_lr_ = base_lr;
  s.T_max_ = T_max;
  s.eta_min_ = eta_min;
  return s;
}

double Schedule::lr_at(int epoch) const {
  if (epoch < 0) throw UsageError("schedule: epoch " + std::to_string(epoch) + " is negative");
  switch (kind_) {
    case Kind::Constant:
      return base_lr_;
    case Kind::Step:  // StepLR: base_lr * gamma ** (last_epoch // step_size)
      return base_lr_ * std::pow(gamma_, static_cast<double>(epoch / step_size_));
    case Kind::Exponential:  // ExponentialLR: base_lr * gamma ** last_epoch
      return base_lr_ * std::pow(gamma_, static_cast<double>(epoch));
    case Kind::Cosine: {  // CosineAnnealingLR: eta_min + (base_lr - eta_min) * (1 + cos(pi e / T_max)) / 2
      const double pi = 3.14159265358979323846;
      return eta_min_ + (base_lr_ - eta_min_) * (1.0 + std::cos(pi * epoch / T_max_)) / 2.0;
    }
  }
  return base_lr_;
}

std::string Schedule::spec() const {
  switch (kind_) {
    case Kind::Constant:
      return "constant";
    case Kind::Step:
      return "step:" + std::to_string(step_size_) + ":" + number_text(gamma_);
    case Kind::Exponential:
      return "exp:" + number_text(gamma_);
    case Kind::Cosine:
      return "cosine:" + std::to_string(T_max_) + ":" + number_text(eta_min_);
  }
  return "constant";
}

Schedule parse_schedule(const std::string& spec, double base_lr, int total_epochs) {
  const std::vector<std::string> fields = split_colons(spec);
  const std::string& name = fields[0];
  const size_t args = fields.size() - 1;
  if (name == "constant" && args == 0) return Schedule::constant(base_lr);
  if (name == "step" && (args == 1 || args == 2)) {
    const int step_size = parse_int(spec, fields[1], "STEP_SIZE");
    const double gamma = args == 2 ? parse_number(spec, fields[2], "GAMMA") : 0.1;
    if (gamma <= 0.0) throw UsageError("schedule '" + spec + "': GAMMA must be > 0; " + kSyntax);
    return Schedule::step(base_lr, step_size, gamma);
  }
  if ((name == "exp" || name == "exponential") && args == 1) {
    const double gamma = parse_number(spec, fields[1], "GAMMA");
    if (gamma <= 0.0) throw UsageError("schedule '" + spec + "': GAMMA must be > 0; " + kSyntax);
    return Schedule::exponential(base_lr, gamma);
  }
  if (name == "cosine" && args <= 2) {
    int T_max = total_epochs;
    if (args >= 1) {
      T_max = parse_int(spec, fields[1], "T_MAX");
    } else if (total_epochs < 1) {
      throw UsageError("schedule '" + spec + "': T_MAX defaults to the total epochs, which is " +
                       std::to_string(total_epochs) + " (must be >= 1)");
    }
    const double eta_min = args == 2 ? parse_number(spec, fields[2], "ETA_MIN") : 0.0;
    if (eta_min < 0.0) throw UsageError("schedule '" + spec + "': ETA_MIN must be >= 0; " + kSyntax);
    return Schedule::cosine(base_lr, T_max, eta_min);
  }
  throw UsageError("schedule '" + spec + "' not understood; " + kSyntax);
}

}  // namespace plasmo
