// make_optimizer's option check (engine/optim.cpp, one table of the options not every optimizer has):
// every optimizer accepts its own options and refuses each foreign one with the message that names it.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/optim.h"
#include "engine/tensor.h"

using namespace plasmo;

namespace {

struct OneParameter {
  Tensor weight{Shape{2}}, weight_grad{Shape{2}};
  std::vector<Param> params() { return {{"fc.weight", &weight, &weight_grad}}; }
};

// Options with only `option` set (to a value every optimizer that has it accepts).
OptimizerOptions only(const std::string& option) {
  OptimizerOptions options;
  if (option == "lr") options.lr = 0.01;
  if (option == "momentum") options.momentum = 0.5;
  if (option == "dampening") options.dampening = 0.0;
  if (option == "nesterov") options.nesterov = false;
  if (option == "weight_decay") options.weight_decay = 0.1;
  if (option == "beta1") options.beta1 = 0.8;
  if (option == "beta2") options.beta2 = 0.9;
  if (option == "alpha") options.alpha = 0.9;
  if (option == "eps") options.eps = 1e-6;
  return options;
}

// The UsageError message of make_optimizer(name, ..., options), or "" when it does not throw.
std::string refusal(const std::string& name, const OptimizerOptions& options) {
  OneParameter p;
  try {
    std::unique_ptr<Optimizer> optimizer = make_optimizer(name, p.params(), options);
    CHECK(std::string(optimizer->kind()) == name);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("Optimizer factory: each optimizer takes exactly its own options, refusing the others by name") {
  struct Expectation {
    const char* optimizer;
    std::vector<std::string> accepted, refused;
  };
  const Expectation expectations[] = {
      {"sgd", {"lr", "momentum", "dampening", "nesterov", "weight_decay"}, {"beta1", "beta2", "alpha", "eps"}},
      {"adam", {"lr", "beta1", "beta2", "eps", "weight_decay"}, {"momentum", "dampening", "nesterov", "alpha"}},
      {"rmsprop", {"lr", "momentum", "alpha", "eps", "weight_decay"}, {"dampening", "nesterov", "beta1", "beta2"}},
  };
  for (const Expectation& e : expectations) {
    for (const std::string& option : e.accepted) {
      CAPTURE(e.optimizer);
      CAPTURE(option);
      CHECK(refusal(e.optimizer, only(option)) == "");
    }
    for (const std::string& option : e.refused) {
      CAPTURE(e.optimizer);
      CAPTURE(option);
      const std::string hint = option == "momentum" ? " (Adam's is beta1)" : "";
      CHECK(refusal(e.optimizer, only(option)) ==
            "optimizer " + std::string(e.optimizer) + " has no option " + option + hint);
    }
  }
}

TEST_CASE("Optimizer factory: with several foreign options set, the first in the fixed order is named") {
  OptimizerOptions options;
  options.eps = 1e-6;
  options.alpha = 0.9;
  options.beta2 = 0.9;
  options.beta1 = 0.8;
  CHECK(refusal("sgd", options) == "optimizer sgd has no option beta1");
  options = OptimizerOptions{};
  options.alpha = 0.9;
  options.nesterov = true;
  CHECK(refusal("adam", options) == "optimizer adam has no option nesterov");
  options = OptimizerOptions{};
  options.beta2 = 0.9;
  options.dampening = 0.1;
  CHECK(refusal("rmsprop", options) == "optimizer rmsprop has no option dampening");
}
