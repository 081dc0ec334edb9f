// Adam / AdamW: hyperparameter checks, host step scalars (bias corrections in double), the
// scalar reference loop, and the dispatch of chunks to the reference / AVX2 / AVX-512 kernels.
#include "optim/adam.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "common/cpu.h"
#include "optim/multi_tensor.h"

namespace rt::optim {

const char* adam_check(const AdamHyper& h) {
  if (!std::isfinite(h.lr) || h.lr < 0) return "lr must be a finite number >= 0";
  if (!(h.beta1 >= 0 && h.beta1 < 1)) return "beta1 must be in [0, 1)";
  if (!(h.beta2 >= 0 && h.beta2 < 1)) return "beta2 must be in [0, 1)";
  if (!std::isfinite(h.eps) || h.eps < 0) return "eps must be a finite number >= 0";
  if (!std::isfinite(h.weight_decay) || h.weight_decay < 0) return "weightDecay must be a finite number >= 0";
  if (!(h.step >= 1 && h.step <= 9007199254740992.0) || h.step != std::floor(h.step))
    return "step must be an integer >= 1 (the number of this update)";
  return nullptr;
}

AdamScalars adam_scalars(const AdamHyper& h) {
  // Same doubles as torch 1.13: bc = 1 - beta ** step, step_size = lr / bc1, sqrt(bc2).
  double bc1 = 1.0 - std::pow(h.beta1, h.step);
  double bc2 = 1.0 - std::pow(h.beta2, h.step);
  AdamScalars s;
  s.sign = h.maximize ? -1.0f : 1.0f;
  s.weight_decay = static_cast<float>(h.weight_decay);
  s.param_decay = static_cast<float>(1.0 - h.lr * h.weight_decay);
  s.beta1 = static_cast<float>(h.beta1);
  s.one_minus_beta1 = static_cast<float>(1.0 - h.beta1);
  s.beta2 = static_cast<float>(h.beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - h.beta2);
  s.bias_correction2_sqrt = static_cast<float>(std::sqrt(bc2));
  s.neg_step_size = static_cast<float>(-(h.lr / bc1));
  s.eps = static_cast<float>(h.eps);
  s.has_weight_decay = h.weight_decay != 0;
  s.decoupled = h.decoupled;
  return s;
}

// torch's _single_tensor_adam / _single_tensor_adamw, one element at a time; each line is one
// torch op (addcmul is value*t1*t2 left to right, addcdiv is value*t1/t2).
void adam_range_ref(const AdamScalars& s, const AdamTensor& t, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    float g = s.sign * t.grad[i];
    float p = t.param[i];
    if (s.decoupled) {
      if (s.has_weight_decay) p = p * s.param_decay;
    } else if (s.has_weight_decay) {
      g = g + s.weight_decay * p;
    }
    float m = t.exp_avg[i] * s.beta1 + s.one_minus_beta1 * g;
    float v = t.exp_avg_sq[i] * s.beta2 + s.one_minus_beta2 * g * g;
    float denom = std::sqrt(v) / s.bias_correction2_sqrt + s.eps;
    t.exp_avg[i] = m;
    t.exp_avg_sq[i] = v;
    t.param[i] = p + s.neg_step_size * m / denom;
  }
}

void adam_step(const std::vector<AdamGroup>& groups) {
  std::vector<AdamScalars> scalars;
  scalars.reserve(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    if (const char* why = adam_check(groups[g].hyper))
      throw std::invalid_argument("adam group " + std::to_string(g) + ": " + why);
    scalars.push_back(adam_scalars(groups[g].hyper));
  }
  auto range = &adam_range_ref;
  switch (rt::cpu_level()) {
    case CpuLevel::AVX512: range = &adam_range_avx512; break;
    case CpuLevel::AVX2: range = &adam_range_avx2; break;
    default: break;
  }
  for_each_chunk(groups, [&](size_t g, const AdamTensor& t, size_t begin, size_t end) {
    range(scalars[g], t, begin, end);
  });
}

}  // namespace rt::optim
