// The model file (engine/io): safetensors reading, writing and refusing, and named state save/load.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/io/crc32.h"
#include "engine/io/safetensors.h"
#include "engine/io/state.h"
#include "engine/layer.h"
#include "engine/tensor.h"

using namespace plasmo;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "plasmo-io-XXXXXX").string();
    REQUIRE(::mkdtemp(&pattern[0]) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ignored);
    fs::remove_all(path, ignored);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

template <class T>
void append_le(Bytes& out, const std::vector<T>& values) {
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(values.data());
  out.insert(out.end(), bytes, bytes + values.size() * sizeof(T));
}

// A file from a header text and a data section, laid out as the reference writer does: 8-byte length,
// the JSON padded with spaces to a multiple of 8 (when `pad`), the data.
Bytes make_file(std::string json, const Bytes& data, bool pad = true) {
  if (pad) json.append((8 - json.size() % 8) % 8, ' ');
  Bytes out(8);
  uint64_t size = json.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<uint8_t>(size >> (8 * i));
  out.insert(out.end(), json.begin(), json.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The message of the FormatError that `action` throws ("" and a failed check when it throws nothing
// or something else).
std::string format_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const FormatError& error) {
    return error.what();
  } catch (const std::exception& error) {
    FAIL_CHECK("expected a FormatError, got: " << error.what());
    return "";
  }
  FAIL_CHECK("expected a FormatError, nothing was thrown");
  return "";
}

std::string parse_error(const Bytes& bytes) {
  return format_error([&] { SafetensorsFile::parse(bytes.data(), bytes.size(), "mem.safetensors"); });
}

// The file the reference implementation (Python `safetensors.torch.save_file`, metadata {"format": "pt"})
// writes for: bn.num_batches_tracked = int64 5; fc.weight = [[1, -2], [0.5, 3]] float32;
// half.bf16 = [1, -3.5, 3.140625] bfloat16; half.f16 = [[1, -2, 0.5], [65504, 2^-24, -inf]] float16.
// Data order: dtype alignment descending (I64, F32, BF16, F16), then name.
const char* const kPythonHeader =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
    "\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]},"
    "\"half.bf16\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[24,30]},"
    "\"half.f16\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[30,42]}}";

Bytes python_file() {
  Bytes data;
  append_le<int64_t>(data, {5});
  append_le<float>(data, {1.0f, -2.0f, 0.5f, 3.0f});
  append_le<uint16_t>(data, {0x3F80, 0xC060, 0x4049});
  append_le<uint16_t>(data, {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0xFC00});
  return make_file(kPythonHeader, data);
}

// A small valid file written by plasmo: F32 matrix, F32 scalar, empty F32, I64 scalar, metadata.
Bytes small_plasmo_file() {
  std::vector<float> weight = {0.25f, -1.5f, 3.0f, 4.5f, -0.125f, 6.0f};
  float scalar = 2.5f;
  int64_t steps = 42;
  std::vector<TensorSource> tensors = {
      {"fc.weight", DType::F32, {2, 3}, weight.data()},
      {"temperature", DType::F32, {}, &scalar},
      {"empty", DType::F32, {0, 4}, nullptr},
      {"bn.num_batches_tracked", DType::I64, {}, &steps},
  };
  return encode_safetensors(tensors, {{"format", "plasmo"}, {"arch", "autoencoder"}});
}

// Tensors for state tests: a fake network with two params, a float buffer and an int64 buffer.
struct FakeNet {
  Tensor weight{Shape{3, 2}}, weight_grad{Shape{3, 2}};
  Tensor bias{Shape{3}}, bias_grad{Shape{3}};
  Tensor running_mean{Shape{3}};
  int64_t batches = 0;
  std::vector<Param> params() { return {{"fc.weight", &weight, &weight_grad}, {"fc.bias", &bias, &bias_grad}}; }
  std::vector<Buffer> buffers() {
    Buffer mean{"bn.running_mean", &running_mean, nullptr};
    Buffer count{"bn.num_batches_tracked", nullptr, &batches};
    return {mean, count};
  }
  void fill(float base) {
    for (size_t i = 0; i < weight.size(); ++i) weight[i] = base + static_cast<float>(i);
    for (size_t i = 0; i < bias.size(); ++i) bias[i] = -base - static_cast<float>(i);
    for (size_t i = 0; i < running_mean.size(); ++i) running_mean[i] = base * 0.5f + static_cast<float>(i);
    batches = static_cast<int64_t>(base * 1000);
  }
  bool same_as(const FakeNet& other) const {
    return std::memcmp(weight.data(), other.weight.data(), weight.size() * 4) == 0 &&
           std::memcmp(bias.data(), other.bias.data(), bias.size() * 4) == 0 &&
           std::memcmp(running_mean.data(), other.running_mean.data(), running_mean.size() * 4) == 0 &&
           batches == other.batches;
  }
};

}  // namespace

