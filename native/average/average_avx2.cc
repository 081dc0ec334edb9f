// AVX2 + F16C variants of the weight-average kernels (8 lanes). Same arithmetic as the scalar
// reference in average.cc: widen exactly, one fused multiply-add per input, round-to-nearest-even
// on the way out; BF16 goes through integer shifts because the rounding must match bit for bit.
#include <immintrin.h>

#include <cmath>

#include "average/kernels.h"

namespace rt::average {
namespace {

template <DType D>
inline __m256 load8(const unsigned char* p) {
  if constexpr (D == DType::F32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  } else if constexpr (D == DType::F16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else if constexpr (D == DType::BF16) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  } else {
    __m128 lo = _mm256_cvtpd_ps(_mm256_loadu_pd(reinterpret_cast<const double*>(p)));
    __m128 hi = _mm256_cvtpd_ps(_mm256_loadu_pd(reinterpret_cast<const double*>(p) + 4));
    return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
  }
}

template <DType D, bool First>
bool accumulate_typed(float* acc, const unsigned char* src, size_t n, float w) {
  constexpr size_t es = kDTypeSize[static_cast<int>(D)];
  const __m256 vw = _mm256_set1_ps(w);
  __m256 bad = _mm256_setzero_ps();  // OR of (x - x): all-zero bits unless some x is NaN or inf
  size_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 x = load8<D>(src + j * es);
    bad = _mm256_or_ps(bad, _mm256_sub_ps(x, x));
    __m256 r = First ? _mm256_mul_ps(vw, x) : _mm256_fmadd_ps(vw, x, _mm256_loadu_ps(acc + j));
    _mm256_storeu_ps(acc + j, r);
  }
  bool any = !_mm256_testz_si256(_mm256_castps_si256(bad), _mm256_castps_si256(bad));
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

// Round-to-nearest-even fp32 -> bf16 on 8 lanes, NaN kept quiet; the result sits in 8 x u16.
inline __m128i to_bf16x8(__m256 a) {
  const __m256i bits = _mm256_castps_si256(a);
  const __m256i abs = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff));
  const __m256i is_nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd)), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
  const __m256i r = _mm256_blendv_epi8(rounded, quiet, is_nan);
  // packus works per 128-bit lane: [lo4 lo4 | hi4 hi4] -> pick qwords 0 and 2.
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
  return _mm256_castsi256_si128(packed);
}

}  // namespace

bool accumulate_avx2(float* acc, const void* src, DType dtype, size_t n, float w, bool first) {
  auto s = static_cast<const unsigned char*>(src);
  switch (dtype) {
    case DType::F16: return accumulate_first<DType::F16>(acc, s, n, w, first);
    case DType::BF16: return accumulate_first<DType::BF16>(acc, s, n, w, first);
    case DType::F64: return accumulate_first<DType::F64>(acc, s, n, w, first);
    default: return accumulate_first<DType::F32>(acc, s, n, w, first);
  }
}

bool convert_avx2(const float* acc, void* out, DType dtype, size_t n) {
  auto o = static_cast<unsigned char*>(out);
  size_t j = 0;
  bool any = false;
  if (dtype == DType::F32) {
    __m256 bad = _mm256_setzero_ps();
    for (; j + 8 <= n; j += 8) {
      __m256 a = _mm256_loadu_ps(acc + j);
      bad = _mm256_or_ps(bad, _mm256_sub_ps(a, a));
      _mm256_storeu_ps(reinterpret_cast<float*>(o) + j, a);
    }
    any = !_mm256_testz_si256(_mm256_castps_si256(bad), _mm256_castps_si256(bad));
  } else {
    // Both 16-bit formats are non-finite exactly when their exponent field is all ones.
    const __m128i exp_mask = _mm_set1_epi16(dtype == DType::F16 ? 0x7c00 : 0x7f80);
    __m128i bad = _mm_setzero_si128();
    for (; j + 8 <= n; j += 8) {
      __m256 a = _mm256_loadu_ps(acc + j);
      __m128i h = dtype == DType::F16 ? _mm256_cvtps_ph(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
                                      : to_bf16x8(a);
      bad = _mm_or_si128(bad, _mm_cmpeq_epi16(_mm_and_si128(h, exp_mask), exp_mask));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 2 * j), h);
    }
    any = !_mm_testz_si128(bad, bad);
  }
  const size_t es = kDTypeSize[static_cast<int>(dtype)];
  for (; j < n; ++j) any |= narrow(acc[j], o + j * es, dtype);
  return any;
}

}  // namespace rt::average
