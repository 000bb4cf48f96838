#include "train/progress.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace plasmo::train {

namespace {

const char* phase_word(Phase phase) { return phase == Phase::Pretrain ? "pretrain" : "epoch"; }

std::string printf_string(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string printf_string(const char* format, ...) {
  char text[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  return text;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0) return "?";
  const long total = std::lround(seconds);
  const long hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
  if (hours > 0) return printf_string("%ld:%02ld:%02ld", hours, minutes, secs);
  if (minutes > 0) return printf_string("%ld:%02ld", minutes, secs);
  return printf_string("%lds", secs);
}

std::string progress_plain_line(const BatchProgress& p) {
  return printf_string("%s %d/%d batch %d/%d loss %.4f %.0f img/s ETA %s", phase_word(p.phase), p.epoch, p.epochs,
                       p.batch, p.batches, p.loss, p.images_per_s, format_duration(p.eta_seconds).c_str());
}

std::string progress_bar_line(const BatchProgress& p, int columns) {
  const std::string head = printf_string("%s %d/%d ", phase_word(p.phase), p.epoch, p.epochs);
  const std::string tail = printf_string(" %d/%d loss %.4f  %.0f img/s  ETA %s", p.batch, p.batches, p.loss,
                                         p.images_per_s, format_duration(p.eta_seconds).c_str());
  // The bar takes what is left of the line, between 10 and 30 cells, or disappears on a narrow terminal.
  const int room = columns - static_cast<int>(head.size() + tail.size()) - 2;
  std::string line = head;
  if (room >= 10) {
    const int cells = room < 30 ? room : 30;
    const int filled = p.batches > 0 ? static_cast<int>(static_cast<long long>(cells) * p.batch / p.batches) : 0;
    line += "[" + std::string(static_cast<size_t>(filled), '#') +
            std::string(static_cast<size_t>(cells - filled), '-') + "]";
  }
  line += tail;
  if (columns > 0 && static_cast<int>(line.size()) > columns) line.resize(static_cast<size_t>(columns));
  return line;
}

std::string epoch_summary_line(const EpochRecord& r, int epochs, bool best) {
  std::string line = printf_string("%s %d/%d  lr %.4g  ", phase_word(r.phase), r.epoch, epochs, r.lr);
  if (r.phase == Phase::Pretrain) {
    line += printf_string("train mse %.5f", r.train_loss);
    if (r.has_val) line += printf_string("  val mse %.5f", r.val_loss);
  } else {
    line += printf_string("train loss %.4f acc %.4f", r.train_loss, r.train_acc);
    if (r.has_val)
      line += printf_string("  val loss %.4f acc %.4f sens %.4f spec %.4f", r.val_loss, r.val_acc, r.val_sensitivity,
                            r.val_specificity);
  }
  line += printf_string("  %.0f img/s  %.1f s", r.images_per_s, r.seconds);
  if (best) line += "  best";
  return line;
}

}  // namespace plasmo::train