TEST_CASE("Safetensors: round trip of F32, I64, metadata, empty tensors and scalars") {
  Bytes bytes = small_plasmo_file();
  SafetensorsFile file = SafetensorsFile::parse(bytes.data(), bytes.size(), "mem");
  CHECK(file.metadata().at("format") == "plasmo");
  CHECK(file.metadata().at("arch") == "autoencoder");
  CHECK(file.metadata().at("crc32").size() == 8);
  REQUIRE(file.tensors().size() == 4);
  // Data order: I64 first (8-byte alignment), then F32 by name.
  CHECK(file.tensors()[0].name == "bn.num_batches_tracked");
  CHECK(file.tensors()[1].name == "empty");
  CHECK(file.tensors()[2].name == "fc.weight");
  CHECK(file.tensors()[3].name == "temperature");
  // 8 + header is a multiple of 8, so every tensor is aligned to its element size.
  const size_t data_start = 8 + static_cast<size_t>(bytes[0] | bytes[1] << 8);
  CHECK(data_start % 8 == 0);
  for (const TensorInfo& info : file.tensors()) CHECK((data_start + info.begin) % dtype_size(info.dtype) == 0);

  const TensorInfo* weight = file.find("fc.weight");
  REQUIRE(weight != nullptr);
  CHECK(weight->dtype == DType::F32);
  CHECK(weight->shape == std::vector<int64_t>{2, 3});
  std::vector<float> values(6);
  file.read_f32(*weight, values.data());
  CHECK(values == std::vector<float>{0.25f, -1.5f, 3.0f, 4.5f, -0.125f, 6.0f});

  const TensorInfo* scalar = file.find("temperature");
  REQUIRE(scalar != nullptr);
  CHECK(scalar->shape.empty());
  CHECK(scalar->numel() == 1);
  float temperature = 0;
  file.read_f32(*scalar, &temperature);
  CHECK(temperature == 2.5f);

  const TensorInfo* empty = file.find("empty");
  REQUIRE(empty != nullptr);
  CHECK(empty->shape == std::vector<int64_t>{0, 4});
  CHECK(empty->numel() == 0);
  CHECK(empty->begin == empty->end);

  const TensorInfo* steps = file.find("bn.num_batches_tracked");
  REQUIRE(steps != nullptr);
  CHECK(steps->dtype == DType::I64);
  int64_t count = 0;
  file.read_i64(*steps, &count);
  CHECK(count == 42);
  CHECK(file.find("missing") == nullptr);
  // Reading with the wrong kind of target is refused, naming the tensor.
  CHECK(format_error([&] { file.read_i64(*weight, &count); }).find("'fc.weight'") != std::string::npos);
  CHECK(format_error([&] { file.read_f32(*steps, values.data()); }).find("I64") != std::string::npos);

  // The same through a file on disk.
  TempDir dir;
  std::vector<float> weight_values = {0.25f, -1.5f, 3.0f, 4.5f, -0.125f, 6.0f};
  float scalar_value = 2.5f;
  int64_t steps_value = 42;
  write_safetensors(dir.file("m.safetensors"),
                    {{"fc.weight", DType::F32, {2, 3}, weight_values.data()},
                     {"temperature", DType::F32, {}, &scalar_value},
                     {"empty", DType::F32, {0, 4}, nullptr},
                     {"bn.num_batches_tracked", DType::I64, {}, &steps_value}},
                    {{"format", "plasmo"}, {"arch", "autoencoder"}});
  CHECK(read_bytes(dir.file("m.safetensors")) == bytes);
  SafetensorsFile from_disk = SafetensorsFile::read(dir.file("m.safetensors"));
  CHECK(from_disk.source() == dir.file("m.safetensors"));
  CHECK(from_disk.tensors().size() == 4);
}

