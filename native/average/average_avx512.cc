// AVX-512 variants of the weight-average kernels (16 lanes): the vector primitives of
// simd_body.inc. Same arithmetic as the scalar reference in average.cc. vcvtneps2bf16 is not used
// for BF16: it flushes subnormals, so the rounding is done with integer operations to match.
// GCC 12 warns on its own _mm512_undefined_* placeholders inside the intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "average/kernels.h"

namespace rt::average {
namespace {

struct Halves {
  __m256i h;
  void store(unsigned char* p) const { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), h); }
};

struct Vec {
  static constexpr size_t kWidth = 16;
  __m512 v;

  template <DType D>
  static Vec load(const unsigned char* p) {
    if constexpr (D == DType::F32) {
      return {_mm512_loadu_ps(p)};
    } else if constexpr (D == DType::F16) {
      return {_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))};
    } else if constexpr (D == DType::BF16) {
      __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
      return {_mm512_castsi512_ps(_mm512_slli_epi32(wide, 16))};
    } else {
      __m256 lo = _mm512_cvtpd_ps(_mm512_loadu_pd(p));
      __m256 hi = _mm512_cvtpd_ps(_mm512_loadu_pd(p + 64));
      return {_mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1)};
    }
  }
  static Vec loadf(const float* p) { return {_mm512_loadu_ps(p)}; }
  static Vec splat(float x) { return {_mm512_set1_ps(x)}; }
  void storef(float* p) const { _mm512_storeu_ps(p, v); }

  Halves to_f16() const { return {_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
  // Round-to-nearest-even fp32 -> bf16, NaN kept quiet.
  Halves to_bf16() const {
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i abs = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
    const __mmask16 is_nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7f800000));
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    const __m512i rounded =
        _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd)), 16);
    const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
    return {_mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(is_nan, rounded, quiet))};
  }
};
inline Vec mul(Vec a, Vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline Vec fma(Vec a, Vec b, Vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }

struct Flags {
  __m512 bad = _mm512_setzero_ps();
  void add(Vec x) { bad = _mm512_or_ps(bad, _mm512_sub_ps(x.v, x.v)); }
  bool any() const { return _mm512_test_epi32_mask(_mm512_castps_si512(bad), _mm512_castps_si512(bad)) != 0; }
};

// Both 16-bit formats are non-finite exactly when their exponent field is all ones.
struct HalfFlags {
  explicit HalfFlags(DType d) : exp_mask(_mm256_set1_epi16(d == DType::F16 ? 0x7c00 : 0x7f80)) {}
  __m256i exp_mask;
  __mmask16 bad = 0;
  void add(Halves h) { bad |= _mm256_cmpeq_epi16_mask(_mm256_and_si256(h.h, exp_mask), exp_mask); }
  bool any() const { return bad != 0; }
};

}  // namespace

#define KERNEL_SUFFIX avx512
#include "average/simd_body.inc"
#undef KERNEL_SUFFIX

}  // namespace rt::average
