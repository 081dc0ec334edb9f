// AVX-512 optimizer kernels: 16-float vectors over the shared body in simd_body.inc.
#include <immintrin.h>

#include "optim/adam.h"
#include "optim/sgd.h"

namespace {

struct Vec {
  static constexpr size_t kWidth = 16;
  __m512 x;
  static Vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static Vec splat(float v) { return {_mm512_set1_ps(v)}; }
  void store(float* p) const { _mm512_storeu_ps(p, x); }
};
inline Vec add(Vec a, Vec b) { return {_mm512_add_ps(a.x, b.x)}; }
inline Vec mul(Vec a, Vec b) { return {_mm512_mul_ps(a.x, b.x)}; }
inline Vec fma(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.x, b.x, c.x)}; }
inline Vec div(Vec a, Vec b) { return {_mm512_div_ps(a.x, b.x)}; }
// The zero-masked form with a full mask is the plain sqrt; GCC 12 warns on _mm512_sqrt_ps's
// deliberately undefined pass-through operand.
inline Vec sqrt(Vec a) { return {_mm512_maskz_sqrt_ps(0xffff, a.x)}; }
// An opaque register round trip: the product is rounded before it is used (see simd_body.inc).
inline Vec rounded(Vec a) {
  asm("" : "+v"(a.x));
  return a;
}

}  // namespace

#include "optim/simd_body.inc"

RT_OPTIM_DEFINE_RANGES(avx512)
