// bench/jsonl.h: the flat JSON lines bench-models writes and reads back next to tools/bench_torch.py's
// (Python's json.dumps of a flat dict). A value that does not survive the round trip would put a wrong
// number or name in the `make bench` table.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "bench/jsonl.h"

using plasmo::bench::JsonLine;
using plasmo::bench::JsonObject;
using plasmo::bench::parse_json_line;

TEST_CASE("bench jsonl: what JsonLine writes parses back to the same values") {
  const std::string text = JsonLine()
                               .add("kind", "result")
                               .add("name", "a \"quoted\" \\ name, with: commas}")
                               .add("median", 1234.5678)
                               .add("tiny", 1.5e-7)
                               .add("negative", -2.25)
                               .add("threads", 2)
                               .add("params", int64_t{11177538})
                               .add("ok", true)
                               .add("empty", "")
                               .str();
  JsonObject o;
  REQUIRE(parse_json_line(text, o));
  CHECK(o.size() == 9);
  CHECK(o["kind"] == "result");
  CHECK(o["name"] == "a \"quoted\" \\ name, with: commas}");
  CHECK(std::atof(o["median"].c_str()) == doctest::Approx(1234.5678).epsilon(1e-9));
  CHECK(std::atof(o["tiny"].c_str()) == doctest::Approx(1.5e-7).epsilon(1e-9));
  CHECK(std::atof(o["negative"].c_str()) == -2.25);
  CHECK(o["threads"] == "2");
  CHECK(o["params"] == "11177538");
  CHECK(o["ok"] == "true");
  CHECK(o["empty"] == "");
}

TEST_CASE("bench jsonl: Python's json.dumps lines parse (spaces after separators, exponents)") {
  JsonObject o;
  // A line as tools/bench_torch.py prints it.
  const std::string python =
      "{\"kind\": \"env\", \"impl\": \"pytorch\", \"mkldnn\": true, \"load1\": 8.05078125, \"tiny\": 1e-06, "
      "\"blas\": \"openblas (/usr/lib)\"}";
  REQUIRE(parse_json_line(python, o));
  CHECK(o["kind"] == "env");
  CHECK(o["impl"] == "pytorch");
  CHECK(o["mkldnn"] == "true");
  CHECK(std::atof(o["load1"].c_str()) == 8.05078125);
  CHECK(std::atof(o["tiny"].c_str()) == 1e-06);
  CHECK(o["blas"] == "openblas (/usr/lib)");
  JsonObject compact;
  REQUIRE(parse_json_line(R"({"a":1,"b":"x"})", compact));
  CHECK(compact["a"] == "1");
  CHECK(compact["b"] == "x");
  JsonObject empty;
  CHECK(parse_json_line("{}", empty));
  CHECK(empty.empty());
}

TEST_CASE("bench jsonl: other lines are rejected, not half-read as results") {
  JsonObject o;
  CHECK_FALSE(parse_json_line("bench: resnet18: plasmo", o));
  CHECK_FALSE(parse_json_line("", o));
  CHECK_FALSE(parse_json_line(R"({"kind": "result", "median": )", o));   // cut off
  CHECK_FALSE(parse_json_line(R"({"kind": "result" "median": 1})", o));  // missing comma
  CHECK_FALSE(parse_json_line(R"({"kind": "unterminated})", o));         // string never closes
  CHECK_FALSE(parse_json_line(R"({"nested": {"a": 1}})", o));            // not flat
  CHECK_FALSE(parse_json_line(R"({"list": [1, 2]})", o));                // not flat
}