TEST_CASE("Safetensors: the writer lays out bytes as the reference implementation") {
  std::vector<float> b = {1.0f, 2.0f};
  int64_t a = 7;
  Bytes bytes =
      encode_safetensors({{"b", DType::F32, {2}, b.data()}, {"a", DType::I64, {}, &a}}, {{"format", "plasmo"}});
  // crc32 of the 16 data bytes (07 00.. 00, 1.0f, 2.0f), computed with Python's zlib.crc32.
  Bytes data;
  append_le<int64_t>(data, {7});
  append_le<float>(data, {1.0f, 2.0f});
  Bytes expected = make_file(
      "{\"__metadata__\":{\"crc32\":\"5a5fc93f\",\"format\":\"plasmo\"},"
      "\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
      data);
  CHECK(bytes == expected);
  CHECK((bytes.size() - data.size()) % 8 == 0);
  // A caller's crc32 is replaced by the true one.
  Bytes again = encode_safetensors({{"b", DType::F32, {2}, b.data()}, {"a", DType::I64, {}, &a}},
                                   {{"format", "plasmo"}, {"crc32", "00000000"}});
  CHECK(again == expected);
}

TEST_CASE("Safetensors: a file laid out by Python's safetensors reads back, F16 and BF16 widened") {
  Bytes bytes = python_file();
  SafetensorsFile file = SafetensorsFile::parse(bytes.data(), bytes.size(), "python.safetensors");
  CHECK(file.metadata() == Metadata{{"format", "pt"}});  // no crc32: not checked, accepted
  REQUIRE(file.tensors().size() == 4);

  int64_t batches = 0;
  file.read_i64(*file.find("bn.num_batches_tracked"), &batches);
  CHECK(batches == 5);

  std::vector<float> weight(4);
  file.read_f32(*file.find("fc.weight"), weight.data());
  CHECK(weight == std::vector<float>{1.0f, -2.0f, 0.5f, 3.0f});

  const TensorInfo* bf16 = file.find("half.bf16");
  REQUIRE(bf16 != nullptr);
  CHECK(bf16->dtype == DType::BF16);
  std::vector<float> brain(3);
  file.read_f32(*bf16, brain.data());
  CHECK(brain == std::vector<float>{1.0f, -3.5f, 3.140625f});

  const TensorInfo* f16 = file.find("half.f16");
  REQUIRE(f16 != nullptr);
  CHECK(f16->dtype == DType::F16);
  CHECK(f16->shape == std::vector<int64_t>{2, 3});
  std::vector<float> half(6);
  file.read_f32(*f16, half.data());
  CHECK(half[0] == 1.0f);
  CHECK(half[1] == -2.0f);
  CHECK(half[2] == 0.5f);
  CHECK(half[3] == 65504.0f);               // largest half
  CHECK(half[4] == std::ldexp(1.0f, -24));  // smallest subnormal half
  CHECK(std::isinf(half[5]));
  CHECK(half[5] < 0);

  // Through load_state and read_tensor_map from disk.
  TempDir dir;
  write_bytes(dir.file("python.safetensors"), bytes);
  TensorMap map = read_tensor_map(dir.file("python.safetensors"));
  CHECK(map.metadata.at("format") == "pt");
  CHECK(map.f32.at("half.f16").shape() == Shape{2, 3});
  CHECK(map.f32.at("half.f16")[3] == 65504.0f);
  CHECK(map.f32.at("half.bf16")[1] == -3.5f);
  CHECK(map.i64.at("bn.num_batches_tracked").values == std::vector<int64_t>{5});
  CHECK(map.i64.at("bn.num_batches_tracked").shape.empty());
}

