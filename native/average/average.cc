// Scalar reference kernels of the weight average and the run-time choice of variant.
// The reference defines the arithmetic every other variant (AVX2, AVX-512, CUDA) must reproduce:
// acc = w0*x0, then acc = fma(wi, xi, acc) for i = 1..N-1 in input order, all in fp32.
#include <cmath>

#include "average/kernels.h"

namespace rt::average {
namespace {

template <DType D>
bool accumulate_typed(float* acc, const unsigned char* src, size_t n, float w, bool first) {
  constexpr size_t es = kDTypeSize[static_cast<int>(D)];
  bool bad = false;
  for (size_t j = 0; j < n; ++j) {
    float x = widen(src + j * es, D);
    bad |= !(x - x == 0.0f);
    // std::fma, not w*x + acc: the product must not be rounded on its own, as in the vector kernels.
    acc[j] = first ? w * x : std::fma(w, x, acc[j]);
  }
  return bad;
}

}  // namespace

bool accumulate_scalar(float* acc, const void* src, DType dtype, size_t n, float w, bool first) {
  auto s = static_cast<const unsigned char*>(src);
  switch (dtype) {
    case DType::F16: return accumulate_typed<DType::F16>(acc, s, n, w, first);
    case DType::BF16: return accumulate_typed<DType::BF16>(acc, s, n, w, first);
    case DType::F64: return accumulate_typed<DType::F64>(acc, s, n, w, first);
    default: return accumulate_typed<DType::F32>(acc, s, n, w, first);
  }
}

bool convert_scalar(const float* acc, void* out, DType dtype, size_t n) {
  auto o = static_cast<unsigned char*>(out);
  const size_t es = kDTypeSize[static_cast<int>(dtype)];
  bool bad = false;
  for (size_t j = 0; j < n; ++j) bad |= narrow(acc[j], o + j * es, dtype);
  return bad;
}

AccumulateFn accumulate_for(CpuLevel level) {
#if defined(__x86_64__)
  if (level == CpuLevel::AVX512) return accumulate_avx512;
  if (level == CpuLevel::AVX2) return accumulate_avx2;
#endif
  (void)level;
  return accumulate_scalar;
}

ConvertFn convert_for(CpuLevel level) {
#if defined(__x86_64__)
  if (level == CpuLevel::AVX512) return convert_avx512;
  if (level == CpuLevel::AVX2) return convert_avx2;
#endif
  (void)level;
  return convert_scalar;
}

}  // namespace rt::average
