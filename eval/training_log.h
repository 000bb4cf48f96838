// The trainer's per-epoch CSV log (`plasmo train --log FILE.csv`), read back for the report's training
// curves. Expected columns: epoch, lr, train_loss, train_acc, val_loss, val_acc, val_sensitivity,
// val_specificity, images_per_s, seconds. Columns are found by their header name, so their order and
// any extra columns (a phase column, say) do not matter; a missing column reads as all NaN, and so
// does an empty or non-numeric cell.
#pragma once
#include <string>
#include <vector>

namespace plasmo::eval {

struct TrainingLog {
  std::vector<std::string> columns;       // header names, trimmed
  std::vector<std::vector<double>> rows;  // rows[r][column], NaN where not a number
  // The values of a column by name, one per row; all NaN when the column is absent.
  std::vector<double> column(const std::string& name) const;
  bool has(const std::string& name) const;
};

// Parses CSV text (comma-separated, optional double quotes around a cell, \n or \r\n line ends, blank
// lines ignored). FormatError naming `source` when there is no header or a row has more cells than it.
TrainingLog parse_training_log(const std::string& text, const std::string& source);
// Reads and parses a file; IoError when it cannot be read.
TrainingLog read_training_log(const std::string& path);

}  // namespace plasmo::eval
