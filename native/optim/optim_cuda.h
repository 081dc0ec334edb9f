// CUDA optimizer steps on host arrays, for tests and benchmarks: upload params, grads and state,
// run `steps` multi-tensor steps (one launch each over every tensor of every group), download
// params and state. Declared without CUDA headers; without a CUDA build the calls throw.
#pragma once

#include <vector>

#include "optim/adam.h"
#include "optim/sgd.h"

namespace rt::optim {

struct CudaRunStats {
  int steps = 0;
  double median_ms = 0, min_ms = 0;  // kernel time per step (CUDA events), transfers excluded
};

// SGD: the first step uses each group's first_step flag, later ones continue the momentum.
CudaRunStats cuda_sgd_steps(const std::vector<SgdGroup>& groups, int steps, int device);
// Adam: step j (0-based) runs with each group's hyper.step + j.
CudaRunStats cuda_adam_steps(const std::vector<AdamGroup>& groups, int steps, int device);

}  // namespace rt::optim
