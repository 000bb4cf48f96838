// Parity of the elementwise kernels of every ISA with the reference (see tests/test_kernels_misc.h).
// Lengths 1..1000 cover every tail length of 4-, 8- and 16-float vectors; inputs and outputs are also
// offset by one float so no kernel relies on alignment.
#include <cmath>
#include <limits>
#include <vector>

#include "tests/test_kernels_misc.h"

using namespace plasmo;
using namespace plasmo::testing::kernels_misc;
using kernels::KernelTable;

namespace {

const size_t kLengths[] = {1, 3, 7, 15, 16, 17, 31, 33, 1000};

// Normal values (scale 4, so relu6's 6 is crossed) with special values planted at fixed places.
std::vector<float> activation_inputs(size_t n, Rng& rng) {
  std::vector<float> x = normal_values(n, rng, 4.0f);
  const float specials[] = {0.0f,
                            -0.0f,
                            6.0f,
                            -6.0f,
                            1e-40f,
                            -1e-40f,
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            5.9999995f,
                            6.0000005f,
                            1e30f,
                            -1e30f,
                            std::numeric_limits<float>::quiet_NaN()};
  for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); ++i)
    if (3 * i < n) x[3 * i] = specials[i];
  return x;
}

// Runs check(fast, n, offset) on every fast table, every length of kLengths and data at offsets 0 and 1
// (off the vector alignment), the three captured for a failure's message.
template <class Check>
void for_each_isa_length_offset(const Check& check) {
  for (const KernelTable* fast : fast_tables())
    for (size_t n : kLengths)
      for (size_t offset : {0, 1}) {
        const std::string isa = fast->isa;
        CAPTURE(isa);
        CAPTURE(n);
        CAPTURE(offset);
        check(*fast, n, offset);
      }
}

using Unary = void (*KernelTable::*)(size_t, const float*, float*);
using Binary = void (*KernelTable::*)(size_t, const float*, const float*, float*);

// Runs entry on both tables over x (and z for binary entries) and checks the outputs bit for bit.
void check_unary_exact(const char* name, Unary entry, const KernelTable& fast, const std::vector<float>& x,
                       size_t offset, size_t n) {
  CAPTURE(name);
  Guarded<float> want(n), got(n, 0.0f, offset);
  (ref_table().*entry)(n, x.data() + offset, want.data());
  (fast.*entry)(n, x.data() + offset, got.data());
  CHECK(bit_difference(got.data(), want.data(), n) == "");
  CHECK(got.guards_intact());
}
void check_binary_exact(const char* name, Binary entry, const KernelTable& fast, const std::vector<float>& a,
                        const std::vector<float>& b, size_t offset, size_t n) {
  CAPTURE(name);
  Guarded<float> want(n), got(n, 0.0f, offset);
  (ref_table().*entry)(n, a.data() + offset, b.data() + offset, want.data());
  (fast.*entry)(n, a.data() + offset, b.data() + offset, got.data());
  CHECK(bit_difference(got.data(), want.data(), n) == "");
  CHECK(got.guards_intact());
}

// sigmoid in double: the exact value to judge both the reference and the vector versions.
double sigmoid_exact(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }

// The stated tolerance of the vector sigmoid against the reference: 4 ulp where the result is a normal
// float, 2 subnormal steps (2^-148) below that. Measured over [-110, 30] in 2^-10 steps on AVX2,
// AVX-512 and NEON: worst 2 ulp from the reference, relative error 1.72e-7 from the exact value. Derivation:
// exp_nonpositive is within 2 ulp of e^-|x| (Cephes polynomial ~1 ulp, reduction and scaling ~0.5), then 1+e and the
// division add 0.5 ulp each, against the reference's glibc expf (< 1 ulp) and the same two operations.
bool sigmoid_close(float got, float want) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::fabs(want) < std::numeric_limits<float>::min()) return std::fabs(got - want) <= 0x1p-148f;
  return ulp_distance(got, want) <= 4;
}

}  // namespace