TEST_CASE("Safetensors: F16 widening covers every class of value") {
  // Each half bit pattern against its value (exact in float).
  struct Case {
    uint16_t bits;
    float value;
  };
  const Case cases[] = {{0x0000, 0.0f},
                        {0x3C00, 1.0f},
                        {0x3555, 0.333251953125f},
                        {0x0400, 6.103515625e-05f},
                        {0x03FF, 6.097555160522461e-05f},
                        {0x8001, -5.960464477539063e-08f},
                        {0x7BFF, 65504.0f},
                        {0xC400, -4.0f},
                        {0x3BFF, 0.99951171875f}};
  Bytes data;
  std::string json = "{";
  uint64_t offset = 0;
  int index = 0;
  for (const Case& item : cases) {
    append_le<uint16_t>(data, {item.bits});
    if (index) json += ",";
    json += "\"t" + std::to_string(index++) + "\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[" +
            std::to_string(offset) + "," + std::to_string(offset + 2) + "]}";
    offset += 2;
  }
  append_le<uint16_t>(data, {0x7E00, 0x8000});
  json += ",\"nan\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[" + std::to_string(offset) + "," +
          std::to_string(offset + 4) + "]}}";
  Bytes bytes = make_file(json, data);
  SafetensorsFile file = SafetensorsFile::parse(bytes.data(), bytes.size(), "f16");
  index = 0;
  for (const Case& item : cases) {
    float value = -1;
    file.read_f32(*file.find("t" + std::to_string(index++)), &value);
    CHECK(value == item.value);
  }
  float pair[2];
  file.read_f32(*file.find("nan"), pair);
  CHECK(std::isnan(pair[0]));
  CHECK(pair[1] == 0.0f);
  CHECK(std::signbit(pair[1]));
}

TEST_CASE("Safetensors: every byte-truncation of a small valid file is refused") {
  for (const Bytes& whole : {small_plasmo_file(), python_file()}) {
    REQUIRE_NOTHROW(SafetensorsFile::parse(whole.data(), whole.size(), "whole"));
    for (size_t size = 0; size < whole.size(); ++size) {
      CAPTURE(size);
      std::string message = format_error([&] { SafetensorsFile::parse(whole.data(), size, "cut.safetensors"); });
      CHECK(message.rfind("cut.safetensors: ", 0) == 0);
    }
  }
  // From disk through load_state: nothing is loaded from a refused file.
  TempDir dir;
  FakeNet saved, target;
  saved.fill(1.0f);
  save_state(dir.file("full.safetensors"), saved.params(), saved.buffers());
  Bytes whole = read_bytes(dir.file("full.safetensors"));
  target.fill(-7.0f);
  FakeNet untouched;
  untouched.fill(-7.0f);
  for (size_t size = 0; size < whole.size(); ++size) {
    CAPTURE(size);
    write_bytes(dir.file("cut.safetensors"), Bytes(whole.begin(), whole.begin() + static_cast<long>(size)));
    std::string message =
        format_error([&] { load_state(dir.file("cut.safetensors"), target.params(), target.buffers()); });
    CHECK(message.find("cut.safetensors") != std::string::npos);
    REQUIRE(target.same_as(untouched));
  }
  load_state(dir.file("full.safetensors"), target.params(), target.buffers());
  CHECK(target.same_as(saved));
}

