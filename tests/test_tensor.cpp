#include <doctest/doctest.h>

#include <cstdint>

#include "engine/error.h"
#include "engine/rng.h"
#include "engine/tensor.h"

using namespace plasmo;

TEST_CASE("Tensor: owned memory is zeroed and 64-byte aligned") {
  Tensor t(Shape{2, 3, 5, 7});
  CHECK(t.size() == 210);
  CHECK(reinterpret_cast<uintptr_t>(t.data()) % 64 == 0);
  for (size_t i = 0; i < t.size(); ++i) REQUIRE(t[i] == 0.0f);
  t.at(1, 2, 4, 6) = 3.0f;
  CHECK(t[209] == 3.0f);
}

TEST_CASE("Tensor: resize within capacity keeps the buffer, growing reallocates") {
  Tensor t(Shape{4, 8});
  float* before = t.data();
  t.resize(Shape{2, 8});
  CHECK(t.data() == before);
  CHECK(t.shape() == Shape{2, 8});
  t.resize(Shape{4, 8});
  CHECK(t.data() == before);
  t.resize(Shape{5, 8});
  CHECK(t.size() == 40);
}

TEST_CASE("Tensor: a view cannot grow, shapes print for errors") {
  float buffer[6] = {1, 2, 3, 4, 5, 6};
  Tensor v = Tensor::view(buffer, Shape{2, 3});
  CHECK_FALSE(v.owns_memory());
  CHECK(v[4] == 5.0f);
  CHECK_THROWS_AS(v.resize(Shape{3, 3}), ShapeError);
  CHECK_THROWS_AS(v.reshape(Shape{4}), ShapeError);
  CHECK(Shape{2, 3, 32, 32}.str() == "[2, 3, 32, 32]");
  CHECK_THROWS_AS((Shape{1, 2, 3, 4, 5}), ShapeError);
}

TEST_CASE("Tensor: clone is deep, move leaves the source empty") {
  Tensor a(Shape{3});
  a.fill(2.0f);
  Tensor b = a.clone();
  b[0] = 5.0f;
  CHECK(a[0] == 2.0f);
  Tensor c = std::move(a);
  CHECK(a.empty());
  CHECK(c[1] == 2.0f);
}

TEST_CASE("Rng: same seed same stream, derive() independent of history, uniform in [0,1)") {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) REQUIRE(a.next_u64() == b.next_u64());
  Rng d1 = Rng::derive(7, 3, 11), d2 = Rng::derive(7, 3, 11), d3 = Rng::derive(7, 3, 12);
  CHECK(d1.next_u64() == d2.next_u64());
  CHECK(d1.next_u64() != d3.next_u64());
  Rng r(1);
  double sum = 0.0, sq = 0.0;
  const int count = 20000;
  for (int i = 0; i < count; ++i) {
    float u = r.uniform();
    REQUIRE(u >= 0.0f);
    REQUIRE(u < 1.0f);
    float z = r.normal();
    sum += z;
    sq += static_cast<double>(z) * z;
  }
  CHECK(std::abs(sum / count) < 0.05);
  CHECK(std::abs(sq / count - 1.0) < 0.05);
  for (int i = 0; i < 1000; ++i) REQUIRE(r.below(7) < 7u);
}
