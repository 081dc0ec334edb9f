// AVX-512 variants of the weight-average kernels (16 lanes, F16 via F16C-style cvtph/cvtps).
// Same arithmetic as the scalar reference in average.cc. vcvtneps2bf16 is not used for BF16: it
// flushes subnormals, so the rounding is done with integer operations to match the reference.
// GCC 12 warns on its own _mm512_undefined_* placeholders inside the intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "average/kernels.h"

namespace rt::average {
namespace {

template <DType D>
inline __m512 load16(const unsigned char* p) {
  if constexpr (D == DType::F32) {
    return _mm512_loadu_ps(p);
  } else if constexpr (D == DType::F16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  } else if constexpr (D == DType::BF16) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  } else {
    __m256 lo = _mm512_cvtpd_ps(_mm512_loadu_pd(p));
    __m256 hi = _mm512_cvtpd_ps(_mm512_loadu_pd(p + 64));
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
  }
}

template <DType D, bool First>
bool accumulate_typed(float* acc, const unsigned char* src, size_t n, float w) {
  constexpr size_t es = kDTypeSize[static_cast<int>(D)];
  const __m512 vw = _mm512_set1_ps(w);
  __m512 bad = _mm512_setzero_ps();  // OR of (x - x): all-zero bits unless some x is NaN or inf
  size_t j = 0;
  for (; j + 16 <= n; j += 16) {
    __m512 x = load16<D>(src + j * es);
    bad = _mm512_or_ps(bad, _mm512_sub_ps(x, x));
    __m512 r = First ? _mm512_mul_ps(vw, x) : _mm512_fmadd_ps(vw, x, _mm512_loadu_ps(acc + j));
    _mm512_storeu_ps(acc + j, r);
  }
  bool any = _mm512_test_epi32_mask(_mm512_castps_si512(bad), _mm512_castps_si512(bad)) != 0;
  for (; j < n; ++j) {
    float x = widen(src + j * es, D);
    any |= !(x - x == 0.0f);
    acc[j] = First ? w * x : std::fma(w, x, acc[j]);
  }
  return any;
}

template <DType D>
bool accumulate_first(float* acc, const unsigned char* s, size_t n, float w, bool first) {
  return first ? accumulate_typed<D, true>(acc, s, n, w) : accumulate_typed<D, false>(acc, s, n, w);
}

// Round-to-nearest-even fp32 -> bf16 on 16 lanes, NaN kept quiet.
inline __m256i to_bf16x16(__m512 a) {
  const __m512i bits = _mm512_castps_si512(a);
  const __m512i abs = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 is_nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7f800000));
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded =
      _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd)), 16);
  const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(is_nan, rounded, quiet));
}

}  // namespace

bool accumulate_avx512(float* acc, const void* src, DType dtype, size_t n, float w, bool first) {
  auto s = static_cast<const unsigned char*>(src);
  switch (dtype) {
    case DType::F16: return accumulate_first<DType::F16>(acc, s, n, w, first);
    case DType::BF16: return accumulate_first<DType::BF16>(acc, s, n, w, first);
    case DType::F64: return accumulate_first<DType::F64>(acc, s, n, w, first);
    default: return accumulate_first<DType::F32>(acc, s, n, w, first);
  }
}

bool convert_avx512(const float* acc, void* out, DType dtype, size_t n) {
  auto o = static_cast<unsigned char*>(out);
  size_t j = 0;
  bool any = false;
  if (dtype == DType::F32) {
    __m512 bad = _mm512_setzero_ps();
    for (; j + 16 <= n; j += 16) {
      __m512 a = _mm512_loadu_ps(acc + j);
      bad = _mm512_or_ps(bad, _mm512_sub_ps(a, a));
      _mm512_storeu_ps(o + 4 * j, a);
    }
    any = _mm512_test_epi32_mask(_mm512_castps_si512(bad), _mm512_castps_si512(bad)) != 0;
  } else {
    // Both 16-bit formats are non-finite exactly when their exponent field is all ones.
    const __m256i exp_mask = _mm256_set1_epi16(dtype == DType::F16 ? 0x7c00 : 0x7f80);
    __mmask16 bad = 0;
    for (; j + 16 <= n; j += 16) {
      __m512 a = _mm512_loadu_ps(acc + j);
      __m256i h = dtype == DType::F16 ? _mm512_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
                                      : to_bf16x16(a);
      bad |= _mm256_cmpeq_epi16_mask(_mm256_and_si256(h, exp_mask), exp_mask);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 2 * j), h);
    }
    any = bad != 0;
  }
  const size_t es = kDTypeSize[static_cast<int>(dtype)];
  for (; j < n; ++j) any |= narrow(acc[j], o + j * es, dtype);
  return any;
}

}  // namespace rt::average