TEST_CASE("Safetensors: inconsistent files are refused, naming the file and the problem") {
  Bytes data8(8, 0);
  auto one = [](const std::string& entry) { return "{\"t\":" + entry + "}"; };
  struct Case {
    const char* what;
    Bytes bytes;
    const char* expected;  // a piece of the message
  };
  std::vector<Case> cases = {
      {"unknown dtype", make_file(one("{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}"), data8),
       "unsupported dtype 'F64'"},
      {"dtype in lower case", make_file(one("{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}"), data8),
       "unsupported dtype 'f32'"},
      {"shape and offsets disagree", make_file(one("{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}"), data8),
       "needs 12 bytes"},
      {"wrong dtype for the size", make_file(one("{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}"), data8),
       "needs 4 bytes"},
      {"offsets end before they begin",
       make_file(one("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}"), data8), "end before they begin"},
      {"overlapping offsets",
       make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                 Bytes(12, 0)),
       "overlap"},
      {"the same range twice",
       make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                 data8),
       "overlap"},
      {"hole in the data",
       make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                 Bytes(12, 0)),
       "hole in the data section: bytes [4, 8]"},
      {"data not starting at 0", make_file(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}"), data8),
       "hole in the data section: bytes [0, 4]"},
      {"trailing bytes", make_file(one("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"), data8), "cover 4"},
      {"no tensors but data", make_file("{}", data8), "cover 0"},
      {"offsets past the end", make_file(one("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"), data8),
       "run past the end"},
      {"absurd shape",
       make_file(one("{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}"), data8),
       "absurdly large"},
      {"header length past EOF",
       [] {
         Bytes bytes = make_file("{}", {});
         bytes[0] = 200;
         return bytes;
       }(),
       "runs past the end of the file"},
      {"absurd header length",
       [] {
         Bytes bytes = make_file("{}", {});
         bytes[7] = 1;
         return bytes;
       }(),
       "absurd"},
      {"shorter than 8 bytes", Bytes{1, 2, 3}, "shorter than the 8-byte header length"},
      {"crc32 mismatch",
       [] {
         Bytes bytes = small_plasmo_file();
         bytes.back() ^= 1;
         return bytes;
       }(),
       "crc32 mismatch"},
      {"crc32 malformed",
       make_file(
           "{\"__metadata__\":{\"crc32\":\"CBF43926\"},\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
           data8),
       "not 8 lowercase hex digits"},
      {"duplicate name",
       make_file("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                 data8),
       "duplicate tensor name 't'"},
      {"duplicate key",
       make_file(one("{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"), data8),
       "duplicate key 'dtype'"},
      {"duplicate metadata key", make_file("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", {}),
       "duplicate __metadata__ key"},
      {"two __metadata__", make_file("{\"__metadata__\":{},\"__metadata__\":{}}", {}), "duplicate __metadata__"},
      {"unknown key", make_file(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}"), data8),
       "unknown key 'x'"},
      {"missing key", make_file(one("{\"dtype\":\"F32\",\"data_offsets\":[0,8]}"), data8), "missing 'shape'"},
      {"metadata value not a string", make_file("{\"__metadata__\":{\"epoch\":3}}", {}), "values are strings"},
      {"negative dimension", make_file(one("{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}"), data8),
       "non-negative integer"},
      {"fractional dimension", make_file(one("{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}"), data8),
       "fraction or exponent"},
      {"leading zero", make_file(one("{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}"), data8),
       "leading zero"},
      {"huge integer",
       make_file(one("{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}"), data8),
       "integer too large"},
      {"three offsets", make_file(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}"), data8),
       "expected ']'"},
      {"trailing comma", make_file("{\"__metadata__\":{\"a\":\"1\"},}", {}), "expected a string as a tensor name"},
      {"not an object", make_file("[]", {}), "must start with '{'"},
      {"leading space", make_file(" {}", {}), "must start with '{'"},
      {"text after the header", make_file("{}x", {}), "unexpected text after the header"},
      {"unterminated", make_file("{\"abc", {}, false), "unterminated string"},
      {"raw control character", make_file("{\"a\nb\":{}}", {}), "control character"},
      {"bad escape", make_file("{\"a\\qb\":{}}", {}), "unknown escape"},
      {"lone surrogate", make_file("{\"a\\ud800\":{}}", {}), "lone high surrogate"},
      {"invalid UTF-8", make_file("{\"a\xff\":{}}", {}), "invalid UTF-8"},
      {"overlong UTF-8", make_file("{\"a\xc0\xaf\":{}}", {}), "invalid UTF-8"},
      {"nested garbage", make_file(one("{\"dtype\":{\"dtype\":{}}}"), {}), "expected a string as the dtype"},
      {"too many dimensions",
       make_file(one("{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}"),
                 Bytes(4, 0)),
       "more than 16 dimensions"},
  };
  for (const Case& item : cases) {
    CAPTURE(item.what);
    std::string message = parse_error(item.bytes);
    CHECK_MESSAGE(message.rfind("mem.safetensors: ", 0) == 0, message);
    CHECK_MESSAGE(message.find(item.expected) != std::string::npos, message);
  }
  // The tensor is named where one is at fault.
  CHECK(parse_error(cases[0].bytes).find("tensor 't'") != std::string::npos);
}

