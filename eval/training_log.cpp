#include "eval/training_log.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "engine/error.h"

namespace plasmo::eval {

namespace {

std::string trim(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && (text[begin] == ' ' || text[begin] == '\t')) ++begin;
  while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\r')) --end;
  return text.substr(begin, end - begin);
}

// Splits one line at commas outside double quotes; "" inside quotes is a quote.
std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back() += '"', ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cells.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  for (std::string& cell : cells) cell = trim(cell);
  return cells;
}

double to_number(const std::string& cell) {
  if (cell.empty()) return std::numeric_limits<double>::quiet_NaN();
  char* end = nullptr;
  const double value = std::strtod(cell.c_str(), &end);
  return *end == '\0' ? value : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

bool TrainingLog::has(const std::string& name) const {
  for (const std::string& column_name : columns)
    if (column_name == name) return true;
  return false;
}

std::vector<double> TrainingLog::column(const std::string& name) const {
  std::vector<double> values(rows.size(), std::numeric_limits<double>::quiet_NaN());
  for (size_t c = 0; c < columns.size(); ++c) {
    if (columns[c] != name) continue;
    for (size_t r = 0; r < rows.size(); ++r) values[r] = rows[r][c];
    break;
  }
  return values;
}

TrainingLog parse_training_log(const std::string& text, const std::string& source) {
  TrainingLog log;
  std::istringstream lines(text);
  std::string line;
  int line_number = 0;
  while (std::getline(lines, line)) {
    ++line_number;
    if (trim(line).empty()) continue;
    std::vector<std::string> cells = split_csv_line(line);
    if (log.columns.empty()) {
      log.columns = std::move(cells);
      continue;
    }
    if (cells.size() > log.columns.size())
      throw FormatError(source + ": line " + std::to_string(line_number) + " has " + std::to_string(cells.size()) +
                        " cells, the header has " + std::to_string(log.columns.size()));
    std::vector<double> row(log.columns.size(), std::numeric_limits<double>::quiet_NaN());
    for (size_t c = 0; c < cells.size(); ++c) row[c] = to_number(cells[c]);
    log.rows.push_back(std::move(row));
  }
  if (log.columns.empty()) throw FormatError(source + ": empty training log (no header line)");
  return log;
}

TrainingLog read_training_log(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw IoError(path + ": cannot open the training log");
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) throw IoError(path + ": read failed");
  return parse_training_log(text.str(), path);
}

}  // namespace plasmo::eval
