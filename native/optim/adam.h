// Fused Adam / AdamW step with torch.optim.Adam / AdamW semantics (torch 1.13 _single_tensor_adam
// op order in fp32), over every tensor of many parameter groups in one call. Bias corrections
// and step size are computed in double on the host once per step; kernels are element-wise.
#pragma once

#include <cstddef>
#include <vector>

namespace rt::optim {

struct AdamHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;  // AdamW: p *= 1 - lr*wd before the update instead of g += wd*p
  bool maximize = false;
  double step = 1;  // 1-based number of this update (torch's state step after its increment)
};

struct AdamTensor {
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  size_t size;
};

struct AdamGroup {
  AdamHyper hyper;
  std::vector<AdamTensor> tensors;
};

// fp32 step scalars, each rounded once from the double torch would pass as a Python float.
struct AdamScalars {
  float sign;  // -1 when maximizing
  float weight_decay;  // coupled: g += wd*p
  float param_decay;   // decoupled: p *= 1 - lr*wd
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float bias_correction2_sqrt;  // sqrt(1 - beta2^t)
  float neg_step_size;          // -lr / (1 - beta1^t)
  float eps;
  bool has_weight_decay, decoupled;
};

// Why these hyperparameters are invalid (torch's constructor rules plus finiteness), or nullptr.
const char* adam_check(const AdamHyper& h);
AdamScalars adam_scalars(const AdamHyper& h);

// Update elements [begin, end) of one tensor: reference loop and SIMD versions (see sgd.h).
void adam_range_ref(const AdamScalars& s, const AdamTensor& t, size_t begin, size_t end);
void adam_range_avx2(const AdamScalars& s, const AdamTensor& t, size_t begin, size_t end);
void adam_range_avx512(const AdamScalars& s, const AdamTensor& t, size_t begin, size_t end);

// One step for every tensor of every group across the thread pool; throws std::invalid_argument
// on invalid hyperparameters.
void adam_step(const std::vector<AdamGroup>& groups);

}  // namespace rt::optim