TEST_CASE("Safetensors: JSON escapes in names and metadata round trip") {
  const std::string odd_name = "quote\" back\\slash\nnew\ttab\x01 \xc3\xa9t\xc3\xa9 \xf0\x9f\xa6\xa0";
  float value = 1.5f;
  Bytes bytes = encode_safetensors({{odd_name, DType::F32, {}, &value}}, {{"note", "line1\nline2 \"q\""}});
  SafetensorsFile file = SafetensorsFile::parse(bytes.data(), bytes.size(), "mem");
  REQUIRE(file.find(odd_name) != nullptr);
  CHECK(file.metadata().at("note") == "line1\nline2 \"q\"");
  const std::string header(bytes.begin() + 8, bytes.end() - 4);
  CHECK(header.find("\\u0001") != std::string::npos);  // control characters as \u00xx, as serde_json

  // \u escapes, including a surrogate pair, decode to UTF-8.
  Bytes escaped = make_file("{\"__metadata__\":{\"k\\u00e9y\":\"\\ud83e\\udda0 \\/ \\b\\f\\r\"}}", {});
  SafetensorsFile parsed = SafetensorsFile::parse(escaped.data(), escaped.size(), "mem");
  CHECK(parsed.metadata().at("k\xc3\xa9y") == "\xf0\x9f\xa6\xa0 / \b\f\r");

  // Writer refusals are usage errors, not files.
  CHECK_THROWS_AS(encode_safetensors({{"a", DType::F16, {}, &value}}, {}), UsageError);
  CHECK_THROWS_AS(encode_safetensors({{"", DType::F32, {}, &value}}, {}), UsageError);
  CHECK_THROWS_AS(encode_safetensors({{"__metadata__", DType::F32, {}, &value}}, {}), UsageError);
  CHECK_THROWS_AS(encode_safetensors({{"a", DType::F32, {}, &value}, {"a", DType::F32, {}, &value}}, {}), UsageError);
  CHECK_THROWS_AS(encode_safetensors({{"a", DType::F32, {-1}, &value}}, {}), UsageError);
  CHECK_THROWS_AS(encode_safetensors({{"bad\xff", DType::F32, {}, &value}}, {}), UsageError);
  CHECK_THROWS_AS(encode_safetensors({{"a", DType::F32, {2}, nullptr}}, {}), UsageError);
}

TEST_CASE("Safetensors: the header alone is read without the data") {
  TempDir dir;
  Bytes bytes = small_plasmo_file();
  bytes.back() ^= 0xFF;  // data corrupted: the crc32 no longer matches
  write_bytes(dir.file("m.safetensors"), bytes);
  Metadata metadata = read_metadata(dir.file("m.safetensors"));
  CHECK(metadata.at("arch") == "autoencoder");
  SafetensorsHeader header = read_safetensors_header(dir.file("m.safetensors"));
  CHECK(header.tensors.size() == 4);
  CHECK(format_error([&] { SafetensorsFile::read(dir.file("m.safetensors")); }).find("crc32 mismatch") !=
        std::string::npos);
  // Offsets are still checked against the file's size.
  bytes.pop_back();
  write_bytes(dir.file("cut.safetensors"), bytes);
  CHECK(format_error([&] { read_metadata(dir.file("cut.safetensors")); }).find("cut.safetensors") != std::string::npos);
  // A file that does not exist is an IoError, not a FormatError.
  CHECK_THROWS_AS(read_metadata(dir.file("absent.safetensors")), IoError);
  CHECK_THROWS_AS(SafetensorsFile::read(dir.file("absent.safetensors")), IoError);
  CHECK_THROWS_AS(SafetensorsFile::read(dir.path.string()), IoError);  // a folder
}

