#include "eval/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace plasmo::eval {

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

// The step 1, 2 or 5 x 10^k closest above span / target.
double nice_step(double span, int target) {
  const double rough = span / std::max(target, 1);
  const double power = std::pow(10.0, std::floor(std::log10(rough)));
  const double fraction = rough / power;
  const double nice = fraction <= 1.0 ? 1.0 : fraction <= 2.0 ? 2.0 : fraction <= 5.0 ? 5.0 : 10.0;
  return nice * power;
}

std::string fmt(const char* format, double value) {
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

// Pixel coordinates with one decimal: enough on screen, short in the file.
std::string px(double value) { return fmt("%.1f", value); }

std::string tick_label(double value, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, std::fabs(value) < step * 1e-6 ? 0.0 : value);
  return text;
}

struct Range {
  double low, high;
};

// The data range of one axis over all series (and markers), NaN-free; [0, 1] when there is no data.
Range data_range(const ChartSpec& spec, bool x_axis) {
  double low = INFINITY, high = -INFINITY;
  for (const ChartSeries& series : spec.series)
    for (double v : x_axis ? series.x : series.y)
      if (std::isfinite(v)) low = std::min(low, v), high = std::max(high, v);
  for (const ChartMarker& marker : spec.markers) {
    const double v = x_axis ? marker.x : marker.y;
    if (std::isfinite(v)) low = std::min(low, v), high = std::max(high, v);
  }
  if (!(low <= high)) return {0.0, 1.0};
  if (low == high) {  // one value: a unit-wide window around it
    const double half = low == 0.0 ? 0.5 : std::fabs(low) * 0.1;
    return {low - half, high + half};
  }
  return {low, high};
}

// Fixed ends where given, otherwise the data range widened to whole ticks.
Range axis_range(double fixed_low, double fixed_high, Range data) {
  Range range = {std::isnan(fixed_low) ? data.low : fixed_low, std::isnan(fixed_high) ? data.high : fixed_high};
  if (!(range.high > range.low)) range.high = range.low + 1.0;
  const double step = nice_step(range.high - range.low, 5);
  if (std::isnan(fixed_low)) range.low = std::floor(range.low / step + 1e-9) * step;
  if (std::isnan(fixed_high)) range.high = std::ceil(range.high / step - 1e-9) * step;
  return range;
}

}  // namespace

std::vector<double> nice_ticks(double low, double high, int target) {
  std::vector<double> ticks;
  if (!(high > low) || !std::isfinite(high - low)) return ticks;
  const double step = nice_step(high - low, target);
  const long long first = static_cast<long long>(std::ceil(low / step - 1e-9));
  const long long last = static_cast<long long>(std::floor(high / step + 1e-9));
  for (long long k = first; k <= last; ++k) ticks.push_back(k * step);
  return ticks;
}

