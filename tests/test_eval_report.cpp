// The metrics JSON (exact text, key order, validity for any values), the HTML report (self-contained:
// no URL to the outside, no script; well-formed; charts and data URIs present; text escaped), base64,
// chart ticks and the training-log reader.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "engine/error.h"
#include "eval/base64.h"
#include "eval/json_text.h"
#include "eval/outcome.h"
#include "eval/report_html.h"
#include "eval/report_json.h"
#include "eval/report_text.h"
#include "eval/svg_chart.h"
#include "eval/training_log.h"

using namespace plasmo;
using namespace plasmo::eval;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A strict JSON checker (RFC 8259 grammar): parse() is true when the whole text is one valid value;
// top_keys collects the keys of the outermost object in order.
class JsonChecker {
 public:
  explicit JsonChecker(const std::string& text) : text_(text) {}
  bool parse() {
    skip_space();
    if (!value(0)) return false;
    skip_space();
    return pos_ == text_.size();
  }
  std::vector<std::string> top_keys;

 private:
  bool value(int depth) {
    if (pos_ >= text_.size()) return false;
    const char c = text_[pos_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return string(nullptr);
    if (literal("true") || literal("false") || literal("null")) return true;
    return number();
  }
  bool object(int depth) {
    return elements('}', [&] {
      std::string key;
      if (!string(&key)) return false;
      if (depth == 0) top_keys.push_back(key);
      skip_space();
      if (!accept(':')) return false;
      skip_space();
      return value(depth + 1);
    });
  }
  bool array(int depth) {
    return elements(']', [&] { return value(depth + 1); });
  }
  // An object's or array's body after its opening bracket: `close` at once, or `element`s separated by
  // commas and then `close`, white space allowed around each.
  template <class Element>
  bool elements(char close, const Element& element) {
    ++pos_;
    skip_space();
    if (accept(close)) return true;
    for (;;) {
      skip_space();
      if (!element()) return false;
      skip_space();
      if (accept(',')) continue;
      return accept(close);
    }
  }
  bool string(std::string* out) {
    if (!accept('"')) return false;
    while (pos_ < text_.size()) {
      const unsigned char c = static_cast<unsigned char>(text_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c == '\\') {
        if (pos_ >= text_.size()) return false;
        const char e = text_[pos_++];
        if (e == 'u') {
          for (int k = 0; k < 4; ++k)
            if (pos_ >= text_.size() || !std::isxdigit(static_cast<unsigned char>(text_[pos_++]))) return false;
        } else if (std::string("\"\\/bfnrt").find(e) == std::string::npos) {
          return false;
        }
        if (out) *out += '?';
        continue;
      }
      if (out) *out += static_cast<char>(c);
    }
    return false;
  }
  bool number() {
    const size_t start = pos_;
    accept('-');
    if (!accept('0') && digits() == 0) return false;
    if (accept('.') && digits() == 0) return false;
    if (accept('e') || accept('E')) {
      if (!accept('+')) accept('-');
      if (digits() == 0) return false;
    }
    return pos_ > start;
  }
  int digits() {
    int count = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_, ++count;
    return count;
  }
  bool literal(const char* word) {
    const std::string w(word);
    if (text_.compare(pos_, w.size(), w) != 0) return false;
    pos_ += w.size();
    return true;
  }
  bool peek(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  // Steps over c when it comes next.
  bool accept(char c) {
    if (!peek(c)) return false;
    ++pos_;
    return true;
  }
  void skip_space() {
    while (pos_ < text_.size() && std::string(" \t\n\r").find(text_[pos_]) != std::string::npos) ++pos_;
  }
  const std::string& text_;
  size_t pos_ = 0;
};

bool valid_json(const std::string& text) { return JsonChecker(text).parse(); }

// A hand-set outcome: the writer is checked on its own, apart from the metric computations.
EvalOutcome hand_outcome() {
  EvalOutcome o;
  o.model_path = "models/ae.safetensors";
  o.data_path = "cells";
  o.arch = "autoencoder";
  o.input_size = 32;
  o.metrics.n = 4131;
  o.metrics.accuracy = 0.97;
  o.metrics.precision = 0.96;
  o.metrics.sensitivity = 0.98;
  o.metrics.specificity = 0.96;
  o.metrics.f1 = 0.97;
  o.metrics.auc = 0.99;
  o.metrics.loss = 0.08;
  o.metrics.threshold = 0.5;
  o.metrics.confusion = {2024, 83, 1982, 42};
  o.skipped = 1;
  o.seconds = 1.2;
  return o;
}

bool fail(std::string* problem, const std::string& why) {
  *problem = why;
  return false;
}

// True when every element opened is closed in order (void elements and "/>" excepted): catches a
// forgotten </td> or </div> that a browser would silently repair.
bool balanced_html(const std::string& html, std::string* problem) {
  static const std::vector<std::string> kVoid = {"meta", "img", "br", "hr", "input", "link"};
  std::vector<std::string> open;
  for (size_t pos = html.find('<'); pos != std::string::npos; pos = html.find('<', pos + 1)) {
    if (html.compare(pos, 2, "<!") == 0) continue;
    const size_t end = html.find('>', pos);
    if (end == std::string::npos) return fail(problem, "unterminated tag");
    const bool closing = html[pos + 1] == '/';
    size_t name_begin = pos + (closing ? 2 : 1), name_end = name_begin;
    while (name_end < end && (std::isalnum(static_cast<unsigned char>(html[name_end])))) ++name_end;
    const std::string name = html.substr(name_begin, name_end - name_begin);
    if (name.empty()) return fail(problem, "bad tag at " + std::to_string(pos));
    if (closing) {
      if (open.empty() || open.back() != name)
        return fail(problem, "</" + name + "> closes <" + (open.empty() ? "" : open.back()) + ">");
      open.pop_back();
    } else if (html[end - 1] != '/' && std::find(kVoid.begin(), kVoid.end(), name) == kVoid.end()) {
      open.push_back(name);
    }
  }
  if (!open.empty()) return fail(problem, "<" + open.back() + "> never closed");
  return true;
}

EvalOutcome computed_outcome() {
  EvalOutcome o;
  o.model_path = "build/demo/autoencoder.safetensors";
  o.data_path = "build/demo/cells";
  o.arch = "autoencoder";
  o.input_size = 32;
  const double p[] = {0.9, 0.8, 0.6, 0.4, 0.3, 0.7, 0.5, 0.2, 0.1, 0.05};
  const char* patients[] = {"C1P1", "C1P1", "C2P2", "C2P2", "C3P3", "C1P1", "C4P4", "C4P4", "C3P3", "C4P4"};
  for (int i = 0; i < 10; ++i)
    o.images.push_back(
        {"cells/" + std::string(i < 5 ? "Parasitized" : "Uninfected") + "/x" + std::to_string(i) + ".png", patients[i],
         i < 5 ? 1 : 0, p[i]});
  compute_outcome_metrics(o, 0.55);
  o.skipped = 1;
  o.seconds = 0.25;
  return o;
}

}  // namespace

TEST_CASE("Eval JSON numbers and strings: shortest round trip, null for NaN/Inf, escapes") {
  CHECK(json_number(0.97) == "0.97");
  CHECK(json_number(1.0) == "1");
  CHECK(json_number(0.0) == "0");
  CHECK(json_number(-0.0) == "0");
  CHECK(json_number(1e-5) == "1e-05");
  CHECK(json_number(2.0 / 3.0) == "0.6666666666666666");
  CHECK(json_number(kNaN) == "null");
  CHECK(json_number(INFINITY) == "null");
  CHECK(json_number(-INFINITY) == "null");
  CHECK(json_number(int64_t{-42}) == "-42");
  for (double v : {0.1, 1.0 / 3.0, 123456.789e10, 5e-324, 1.7976931348623157e308, -2.5e-7})
    CHECK(std::strtod(json_number(v).c_str(), nullptr) == v);
  CHECK(json_string("a\"b\\c\nd\te\x01") == "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
  CHECK(json_string("caf\xc3\xa9") == "\"caf\xc3\xa9\"");             // valid UTF-8 kept
  CHECK(json_string("bad\xff\xc3") == "\"bad\\ufffd\\ufffd\"");       // invalid bytes replaced
  CHECK(json_string("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");  // a UTF-16 surrogate is not UTF-8
  CHECK(valid_json(json_string(std::string("x\0y\x7f", 4))));
}

TEST_CASE("Eval metrics JSON: exact text of the DESIGN.md keys, in order") {
  const std::string json = metrics_json(hand_outcome());
  const std::string expected =
      "{\"n\": 4131, \"accuracy\": 0.97, \"precision\": 0.96, \"sensitivity\": 0.98, \"specificity\": 0.96,\n"
      " \"f1\": 0.97, \"auc\": 0.99, \"loss\": 0.08, \"threshold\": 0.5,\n"
      " \"confusion\": {\"tp\": 2024, \"fp\": 83, \"tn\": 1982, \"fn\": 42}, \"skipped\": 1, \"seconds\": 1.2,\n"
      " \"model\": \"models/ae.safetensors\", \"data\": \"cells\", \"arch\": \"autoencoder\", \"input\": 32, "
      "\"tta\": false,\n"
      " \"patients\": {\"patients\": 0, \"infected\": 0, \"healthy\": 0, \"macro_accuracy\": 0, "
      "\"macro_sensitivity\": 0, \"macro_specificity\": 0, \"worst_accuracy\": 0, \"worst_patient\": \"\", "
      "\"infected_flagged\": 0, \"healthy_clear\": 0, \"flag_sensitivity\": 0, \"flag_specificity\": 0},\n"
      " \"per_patient\": []}\n";
  CHECK(json == expected);
  JsonChecker checker(json);
  REQUIRE(checker.parse());
  const std::vector<std::string> design_keys = {"n",           "accuracy",  "precision", "sensitivity",
                                                "specificity", "f1",        "auc",       "loss",
                                                "threshold",   "confusion", "skipped",   "seconds"};
  REQUIRE(checker.top_keys.size() >= design_keys.size());
  for (size_t i = 0; i < design_keys.size(); ++i) CHECK(checker.top_keys[i] == design_keys[i]);
}

TEST_CASE("Eval metrics JSON: valid for undefined values, per-patient rows, odd names") {
  EvalOutcome o = hand_outcome();
  o.metrics.precision = kNaN;
  o.metrics.auc = kNaN;
  o.metrics.loss = INFINITY;
  o.target_sensitivity = 0.95;
  o.tta = true;
  o.model_path = "we\"ird\\name\n.safetensors";
  o.images = {{"a.png", "P\"1", 1, 0.9}, {"b.png", "P2", 0, 0.2}, {"c.png", "P2", 0, 0.7}};
  o.patients = per_patient(o.scored(), o.patient_ids(), 0.5);
  o.patient_summary = summarize_patients(o.patients);
  const std::string json = metrics_json(o);
  JsonChecker checker(json);
  CHECK(checker.parse());
  CHECK(json.find("\"precision\": null") != std::string::npos);
  CHECK(json.find("\"auc\": null") != std::string::npos);
  CHECK(json.find("\"loss\": null") != std::string::npos);
  CHECK(json.find("\"tta\": true, \"target_sensitivity\": 0.95") != std::string::npos);
  CHECK(json.find("nan") == std::string::npos);
  CHECK(json.find(": inf") == std::string::npos);
  CHECK(json.find(": -inf") == std::string::npos);
  // Patient P2 is healthy: its sensitivity is undefined -> null.
  CHECK(json.find("{\"patient\": \"P2\", \"n\": 2, \"parasitized\": 0, \"uninfected\": 2, \"accuracy\": 0.5, "
                  "\"sensitivity\": null, \"specificity\": 0.5") != std::string::npos);
  CHECK(checker.top_keys.back() == "per_patient");
}

TEST_CASE("Eval base64: RFC 4648 test vectors") {
  const auto b64 = [](const std::string& s) {
    return base64_encode(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  CHECK(b64("") == "");
  CHECK(b64("f") == "Zg==");
  CHECK(b64("fo") == "Zm8=");
  CHECK(b64("foo") == "Zm9v");
  CHECK(b64("foob") == "Zm9vYg==");
  CHECK(b64("fooba") == "Zm9vYmE=");
  CHECK(b64("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::vector<uint8_t>{0xff, 0xfe, 0x00}) == "//4A");
}

TEST_CASE("Eval chart ticks: 1-2-5 steps covering the range") {
  const std::vector<double> unit = nice_ticks(0.0, 1.0);
  REQUIRE(unit.size() == 6);
  CHECK(unit[1] == doctest::Approx(0.2));
  CHECK(unit[5] == doctest::Approx(1.0));
  const std::vector<double> epochs = nice_ticks(1.0, 30.0);  // 29 / 5 = 5.8 -> step 10
  REQUIRE(epochs.size() == 3);
  CHECK(epochs.front() == doctest::Approx(10.0));
  CHECK(epochs.back() == doctest::Approx(30.0));
  const std::vector<double> centred = nice_ticks(-0.5, 0.5);  // 1 / 5 = 0.2: -0.4 -0.2 0 0.2 0.4
  REQUIRE(centred.size() == 5);
  CHECK(centred[2] == 0.0);
  CHECK(nice_ticks(0.8, 1.0).size() == 5);  // 0.80 0.85 0.90 0.95 1.00
  CHECK(nice_ticks(1.0, 1.0).empty());
  CHECK(nice_ticks(kNaN, 1.0).empty());
}

TEST_CASE("Eval chart: SVG without NaN text for gaps, one value or no data") {
  ChartSpec spec;
  spec.title = "t <&>";
  spec.series.push_back({"a", "#123456", {1, 2, 3, 4}, {0.5, kNaN, 0.7, 0.8}, false, true});
  spec.series.push_back({"flat", "#654321", {1}, {2}, true, false});
  const std::string svg = svg_line_chart(spec);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
  CHECK(svg.find("t &lt;&amp;&gt;") != std::string::npos);
  CHECK(svg.find("<polyline") != std::string::npos);  // the run 0.7, 0.8 after the gap
  std::string problem;
  CHECK_MESSAGE(balanced_html(svg, &problem), problem);
  ChartSpec empty;
  const std::string empty_svg = svg_line_chart(empty);
  CHECK(empty_svg.find("nan") == std::string::npos);
}

TEST_CASE("Eval training log: columns by name, quotes, CRLF, gaps, errors") {
  const std::string text =
      "epoch,lr,train_loss,train_acc,val_loss,val_acc,val_sensitivity,val_specificity,images_per_s,seconds\r\n"
      "1,0.001,0.69,0.51,0.68,0.55,0.6,0.5,1200,3.5\r\n"
      "\r\n"
      "2,\"0.001\",0.40,0.85,,0.88,0.9,0.86,1210,7.1\r\n";
  const TrainingLog log = parse_training_log(text, "train.csv");
  REQUIRE(log.rows.size() == 2);
  CHECK(log.columns.size() == 10);
  CHECK(log.has("val_specificity"));
  CHECK(log.column("epoch") == std::vector<double>{1, 2});
  CHECK(log.column("lr")[1] == 0.001);
  CHECK(std::isnan(log.column("val_loss")[1]));  // empty cell
  CHECK(log.column("seconds")[1] == 7.1);
  const std::vector<double> absent = log.column("phase");
  CHECK(absent.size() == 2);
  CHECK(std::isnan(absent[0]));
  // Reordered columns and a short row.
  const TrainingLog other = parse_training_log("val_acc,epoch\n0.9,3\n0.8\n", "x.csv");
  CHECK(other.column("epoch")[0] == 3);
  CHECK(std::isnan(other.column("epoch")[1]));
  CHECK_THROWS_AS(parse_training_log("", "empty.csv"), FormatError);
  CHECK_THROWS_AS(parse_training_log("a,b\n1,2,3\n", "wide.csv"), FormatError);
  CHECK_THROWS_AS(read_training_log("/nonexistent/plasmo/train.csv"), IoError);
}

TEST_CASE("Eval HTML report: self-contained, well-formed, charts, data URIs, escaped text") {
  const EvalOutcome outcome = computed_outcome();
  const TrainingLog log = parse_training_log(
      "epoch,lr,train_loss,train_acc,val_loss,val_acc,val_sensitivity,val_specificity,images_per_s,seconds\n"
      "1,0.001,0.69,0.51,0.68,0.55,0.6,0.5,1200,3.5\n2,0.001,0.40,0.85,0.45,0.88,0.9,0.86,1210,7.1\n"
      "3,0.0005,0.30,0.90,0.35,0.91,0.93,0.89,1190,10.6\n",
      "train.csv");
  ReportInputs inputs;
  inputs.outcome = &outcome;
  inputs.training_log = &log;
  inputs.training_log_path = "train.csv";
  GalleryCell cell;
  cell.path = "cells/Uninfected/<b>&x.png";
  cell.patient = "C1P1";
  cell.label = 0;
  cell.p = 0.7;
  cell.method = "Grad-CAM";
  cell.cell_png = {0x89, 'P', 'N', 'G', 1, 2, 3};
  cell.heat_png = {0x89, 'P', 'N', 'G', 4, 5, 6};
  inputs.misclassified = {cell};
  inputs.misclassified_total = 3;
  inputs.skipped = {{"cells/Parasitized/broken.png", "truncated or corrupt PNG/JPEG data"}};
  const std::string html = report_html(inputs);

  CHECK(html.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0) == 0);
  CHECK(html.find("<meta charset=\"utf-8\">") != std::string::npos);
  // Nothing outside the file: no URL scheme, no protocol-relative reference, no script or stylesheet link.
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("src=\"//") == std::string::npos);
  CHECK(html.find("href=") == std::string::npos);
  CHECK(html.find("url(") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find("<iframe") == std::string::npos);
  // Every src is a data URI.
  size_t sources = 0;
  for (size_t pos = html.find("src=\""); pos != std::string::npos; pos = html.find("src=\"", pos + 1), ++sources)
    CHECK(html.compare(pos, 27, "src=\"data:image/png;base64,") == 0);
  CHECK(sources == 2);
  CHECK(html.find("src=\"data:image/png;base64," + base64_encode(cell.cell_png) + "\"") != std::string::npos);
  CHECK(html.find("src=\"data:image/png;base64," + base64_encode(cell.heat_png) + "\"") != std::string::npos);
  // ROC (full and zoomed) and the two training charts.
  size_t charts = 0;
  for (size_t pos = html.find("<svg"); pos != std::string::npos; pos = html.find("<svg", pos + 1)) ++charts;
  CHECK(charts == 4);
  CHECK(html.find("ROC curve (AUC 0.8000)") != std::string::npos);
  // The figures of computed_outcome() at 0.55: accuracy 7/10, sensitivity 3/5, specificity 4/5.
  CHECK(html.find("<td class=\"l\">accuracy</td><td>70.00%</td>") != std::string::npos);
  CHECK(html.find("<td class=\"l\">sensitivity (recall)</td><td>60.00%</td>") != std::string::npos);
  CHECK(html.find("<td class=\"l\">specificity</td><td>80.00%</td>") != std::string::npos);
  CHECK(html.find("1 of 3 misclassified cells") != std::string::npos);
  CHECK(html.find("C4P4") != std::string::npos);
  CHECK(html.find("&lt;b&gt;&amp;x.png") != std::string::npos);  // escaped, not markup
  CHECK(html.find("<b>&x") == std::string::npos);
  CHECK(html.find("broken.png: truncated or corrupt") != std::string::npos);
  CHECK(html.find("nan") == std::string::npos);
  std::string problem;
  CHECK_MESSAGE(balanced_html(html, &problem), problem);
  CHECK(html.size() > 5000);
  CHECK(html.substr(html.size() - 8) == "</html>\n");
}

TEST_CASE("Eval HTML report: one class only, no log, no mistakes, nothing undefined printed as nan") {
  EvalOutcome outcome;
  outcome.model_path = "m.safetensors";
  outcome.images = {{"a.png", "P1", 0, 0.1}, {"b.png", "P1", 0, 0.2}};
  compute_outcome_metrics(outcome, 0.5);
  ReportInputs inputs;
  inputs.outcome = &outcome;
  const std::string html = report_html(inputs);
  CHECK(html.find("only one class") != std::string::npos);
  CHECK(html.find("No training log given") != std::string::npos);
  CHECK(html.find("None: every cell was classified correctly") != std::string::npos);
  CHECK(html.find("n/a") != std::string::npos);  // sensitivity, precision, AUC
  CHECK(html.find("nan") == std::string::npos);
  std::string problem;
  CHECK_MESSAGE(balanced_html(html, &problem), problem);
  CHECK_THROWS_AS(report_html(ReportInputs{}), UsageError);
}

TEST_CASE("Eval stdout table: figures, confusion matrix, patients; n/a for undefined") {
  const EvalOutcome outcome = computed_outcome();
  const std::string table = metrics_table(outcome);
  CHECK(table.find("images       10 (5 Parasitized, 5 Uninfected), 1 skipped\n") != std::string::npos);
  CHECK(table.find("threshold    0.55\n") != std::string::npos);
  CHECK(table.find("accuracy     70.00%\n") != std::string::npos);
  CHECK(table.find("sensitivity  60.00%\n") != std::string::npos);
  CHECK(table.find("specificity  80.00%\n") != std::string::npos);
  CHECK(table.find("precision    75.00%\n") != std::string::npos);
  CHECK(table.find("F1           0.6667\n") != std::string::npos);
  CHECK(table.find("AUC          0.8000\n") != std::string::npos);
  CHECK(table.find("actual Parasitized                        3                      2\n") != std::string::npos);
  CHECK(table.find("actual Uninfected                         1                      4\n") != std::string::npos);
  CHECK(table.find("patients     4 (3 with Parasitized cells, 1 healthy)") != std::string::npos);
  EvalOutcome one_class;
  one_class.images = {{"a.png", "P1", 0, 0.1}};
  compute_outcome_metrics(one_class, 0.5);
  one_class.target_sensitivity = 0.9;
  const std::string undefined = metrics_table(one_class);
  CHECK(undefined.find("sensitivity  n/a\n") != std::string::npos);
  CHECK(undefined.find("AUC          n/a\n") != std::string::npos);
  CHECK(undefined.find("(the highest with sensitivity >= 0.9 on this data)") != std::string::npos);
  CHECK(undefined.find("nan") == std::string::npos);
}