TEST_CASE("Safetensors: an atomic write leaves no .tmp and keeps the old file when writing fails") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  std::vector<float> old_values(4, 1.0f), new_values(4096, 2.0f);
  write_safetensors(path, {{"w", DType::F32, {4}, old_values.data()}}, {});
  const Bytes before = read_bytes(path);
  CHECK_FALSE(fs::exists(path + ".tmp"));

  SUBCASE("the file system refuses the bytes mid-write (file size limit)") {
    // RLIMIT_FSIZE makes write() fail with EFBIG past the limit (SIGXFSZ ignored): a real failure halfway.
    struct rlimit saved;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
    void (*previous)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = saved;
    small.rlim_cur = 1000;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    bool threw_io = false;
    try {
      write_safetensors(path, {{"w", DType::F32, {4096}, new_values.data()}}, {});
    } catch (const IoError&) {
      threw_io = true;
    }
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, previous);
    CHECK(threw_io);
  }
  SUBCASE("the target is a folder (rename fails)") {
    fs::create_directory(dir.file("folder.safetensors"));
    CHECK_THROWS_AS(write_safetensors(dir.file("folder.safetensors"), {{"w", DType::F32, {4}, old_values.data()}}, {}),
                    IoError);
    CHECK_FALSE(fs::exists(dir.file("folder.safetensors.tmp")));
    CHECK(fs::is_directory(dir.file("folder.safetensors")));
  }
  SUBCASE("the folder does not exist") {
    CHECK_THROWS_AS(
        write_safetensors(dir.file("no/such/model.safetensors"), {{"w", DType::F32, {4}, old_values.data()}}, {}),
        IoError);
  }
  SUBCASE("the folder is read-only") {
    if (geteuid() == 0) return;  // root writes anyway; the other subcases cover the failure path
    fs::permissions(dir.path, fs::perms::owner_write, fs::perm_options::remove);
    CHECK_THROWS_AS(write_safetensors(path, {{"w", DType::F32, {4096}, new_values.data()}}, {}), IoError);
    fs::permissions(dir.path, fs::perms::owner_write, fs::perm_options::add);
  }
  CHECK(read_bytes(path) == before);
  CHECK_FALSE(fs::exists(path + ".tmp"));
  std::vector<std::string> leftovers;
  for (const auto& entry : fs::directory_iterator(dir.path))
    if (entry.path().extension() == ".tmp") leftovers.push_back(entry.path().string());
  CHECK(leftovers.empty());
  // And a successful write replaces the file.
  write_safetensors(path, {{"w", DType::F32, {4096}, new_values.data()}}, {});
  CHECK(SafetensorsFile::read(path).find("w")->shape == std::vector<int64_t>{4096});
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("State: save and load params, buffers, extras and metadata") {
  TempDir dir;
  FakeNet net, loaded;
  net.fill(3.0f);
  Tensor momentum(Shape{3, 2});
  momentum.fill(0.75f);
  int64_t step = 1234;
  std::vector<Buffer> extras = {{"optim.fc.weight.momentum", &momentum, nullptr}, {"optim.step", nullptr, &step}};
  save_state(dir.file("ckpt.safetensors"), net.params(), net.buffers(), extras, {{"epoch", "7"}, {"format", "plasmo"}});

  Tensor loaded_momentum(Shape{3, 2});
  int64_t loaded_step = 0;
  std::vector<Buffer> loaded_extras = {{"optim.fc.weight.momentum", &loaded_momentum, nullptr},
                                       {"optim.step", nullptr, &loaded_step}};
  LoadResult result = load_state(dir.file("ckpt.safetensors"), loaded.params(), loaded.buffers(), loaded_extras);
  CHECK(loaded.same_as(net));
  CHECK(loaded_momentum[5] == 0.75f);
  CHECK(loaded_step == 1234);
  CHECK(result.metadata.at("epoch") == "7");
  CHECK(result.metadata.count("crc32") == 1);
  CHECK(result.missing.empty());
  CHECK(result.unexpected.empty());

  // Stored as PyTorch stores them: num_batches_tracked an I64 scalar, gradients not saved.
  TensorMap map = read_tensor_map(dir.file("ckpt.safetensors"));
  CHECK(map.i64.at("bn.num_batches_tracked").shape.empty());
  CHECK(map.i64.at("bn.num_batches_tracked").values[0] == net.batches);
  CHECK(map.f32.at("fc.weight").shape() == Shape{3, 2});
  CHECK(map.f32.size() + map.i64.size() == 6);

  // write_tensor_map writes back the same file.
  write_tensor_map(dir.file("copy.safetensors"), map);
  CHECK(read_bytes(dir.file("copy.safetensors")) == read_bytes(dir.file("ckpt.safetensors")));

  // Duplicate names and tensors without memory are the caller's mistakes.
  std::vector<Buffer> twice = {{"fc.weight", &momentum, nullptr}};
  CHECK_THROWS_AS(save_state(dir.file("x.safetensors"), net.params(), net.buffers(), twice), UsageError);
  Tensor no_memory;
  CHECK_THROWS_AS(save_state(dir.file("x.safetensors"), {{"w", &no_memory, nullptr}}, {}), UsageError);
  CHECK_FALSE(fs::exists(dir.file("x.safetensors")));
}

