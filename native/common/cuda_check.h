// CUDA error checking shared by the .cu kernels: a failed call throws rt::CudaError, which the
// bindings turn into a JS error. Kernels never call exit() or abort().
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace rt {

std::string cuda_error_message(cudaError_t err, const char* what);

struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#define RT_CUDA_CHECK(call)                                                 \
  do {                                                                      \
    cudaError_t rt_err_ = (call);                                           \
    if (rt_err_ != cudaSuccess) {                                           \
      cudaGetLastError();                                                   \
      throw ::rt::CudaError(::rt::cuda_error_message(rt_err_, #call));      \
    }                                                                       \
  } while (0)

}  // namespace rt