std::string svg_line_chart(const ChartSpec& spec) {
  const double char_width = 6.2;  // average width of an 11 px sans-serif character, for the legend layout
  const int left = 58, right = 16, top = 30;
  // Legend rows under the x-axis label, items laid left to right and wrapped.
  struct LegendItem {
    double x;
    int row;
  };
  std::vector<LegendItem> legend;
  int rows = 0;
  {
    double x = left;
    for (const ChartSeries& series : spec.series) {
      const double item_width = 26 + char_width * series.name.size() + 14;
      if (x + item_width > spec.width - right && x > left) x = left, ++rows;
      legend.push_back({x, rows});
      x += item_width;
    }
    if (!spec.series.empty()) ++rows;
  }
  const int bottom = 42 + 18 * rows;
  const int height = spec.height;
  const double plot_w = spec.width - left - right, plot_h = height - top - bottom;
  const Range xr = axis_range(spec.x_min, spec.x_max, data_range(spec, true));
  const Range yr = axis_range(spec.y_min, spec.y_max, data_range(spec, false));
  const auto to_px_x = [&](double x) {
    return left + (std::clamp(x, xr.low, xr.high) - xr.low) / (xr.high - xr.low) * plot_w;
  };
  const auto to_px_y = [&](double y) {
    return top + plot_h - (std::clamp(y, yr.low, yr.high) - yr.low) / (yr.high - yr.low) * plot_h;
  };

  std::string svg = "<svg class=\"chart\" width=\"" + std::to_string(spec.width) + "\" height=\"" +
                    std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(spec.width) + " " +
                    std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\">\n";
  svg += "<title>" + html_escape(spec.title) + "</title>\n";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(spec.width) + "\" height=\"" + std::to_string(height) +
         "\" fill=\"#ffffff\"/>\n";
  svg += "<text x=\"" + px(left + plot_w / 2) +
         "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" + html_escape(spec.title) +
         "</text>\n";

  // Grid and tick labels.
  const double x_step = nice_step(xr.high - xr.low, 5), y_step = nice_step(yr.high - yr.low, 5);
  for (double tick : nice_ticks(xr.low, xr.high, 5)) {
    const double x = to_px_x(tick);
    svg += "<line x1=\"" + px(x) + "\" y1=\"" + px(top) + "\" x2=\"" + px(x) + "\" y2=\"" + px(top + plot_h) +
           "\" stroke=\"#e3e3e3\"/>\n";
    svg += "<text x=\"" + px(x) + "\" y=\"" + px(top + plot_h + 15) + "\" text-anchor=\"middle\" fill=\"#444\">" +
           tick_label(tick, x_step) + "</text>\n";
  }
  for (double tick : nice_ticks(yr.low, yr.high, 5)) {
    const double y = to_px_y(tick);
    svg += "<line x1=\"" + px(left) + "\" y1=\"" + px(y) + "\" x2=\"" + px(left + plot_w) + "\" y2=\"" + px(y) +
           "\" stroke=\"#e3e3e3\"/>\n";
    svg += "<text x=\"" + px(left - 6) + "\" y=\"" + px(y + 4) + "\" text-anchor=\"end\" fill=\"#444\">" +
           tick_label(tick, y_step) + "</text>\n";
  }
  svg += "<rect x=\"" + px(left) + "\" y=\"" + px(top) + "\" width=\"" + px(plot_w) + "\" height=\"" + px(plot_h) +
         "\" fill=\"none\" stroke=\"#888\"/>\n";
  svg += "<text x=\"" + px(left + plot_w / 2) + "\" y=\"" + px(top + plot_h + 32) + "\" text-anchor=\"middle\">" +
         html_escape(spec.x_label) + "</text>\n";
  svg += "<text x=\"14\" y=\"" + px(top + plot_h / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 14 " +
         px(top + plot_h / 2) + ")\">" + html_escape(spec.y_label) + "</text>\n";

  if (spec.diagonal)
    svg += "<line x1=\"" + px(to_px_x(xr.low)) + "\" y1=\"" + px(to_px_y(yr.low)) + "\" x2=\"" + px(to_px_x(xr.high)) +
           "\" y2=\"" + px(to_px_y(yr.high)) + "\" stroke=\"#aaa\" stroke-dasharray=\"4 4\"/>\n";

  // Lines: one polyline per run of finite points.
  for (const ChartSeries& series : spec.series) {
    const size_t count = std::min(series.x.size(), series.y.size());
    const std::string style = "\" fill=\"none\" stroke=\"" + html_escape(series.colour) + "\" stroke-width=\"2\"" +
                              (series.dashed ? " stroke-dasharray=\"6 3\"" : "") + "/>\n";
    std::string points;
    int in_run = 0;
    const auto flush = [&]() {
      if (in_run >= 2) svg += "<polyline points=\"" + points + style;
      points.clear(), in_run = 0;
    };
    for (size_t i = 0; i < count; ++i) {
      if (!std::isfinite(series.x[i]) || !std::isfinite(series.y[i])) {
        flush();
        continue;
      }
      if (in_run++) points += ' ';
      points += px(to_px_x(series.x[i])) + "," + px(to_px_y(series.y[i]));
    }
    flush();
    if (series.markers)
      for (size_t i = 0; i < count; ++i)
        if (std::isfinite(series.x[i]) && std::isfinite(series.y[i]))
          svg += "<circle cx=\"" + px(to_px_x(series.x[i])) + "\" cy=\"" + px(to_px_y(series.y[i])) +
                 "\" r=\"2.5\" fill=\"" + html_escape(series.colour) + "\"/>\n";
  }
  for (const ChartMarker& marker : spec.markers) {
    if (!std::isfinite(marker.x) || !std::isfinite(marker.y)) continue;
    const double x = to_px_x(marker.x), y = to_px_y(marker.y);
    svg += "<circle cx=\"" + px(x) + "\" cy=\"" + px(y) + "\" r=\"5\" fill=\"none\" stroke=\"" +
           html_escape(marker.colour) + "\" stroke-width=\"2\"/>\n";
    const bool right_half = x > left + plot_w * 0.6;
    svg += "<text x=\"" + px(right_half ? x - 9 : x + 9) + "\" y=\"" + px(y + 16) + "\" text-anchor=\"" +
           (right_half ? "end" : "start") + "\" fill=\"" + html_escape(marker.colour) + "\">" +
           html_escape(marker.label) + "</text>\n";
  }

  // Legend.
  for (size_t i = 0; i < spec.series.size(); ++i) {
    const ChartSeries& series = spec.series[i];
    const double y = top + plot_h + 50 + 18 * legend[i].row;
    svg += "<line x1=\"" + px(legend[i].x) + "\" y1=\"" + px(y - 4) + "\" x2=\"" + px(legend[i].x + 20) + "\" y2=\"" +
           px(y - 4) + "\" stroke=\"" + html_escape(series.colour) + "\" stroke-width=\"2\"" +
           (series.dashed ? " stroke-dasharray=\"6 3\"" : "") + "/>\n";
    svg += "<text x=\"" + px(legend[i].x + 26) + "\" y=\"" + px(y) + "\">" + html_escape(series.name) + "</text>\n";
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace plasmo::eval