TEST_CASE("Kernel parity: relu, relu6 and their backwards are bit-exact on every ISA") {
  Rng rng(101);
  for_each_isa_length_offset([&](const KernelTable& fast, size_t n, size_t offset) {
    const std::vector<float> x = activation_inputs(n + offset, rng);
    check_unary_exact("relu_forward", &KernelTable::relu_forward, fast, x, offset, n);
    check_unary_exact("relu6_forward", &KernelTable::relu6_forward, fast, x, offset, n);
    // Backward reads the forward output y; use the reference's y so both sides see the same input.
    std::vector<float> y(x.size()), y6(x.size());
    ref_table().relu_forward(x.size(), x.data(), y.data());
    ref_table().relu6_forward(x.size(), x.data(), y6.data());
    const std::vector<float> dy = activation_inputs(n + offset, rng);
    check_binary_exact("relu_backward", &KernelTable::relu_backward, fast, y, dy, offset, n);
    check_binary_exact("relu6_backward", &KernelTable::relu6_backward, fast, y6, dy, offset, n);
    // Backward on raw x as well (y exactly 0 and 6, negative values): the rule alone decides.
    check_binary_exact("relu_backward(x)", &KernelTable::relu_backward, fast, x, dy, offset, n);
    check_binary_exact("relu6_backward(x)", &KernelTable::relu6_backward, fast, x, dy, offset, n);
  });
}

TEST_CASE("Kernel parity: add, mul, axpy, scale and sigmoid backward are bit-exact on every ISA") {
  Rng rng(202);
  for_each_isa_length_offset([&](const KernelTable& fast, size_t n, size_t offset) {
    const std::vector<float> a = normal_values(n + offset, rng, 3.0f), b = normal_values(n + offset, rng, 0.5f);
    check_binary_exact("add", &KernelTable::add, fast, a, b, offset, n);
    check_binary_exact("mul", &KernelTable::mul, fast, a, b, offset, n);
    std::vector<float> y(n + offset);
    for (auto& v : y) v = rng.uniform();  // a sigmoid output in [0, 1)
    check_binary_exact("sigmoid_backward", &KernelTable::sigmoid_backward, fast, y, a, offset, n);
    for (float alpha : {0.37f, -2.5f, 0.0f}) {
      CAPTURE(alpha);
      Guarded<float> want(n), got(n, 0.0f, offset), scaled_want(n), scaled_got(n, 0.0f, offset);
      for (size_t i = 0; i < n; ++i) want[i] = got[i] = b[offset + i];
      ref_table().axpy(n, alpha, a.data() + offset, want.data());
      fast.axpy(n, alpha, a.data() + offset, got.data());
      CHECK(bit_difference(got.data(), want.data(), n) == "");
      CHECK(got.guards_intact());
      ref_table().scale(n, alpha, a.data() + offset, scaled_want.data());
      fast.scale(n, alpha, a.data() + offset, scaled_got.data());
      CHECK(bit_difference(scaled_got.data(), scaled_want.data(), n) == "");
      CHECK(scaled_got.guards_intact());
    }
    // In place (y aliases a), as layers use them.
    std::vector<float> in_place_want(a.begin() + offset, a.end()), in_place_got = in_place_want;
    ref_table().scale(n, 0.5f, in_place_want.data(), in_place_want.data());
    fast.scale(n, 0.5f, in_place_got.data(), in_place_got.data());
    CHECK(bit_difference(in_place_got.data(), in_place_want.data(), n) == "");
  });
}

TEST_CASE("Kernel parity: sigmoid forward within 4 ulp of the reference on every ISA, every length") {
  Rng rng(303);
  for_each_isa_length_offset([&](const KernelTable& fast, size_t n, size_t offset) {
    const std::vector<float> x = normal_values(n + offset, rng, 8.0f);
    Guarded<float> want(n), got(n, 0.0f, offset);
    ref_table().sigmoid_forward(n, x.data() + offset, want.data());
    fast.sigmoid_forward(n, x.data() + offset, got.data());
    CHECK(got.guards_intact());
    for (size_t i = 0; i < n; ++i)
      if (!sigmoid_close(got[i], want[i])) {
        CAPTURE(x[offset + i]);
        CHECK(got[i] == want[i]);
      }
  });
}

