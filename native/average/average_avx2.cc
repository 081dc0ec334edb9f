// AVX2 + F16C variants of the weight-average kernels (8 lanes): the vector primitives of
// simd_body.inc. Same arithmetic as the scalar reference in average.cc: widen exactly, one fused
// multiply-add per input, round-to-nearest-even on the way out; BF16 goes through integer shifts
// because the rounding must match bit for bit.
#include <immintrin.h>

#include <cmath>

#include "average/kernels.h"

namespace rt::average {
namespace {

struct Halves {
  __m128i h;
  void store(unsigned char* p) const { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), h); }
};

struct Vec {
  static constexpr size_t kWidth = 8;
  __m256 v;

  template <DType D>
  static Vec load(const unsigned char* p) {
    if constexpr (D == DType::F32) {
      return {_mm256_loadu_ps(reinterpret_cast<const float*>(p))};
    } else if constexpr (D == DType::F16) {
      return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))};
    } else if constexpr (D == DType::BF16) {
      __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      return {_mm256_castsi256_ps(_mm256_slli_epi32(wide, 16))};
    } else {
      __m128 lo = _mm256_cvtpd_ps(_mm256_loadu_pd(reinterpret_cast<const double*>(p)));
      __m128 hi = _mm256_cvtpd_ps(_mm256_loadu_pd(reinterpret_cast<const double*>(p) + 4));
      return {_mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1)};
    }
  }
  static Vec loadf(const float* p) { return {_mm256_loadu_ps(p)}; }
  static Vec splat(float x) { return {_mm256_set1_ps(x)}; }
  void storef(float* p) const { _mm256_storeu_ps(p, v); }

  Halves to_f16() const { return {_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
  // Round-to-nearest-even fp32 -> bf16, NaN kept quiet.
  Halves to_bf16() const {
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i abs = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff));
    const __m256i is_nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    const __m256i rounded =
        _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd)), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
    const __m256i r = _mm256_blendv_epi8(rounded, quiet, is_nan);
    // packus works per 128-bit lane: [lo4 lo4 | hi4 hi4] -> pick qwords 0 and 2.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    return {_mm256_castsi256_si128(packed)};
  }
};
inline Vec mul(Vec a, Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline Vec fma(Vec a, Vec b, Vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }

struct Flags {
  __m256 bad = _mm256_setzero_ps();
  void add(Vec x) { bad = _mm256_or_ps(bad, _mm256_sub_ps(x.v, x.v)); }
  bool any() const { return !_mm256_testz_si256(_mm256_castps_si256(bad), _mm256_castps_si256(bad)); }
};

// Both 16-bit formats are non-finite exactly when their exponent field is all ones.
struct HalfFlags {
  explicit HalfFlags(DType d) : exp_mask(_mm_set1_epi16(d == DType::F16 ? 0x7c00 : 0x7f80)) {}
  __m128i exp_mask, bad = _mm_setzero_si128();
  void add(Halves h) { bad = _mm_or_si128(bad, _mm_cmpeq_epi16(_mm_and_si128(h.h, exp_mask), exp_mask)); }
  bool any() const { return !_mm_testz_si128(bad, bad); }
};

}  // namespace

#define KERNEL_SUFFIX avx2
#include "average/simd_body.inc"
#undef KERNEL_SUFFIX

}  // namespace rt::average
