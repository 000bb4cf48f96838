// Line charts as inline SVG text (the report's ROC curve and training curves): axes with "nice" ticks,
// grid, lines, optional point markers, a legend. Plain SVG elements inside HTML5 (which needs no xmlns
// URL), no scripts, no external references, fixed pixel size, so any browser shows it offline.
#pragma once
#include <limits>
#include <string>
#include <vector>

namespace plasmo::eval {

struct ChartSeries {
  std::string name;          // legend text
  std::string colour;        // CSS colour, e.g. "#1f77b4"
  std::vector<double> x, y;  // same length; non-finite points break the line
  bool dashed = false;
  bool markers = false;  // a dot at every point (short series, e.g. a few epochs)
};

struct ChartMarker {  // one labelled point (the ROC operating point)
  double x, y;
  std::string label;
  std::string colour;
};

struct ChartSpec {
  std::string title, x_label, y_label;
  int width = 420, height = 320;  // pixels
  // Axis ranges; NaN = from the data (padded to nice ticks).
  double x_min = std::numeric_limits<double>::quiet_NaN(), x_max = std::numeric_limits<double>::quiet_NaN();
  double y_min = std::numeric_limits<double>::quiet_NaN(), y_max = std::numeric_limits<double>::quiet_NaN();
  bool diagonal = false;  // dashed y = x (the ROC chance line)
  std::vector<ChartSeries> series;
  std::vector<ChartMarker> markers;
};

// The <svg ...>...</svg> element.
std::string svg_line_chart(const ChartSpec& spec);

// Tick values covering [low, high] with a step of 1, 2 or 5 times a power of ten, about `target` of them.
std::vector<double> nice_ticks(double low, double high, int target = 5);

// Text for HTML / SVG content and attribute values: & < > " ' escaped.
std::string html_escape(const std::string& text);

}  // namespace plasmo::eval
