// Without a CUDA build the CUDA optimizer entry points exist and say why they cannot run.
#include "optim/optim_cuda.h"

#ifndef RT_WITH_CUDA
#include <stdexcept>

namespace rt::optim {

CudaRunStats cuda_sgd_steps(const std::vector<SgdGroup>&, int, int) {
  throw std::runtime_error("CUDA kernels not built (configure with RATATOUILLE_CUDA=ON and nvcc)");
}
CudaRunStats cuda_adam_steps(const std::vector<AdamGroup>&, int, int) {
  throw std::runtime_error("CUDA kernels not built (configure with RATATOUILLE_CUDA=ON and nvcc)");
}

}  // namespace rt::optim
#endif
