// What the CUDA side of the build can see. All functions are safe without a GPU or driver.
#pragma once

#include <string>

namespace rt {

bool cuda_built();
// Number of visible devices; 0 when CUDA was not built, no driver is loaded or no GPU exists.
int cuda_device_count();
// "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)" or an explanation of why there is none.
std::string cuda_device_summary(int device);
// Theoretical peak memory bandwidth of a device in GB/s (0 when unknown).
double cuda_peak_bandwidth_gbs(int device);

}  // namespace rt
