// CUDA error checking shared by the .cu kernels: errors become return codes, never exits.
#include "common/cuda_check.h"

namespace rt {

std::string cuda_error_message(cudaError_t err, const char* what) {
  return std::string(what) + ": " + cudaGetErrorString(err);
}

}  // namespace rt
