// Element kernels of the streaming weight average: fold one input chunk into the fp32 accumulator,
// then round the accumulator to the output dtype. Scalar reference in average.cc, AVX2 and AVX-512
// variants beside it; every variant gives the same bits (a fused multiply-add per input, round-to-
// nearest-even conversions), so only NaN payloads may differ between levels.
#pragma once

#include <cstddef>
#include <cstring>

#include "common/cpu.h"
#include "common/dtype.h"

namespace rt::average {

// acc[j] = first ? w*x[j] : fma(w, x[j], acc[j]), x[j] read from src as dtype (unaligned is fine)
// and widened to fp32. Returns true when some widened x[j] is NaN or ±inf (an F64 value beyond the
// fp32 range counts: it would poison the average the same way).
using AccumulateFn = bool (*)(float* acc, const void* src, DType dtype, size_t n, float w, bool first);
// out[j] = acc[j] rounded to dtype (F32, F16 or BF16). Returns true when some out[j] is not finite
// (a non-finite accumulator, or a value beyond the F16/BF16 range).
using ConvertFn = bool (*)(const float* acc, void* out, DType dtype, size_t n);

bool accumulate_scalar(float* acc, const void* src, DType dtype, size_t n, float w, bool first);
bool convert_scalar(const float* acc, void* out, DType dtype, size_t n);
bool accumulate_avx2(float* acc, const void* src, DType dtype, size_t n, float w, bool first);
bool convert_avx2(const float* acc, void* out, DType dtype, size_t n);
bool accumulate_avx512(float* acc, const void* src, DType dtype, size_t n, float w, bool first);
bool convert_avx512(const float* acc, void* out, DType dtype, size_t n);

AccumulateFn accumulate_for(CpuLevel level);
ConvertFn convert_for(CpuLevel level);

// Scalar element steps shared by every variant's tail loop, so tails match the reference exactly.
inline float widen(const unsigned char* p, DType dtype) {
  switch (dtype) {
    case DType::F16: { uint16_t h; std::memcpy(&h, p, 2); return f16_to_f32(h); }
    case DType::BF16: { uint16_t h; std::memcpy(&h, p, 2); return bf16_to_f32(h); }
    case DType::F64: { double d; std::memcpy(&d, p, 8); return static_cast<float>(d); }
    default: { float f; std::memcpy(&f, p, 4); return f; }
  }
}

// Stores x as dtype at p; returns true when the stored value is not finite.
inline bool narrow(float x, unsigned char* p, DType dtype) {
  if (dtype == DType::F16) {
    uint16_t h = f32_to_f16(x);
    std::memcpy(p, &h, 2);
    return (h & 0x7c00u) == 0x7c00u;
  }
  if (dtype == DType::BF16) {
    uint16_t h = f32_to_bf16(x);
    std::memcpy(p, &h, 2);
    return (h & 0x7f80u) == 0x7f80u;
  }
  std::memcpy(p, &x, 4);
  return !(x - x == 0.0f);
}

}  // namespace rt::average
