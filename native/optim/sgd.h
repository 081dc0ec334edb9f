// Fused SGD step with torch.optim.SGD semantics, over every tensor of many parameter groups in
// one call. The host rounds each group's hyperparameters to fp32 step scalars once per step;
// the kernels are pure element-wise functions of those scalars (llm.c style).
#pragma once

#include <cstddef>
#include <vector>

namespace rt::optim {

struct SgdHyper {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
  // The momentum buffers hold no history yet: this step sets buf = g (no dampening), like torch
  // cloning the gradient into a fresh buffer.
  bool first_step = false;
};

// One tensor's arrays, all `size` floats. momentum_buf is unused (may be null) when momentum == 0.
struct SgdTensor {
  float* param;
  const float* grad;
  float* momentum_buf;
  size_t size;
};

struct SgdGroup {
  SgdHyper hyper;
  std::vector<SgdTensor> tensors;
};

// Step scalars in fp32, each rounded once from its double value, as torch casts Python floats.
struct SgdScalars {
  float sign;  // -1 when maximizing (exact, so -grad is bit-identical to torch's negation)
  float weight_decay;
  float momentum;
  float one_minus_dampening;
  float neg_lr;
  bool has_weight_decay, has_momentum, first_step, nesterov;
};

// Why these hyperparameters are invalid (torch's constructor rules plus finiteness), or nullptr.
const char* sgd_check(const SgdHyper& h);
SgdScalars sgd_scalars(const SgdHyper& h);

// Update elements [begin, end) of one tensor. The reference is a readable loop in torch's op
// order with every operation rounded to fp32; the SIMD versions fuse a + alpha*b into one FMA
// where torch's vectorised CPU kernels do, so they agree with the reference to fp32 rounding.
void sgd_range_ref(const SgdScalars& s, const SgdTensor& t, size_t begin, size_t end);
void sgd_range_avx2(const SgdScalars& s, const SgdTensor& t, size_t begin, size_t end);
void sgd_range_avx512(const SgdScalars& s, const SgdTensor& t, size_t begin, size_t end);

// One step for every tensor of every group, at the level rt::cpu_level() allows, across the
// thread pool. Throws std::invalid_argument (naming the group) on invalid hyperparameters.
void sgd_step(const std::vector<SgdGroup>& groups);

}  // namespace rt::optim