TEST_CASE("Kernel parity: sigmoid forward over [-110, 30] in 2^-10 steps, saturation, special values") {
  // Every x = -110 + k/1024: the whole range where the result is not exactly 0 or 1, densely.
  const size_t count = static_cast<size_t>(140 * 1024);
  std::vector<float> x(count);
  for (size_t i = 0; i < count; ++i) x[i] = -110.0f + static_cast<float>(i) / 1024.0f;
  std::vector<float> want(count), got(count);
  ref_table().sigmoid_forward(count, x.data(), want.data());
  for (const KernelTable* fast : fast_tables()) {
    const std::string isa = fast->isa;
    CAPTURE(isa);
    fast->sigmoid_forward(count, x.data(), got.data());
    int64_t worst_ulp_vs_ref = 0;
    double worst_relative_vs_exact = 0.0;
    size_t failures = 0;
    for (size_t i = 0; i < count; ++i) {
      if (!sigmoid_close(got[i], want[i])) ++failures;
      if (want[i] >= std::numeric_limits<float>::min()) {
        worst_ulp_vs_ref = std::max(worst_ulp_vs_ref, ulp_distance(got[i], want[i]));
        const double exact = sigmoid_exact(x[i]);
        worst_relative_vs_exact = std::max(worst_relative_vs_exact, std::fabs(got[i] - exact) / exact);
      }
    }
    CHECK(failures == 0);
    CHECK(worst_ulp_vs_ref <= 4);
    // Relative error against the exact value: 4 ulp of a float is at most 4 * 2^-23 = 4.8e-7.
    CHECK(worst_relative_vs_exact < 4.8e-7);

    // Saturation and special values.
    const float inf = std::numeric_limits<float>::infinity();
    const std::vector<float> special = {inf,
                                        1e30f,
                                        200.0f,
                                        88.8f,
                                        17.0f,
                                        0.0f,
                                        -0.0f,
                                        -87.0f,
                                        -103.0f,
                                        -200.0f,
                                        -1e30f,
                                        -inf,
                                        std::numeric_limits<float>::quiet_NaN()};
    std::vector<float> special_y(special.size()), special_want(special.size());
    fast->sigmoid_forward(special.size(), special.data(), special_y.data());
    ref_table().sigmoid_forward(special.size(), special.data(), special_want.data());
    for (size_t i = 0; i < special.size(); ++i) {
      CAPTURE(special[i]);
      CHECK(sigmoid_close(special_y[i], special_want[i]));
    }
    CHECK(special_y[0] == 1.0f);
    CHECK(special_y[1] == 1.0f);
    CHECK(special_y[2] == 1.0f);
    CHECK(special_y[3] == 1.0f);
    CHECK(special_y[4] == 1.0f);  // 1 + e^-17 rounds to 1, as in the reference
    CHECK(special_y[5] == 0.5f);
    CHECK(special_y[6] == 0.5f);
    CHECK(special_y[7] > 0.0f);        // e^-87 ~ 1.6e-38: still a (barely) normal float
    CHECK(special_y[8] == 0x1p-149f);  // e^-103 ~ 1.9e-45 rounds to the smallest subnormal
    CHECK(special_y[9] == 0.0f);
    CHECK(special_y[10] == 0.0f);
    CHECK(special_y[11] == 0.0f);
    CHECK(std::isnan(special_y[12]));
  }
}

// zero: every length's tail, and lengths past the streaming threshold (non-temporal stores from the
// first vector-aligned address) at every start offset within a vector, so the aligned, unaligned and
// tail stores all run; the floats around the range stay untouched.
TEST_CASE("Kernel parity: zero clears exactly its range on every ISA, streamed or not") {
  std::vector<size_t> lengths(std::begin(kLengths), std::end(kLengths));
  for (size_t n : {size_t{4095}, size_t{4096}, size_t{4096 + 17}, size_t{3 * 4096 + 31}}) lengths.push_back(n);
  std::vector<const KernelTable*> tables = fast_tables();
  tables.push_back(&ref_table());
  for (const KernelTable* table : tables)
    for (size_t n : lengths)
      for (size_t offset = 0; offset < 16; offset += (n > 1000 ? 1 : 5)) {
        const std::string isa = table->isa;
        CAPTURE(isa);
        CAPTURE(n);
        CAPTURE(offset);
        Guarded<float> y(n, std::numeric_limits<float>::quiet_NaN(), offset);
        table->zero(n, y.data());
        size_t nonzero = 0;
        for (size_t i = 0; i < n; ++i) nonzero += !(y[i] == 0.0f && !std::signbit(y[i]));
        CHECK(nonzero == 0);
        CHECK(y.guards_intact());
      }
}
