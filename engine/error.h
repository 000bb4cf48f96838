// Typed errors. Nothing below cli/ prints or exits: it throws one of these, and the CLI turns it into
// a one-line `plasmo: error: ...` with the matching exit status.
#pragma once
#include <stdexcept>
#include <string>

namespace plasmo {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A tensor or layer got a shape it cannot take.
struct ShapeError : Error {
  using Error::Error;
};
// A file exists but its content is wrong (truncated model, bad header, wrong dtype...).
struct FormatError : Error {
  using Error::Error;
};
// A file cannot be opened, read or written.
struct IoError : Error {
  using Error::Error;
};
// NaN or Inf where a finite number is required (training loss, gradients).
struct NumericError : Error {
  using Error::Error;
};
// The caller asked for something that makes no sense (bad option value, unknown model name).
struct UsageError : Error {
  using Error::Error;
};

}  // namespace plasmo