TEST_CASE("State: strict load lists every missing and unexpected name, non-strict returns them") {
  TempDir dir;
  FakeNet net;
  net.fill(2.0f);
  Tensor extra(Shape{2});
  save_state(dir.file("m.safetensors"), net.params(), net.buffers(), {{"dec1.weight", &extra, nullptr}});

  FakeNet target;
  target.fill(-1.0f);
  FakeNet untouched;
  untouched.fill(-1.0f);
  Tensor fc2(Shape{4});
  std::vector<Param> params = target.params();
  params.push_back({"fc2.weight", &fc2, nullptr});
  params.push_back({"fc2.bias", &fc2, nullptr});
  std::string message = format_error([&] { load_state(dir.file("m.safetensors"), params, target.buffers()); });
  CHECK(message.find("m.safetensors") != std::string::npos);
  CHECK(message.find("missing 2 (fc2.weight, fc2.bias)") != std::string::npos);
  CHECK(message.find("unexpected 1 (dec1.weight)") != std::string::npos);
  CHECK(target.same_as(untouched));  // nothing loaded

  LoadResult result = load_state(dir.file("m.safetensors"), params, target.buffers(), {}, false);
  CHECK(result.missing == std::vector<std::string>{"fc2.weight", "fc2.bias"});
  CHECK(result.unexpected == std::vector<std::string>{"dec1.weight"});
  CHECK(target.same_as(net));  // the common tensors were loaded

  // Many names: the first kMaxListedNames, then a count.
  std::vector<Tensor> many(30);
  std::vector<Param> lots = target.params();
  for (size_t i = 0; i < many.size(); ++i) {
    many[i] = Tensor(Shape{1});
    lots.push_back({"extra" + std::to_string(i), &many[i], nullptr});
  }
  message = format_error([&] { load_state(dir.file("m.safetensors"), lots, target.buffers()); });
  CHECK(message.find("missing 30 (extra0, extra1,") != std::string::npos);
  CHECK(message.find("extra19, ... and 10 more)") != std::string::npos);
}

TEST_CASE("State: a shape or dtype mismatch names the file, tensor, expected and found") {
  TempDir dir;
  FakeNet net;
  net.fill(1.0f);
  save_state(dir.file("m.safetensors"), net.params(), net.buffers());

  Tensor wrong(Shape{2, 3});
  wrong.fill(9.0f);
  Tensor bias(Shape{3});
  bias.fill(9.0f);
  std::vector<Param> params = {{"fc.bias", &bias, nullptr}, {"fc.weight", &wrong, nullptr}};
  for (bool strict : {true, false}) {
    std::string message = format_error([&] { load_state(dir.file("m.safetensors"), params, {}, {}, strict); });
    CHECK(message == dir.file("m.safetensors") + ": tensor 'fc.weight': expected shape [2, 3], found [3, 2]");
    CHECK(bias[0] == 9.0f);  // nothing loaded, not even the tensors that matched
  }

  int64_t count = 0;
  Tensor as_float(Shape{});
  std::string message = format_error([&] {
    load_state(dir.file("m.safetensors"), {}, {{"bn.num_batches_tracked", &as_float, nullptr}}, {}, false);
  });
  CHECK(message.find("tensor 'bn.num_batches_tracked': expected a float tensor, found dtype I64") != std::string::npos);
  message = format_error([&] { load_state(dir.file("m.safetensors"), {}, {{"fc.bias", nullptr, &count}}, {}, false); });
  CHECK(message.find("tensor 'fc.bias': expected dtype I64, found F32") != std::string::npos);
}

TEST_CASE("State: a rank-5 float tensor cannot become a Tensor") {
  TempDir dir;
  std::vector<float> values(2, 1.0f);
  write_safetensors(dir.file("r5.safetensors"), {{"w", DType::F32, {1, 1, 1, 1, 2}, values.data()}}, {});
  CHECK(format_error([&] { read_tensor_map(dir.file("r5.safetensors")); }).find("at most 4 dims") != std::string::npos);
}

TEST_CASE("Safetensors: fuzz seed corpus (written to $PLASMO_FUZZ_SEEDS when set)") {
  // The seeds fuzz/corpus/safetensors/ holds; each must parse. PLASMO_FUZZ_SEEDS=DIR writes them there.
  std::vector<std::pair<std::string, Bytes>> seeds = {
      {"plasmo_small.safetensors", small_plasmo_file()},
      {"python_f16_bf16.safetensors", python_file()},
      {"empty.safetensors", encode_safetensors({}, {})},
      {"bare_empty.safetensors", make_file("{}", {})},
  };
  for (const auto& seed : seeds) {
    CAPTURE(seed.first);
    CHECK_NOTHROW(SafetensorsFile::parse(seed.second.data(), seed.second.size(), seed.first));
  }
  if (const char* folder = std::getenv("PLASMO_FUZZ_SEEDS"))
    for (const auto& seed : seeds) write_bytes((fs::path(folder) / seed.first).string(), seed.second);
}
