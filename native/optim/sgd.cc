// SGD: hyperparameter checks, host step scalars, the scalar reference loop, and the dispatch of
// chunks to the reference / AVX2 / AVX-512 kernels across the thread pool.
#include "optim/sgd.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "common/cpu.h"
#include "optim/multi_tensor.h"

namespace rt::optim {

const char* sgd_check(const SgdHyper& h) {
  if (!std::isfinite(h.lr) || h.lr < 0) return "lr must be a finite number >= 0";
  if (!std::isfinite(h.momentum) || h.momentum < 0) return "momentum must be a finite number >= 0";
  if (!std::isfinite(h.dampening)) return "dampening must be a finite number";
  if (!std::isfinite(h.weight_decay) || h.weight_decay < 0) return "weightDecay must be a finite number >= 0";
  if (h.nesterov && (h.momentum <= 0 || h.dampening != 0))
    return "nesterov momentum requires a momentum > 0 and zero dampening";
  return nullptr;
}

SgdScalars sgd_scalars(const SgdHyper& h) {
  SgdScalars s;
  s.sign = h.maximize ? -1.0f : 1.0f;
  s.weight_decay = static_cast<float>(h.weight_decay);
  s.momentum = static_cast<float>(h.momentum);
  s.one_minus_dampening = static_cast<float>(1.0 - h.dampening);
  s.neg_lr = static_cast<float>(-h.lr);
  s.has_weight_decay = h.weight_decay != 0;
  s.has_momentum = h.momentum != 0;
  s.first_step = h.first_step;
  s.nesterov = h.nesterov;
  return s;
}

// torch's _single_tensor_sgd, one element at a time; each line is one torch op.
void sgd_range_ref(const SgdScalars& s, const SgdTensor& t, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    float g = s.sign * t.grad[i];
    if (s.has_weight_decay) g = g + s.weight_decay * t.param[i];
    if (s.has_momentum) {
      float buf = s.first_step ? g : t.momentum_buf[i] * s.momentum + s.one_minus_dampening * g;
      t.momentum_buf[i] = buf;
      g = s.nesterov ? g + s.momentum * buf : buf;
    }
    t.param[i] = t.param[i] + s.neg_lr * g;
  }
}

void sgd_step(const std::vector<SgdGroup>& groups) {
  std::vector<SgdScalars> scalars;
  scalars.reserve(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    if (const char* why = sgd_check(groups[g].hyper))
      throw std::invalid_argument("sgd group " + std::to_string(g) + ": " + why);
    scalars.push_back(sgd_scalars(groups[g].hyper));
  }
  auto range = &sgd_range_ref;
  switch (rt::cpu_level()) {
    case CpuLevel::AVX512: range = &sgd_range_avx512; break;
    case CpuLevel::AVX2: range = &sgd_range_avx2; break;
    default: break;
  }
  for_each_chunk(groups, [&](size_t g, const SgdTensor& t, size_t begin, size_t end) {
    range(scalars[g], t, begin, end);
  });
}

}  // namespace rt::optim
