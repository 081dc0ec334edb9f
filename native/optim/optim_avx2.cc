// AVX2+FMA optimizer kernels: 8-float vectors over the shared body in simd_body.inc.
#include <immintrin.h>

#include "optim/adam.h"
#include "optim/sgd.h"

namespace {

struct Vec {
  static constexpr size_t kWidth = 8;
  __m256 x;
  static Vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static Vec splat(float v) { return {_mm256_set1_ps(v)}; }
  void store(float* p) const { _mm256_storeu_ps(p, x); }
};
inline Vec add(Vec a, Vec b) { return {_mm256_add_ps(a.x, b.x)}; }
inline Vec mul(Vec a, Vec b) { return {_mm256_mul_ps(a.x, b.x)}; }
inline Vec fma(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.x, b.x, c.x)}; }
inline Vec div(Vec a, Vec b) { return {_mm256_div_ps(a.x, b.x)}; }
inline Vec sqrt(Vec a) { return {_mm256_sqrt_ps(a.x)}; }
// An opaque register round trip: the product is rounded before it is used (see simd_body.inc).
inline Vec rounded(Vec a) {
  asm("" : "+x"(a.x));
  return a;
}

}  // namespace

#include "optim/simd_body.inc"

RT_OPTIM_DEFINE_RANGES(avx2)
