#include "train/history.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "engine/error.h"

namespace plasmo::train {

const char* const kClassifierColumns =
    "epoch,lr,train_loss,train_acc,val_loss,val_acc,val_sensitivity,val_specificity,images_per_s,seconds";
const char* const kPretrainColumns = "epoch,lr,train_mse,val_mse,images_per_s,seconds";

namespace {

// %.6g keeps the log readable; formatting a parsed cell again gives the same text, so a log rewritten
// from a checkpoint's history is byte-identical to the one written before.
std::string cell(double value, const char* format = "%.6g") {
  char text[40];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> cells(1);
  for (char ch : line) {
    if (ch == ',')
      cells.emplace_back();
    else if (ch != '\r')
      cells.back() += ch;
  }
  return cells;
}

double parse_cell(const std::string& text, const std::string& source, int line) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0')
    throw FormatError(source + ": history line " + std::to_string(line) + ": '" + text + "' is not a number");
  return value;
}

}  // namespace

const char* phase_name(Phase phase) { return phase == Phase::Pretrain ? "pretrain" : "classifier"; }

std::string history_csv(const std::vector<EpochRecord>& records, Phase phase) {
  std::string out = phase == Phase::Pretrain ? kPretrainColumns : kClassifierColumns;
  out += '\n';
  for (const EpochRecord& r : records) {
    if (r.phase != phase) continue;
    std::string line = std::to_string(r.epoch) + "," + cell(r.lr) + "," + cell(r.train_loss) + ",";
    if (phase == Phase::Classifier) {
      line += cell(r.train_acc) + ",";
      if (r.has_val)
        line +=
            cell(r.val_loss) + "," + cell(r.val_acc) + "," + cell(r.val_sensitivity) + "," + cell(r.val_specificity);
      else
        line += ",,,";
    } else {
      line += r.has_val ? cell(r.val_loss) : "";
    }
    line += "," + cell(r.images_per_s, "%.1f") + "," + cell(r.seconds, "%.2f");
    out += line + '\n';
  }
  return out;
}

std::vector<EpochRecord> parse_history_csv(const std::string& text, Phase phase, const std::string& source) {
  std::vector<EpochRecord> records;
  std::istringstream lines(text);
  std::string line;
  const std::string header = phase == Phase::Pretrain ? kPretrainColumns : kClassifierColumns;
  if (!std::getline(lines, line) || line != header)
    throw FormatError(source + ": the " + phase_name(phase) + " history does not start with the header '" + header +
                      "'");
  const size_t columns = split_commas(header).size();
  int line_number = 1;
  while (std::getline(lines, line)) {
    ++line_number;
    if (line.empty()) continue;
    const std::vector<std::string> cells = split_commas(line);
    if (cells.size() != columns)
      throw FormatError(source + ": history line " + std::to_string(line_number) + " has " +
                        std::to_string(cells.size()) + " cells, expected " + std::to_string(columns));
    EpochRecord r;
    r.phase = phase;
    r.epoch = static_cast<int>(parse_cell(cells[0], source, line_number));
    r.lr = parse_cell(cells[1], source, line_number);
    r.train_loss = parse_cell(cells[2], source, line_number);
    size_t next = 3;
    if (phase == Phase::Classifier) r.train_acc = parse_cell(cells[next++], source, line_number);
    r.has_val = !cells[next].empty();
    if (r.has_val) {
      r.val_loss = parse_cell(cells[next], source, line_number);
      if (phase == Phase::Classifier) {
        r.val_acc = parse_cell(cells[next + 1], source, line_number);
        r.val_sensitivity = parse_cell(cells[next + 2], source, line_number);
        r.val_specificity = parse_cell(cells[next + 3], source, line_number);
      }
    }
    next += phase == Phase::Classifier ? 4 : 1;
    r.images_per_s = parse_cell(cells[next], source, line_number);
    r.seconds = parse_cell(cells[next + 1], source, line_number);
    records.push_back(r);
  }
  return records;
}

void write_text_file_atomic(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(path + ": cannot write (" + std::strerror(errno) + ")");
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(temp.c_str());
      throw IoError(path + ": cannot write (" + why + ")");
    }
    written += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temp.c_str());
    throw IoError(path + ": cannot write (" + why + ")");
  }
}

}  // namespace plasmo::train
