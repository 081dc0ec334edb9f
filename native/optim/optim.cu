// CUDA multi-tensor SGD and Adam/AdamW: one launch per step updates every tensor of every group.
// Like PyTorch's MultiTensorApply, tensors are cut into 65536-element chunks and each block takes
// one chunk; the (tensor, chunk) tables live in device memory, so there is no per-launch limit on
// tensor count. Arithmetic uses explicitly rounded intrinsics (__fmaf_rn, __fdiv_rn, ...) in the
// order of the CPU SIMD kernels, so the two agree bit for bit.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/cuda_buffer.h"
#include "common/cuda_check.h"
#include "optim/optim_cuda.h"

namespace rt::optim {
namespace {

constexpr int kChunk = 65536;
constexpr int kThreads = 512;
constexpr int kMaxRoles = 4;   // param, grad, two state arrays
constexpr size_t kAlign = 64;  // floats: every tensor starts 256-byte aligned, so float4 loads are legal

struct DevTensor {
  float* a[kMaxRoles];
  long long n;
  int group;
};

struct DevChunk {
  int tensor;
  int index;
};

// Roles: 0 param, 1 grad, 2 momentum buffer.
struct SgdOp {
  using Scalars = SgdScalars;
  static constexpr int kRoles = 3;
  __device__ static bool loads(const Scalars& s, int role) {
    return role < 2 || (s.has_momentum && !s.first_step);
  }
  __device__ static bool stores(const Scalars& s, int role) { return role == 0 || (role == 2 && s.has_momentum); }
  __device__ static void apply(const Scalars& s, float* x) {
    float p = x[0];
    float g = __fmul_rn(x[1], s.sign);
    if (s.has_weight_decay) g = __fmaf_rn(p, s.weight_decay, g);
    if (s.has_momentum) {
      float buf = s.first_step ? g : __fmaf_rn(g, s.one_minus_dampening, __fmul_rn(x[2], s.momentum));
      x[2] = buf;
      g = s.nesterov ? __fmaf_rn(buf, s.momentum, g) : buf;
    }
    x[0] = __fmaf_rn(g, s.neg_lr, p);
  }
};

// Roles: 0 param, 1 grad, 2 exp_avg, 3 exp_avg_sq.
struct AdamOp {
  using Scalars = AdamScalars;
  static constexpr int kRoles = 4;
  __device__ static bool loads(const Scalars&, int) { return true; }
  __device__ static bool stores(const Scalars&, int role) { return role != 1; }
  __device__ static void apply(const Scalars& s, float* x) {
    float p = x[0];
    float g = __fmul_rn(x[1], s.sign);
    if (s.decoupled) {
      if (s.has_weight_decay) p = __fmul_rn(p, s.param_decay);
    } else if (s.has_weight_decay) {
      g = __fmaf_rn(p, s.weight_decay, g);
    }
    float m = __fmaf_rn(g, s.one_minus_beta1, __fmul_rn(x[2], s.beta1));
    float v = __fmaf_rn(__fmul_rn(s.one_minus_beta2, g), g, __fmul_rn(x[3], s.beta2));
    float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), s.bias_correction2_sqrt), s.eps);
    x[0] = __fadd_rn(p, __fdiv_rn(__fmul_rn(s.neg_step_size, m), denom));
    x[2] = m;
    x[3] = v;
  }
};

// One block per chunk; each thread takes 4 consecutive floats per pass (float4 loads and stores),
// and the ragged end of a tensor one float at a time.
template <class Op>
__global__ void __launch_bounds__(kThreads)
    multi_tensor_kernel(const DevTensor* tensors, const DevChunk* chunks, const typename Op::Scalars* scalars) {
  const DevChunk c = chunks[blockIdx.x];
  const DevTensor t = tensors[c.tensor];
  const typename Op::Scalars s = scalars[t.group];
  const long long begin = static_cast<long long>(c.index) * kChunk;
  const long long end = min(begin + static_cast<long long>(kChunk), t.n);
  for (long long i = begin + 4LL * threadIdx.x; i < end; i += 4LL * blockDim.x) {
    if (i + 4 <= end) {
      float4 v[Op::kRoles];
#pragma unroll
      for (int r = 0; r < Op::kRoles; ++r)
        v[r] = Op::loads(s, r) ? *reinterpret_cast<const float4*>(t.a[r] + i) : make_float4(0, 0, 0, 0);
#pragma unroll
      for (int lane = 0; lane < 4; ++lane) {
        float x[Op::kRoles];
#pragma unroll
        for (int r = 0; r < Op::kRoles; ++r) x[r] = reinterpret_cast<const float*>(&v[r])[lane];
        Op::apply(s, x);
#pragma unroll
        for (int r = 0; r < Op::kRoles; ++r) reinterpret_cast<float*>(&v[r])[lane] = x[r];
      }
#pragma unroll
      for (int r = 0; r < Op::kRoles; ++r)
        if (Op::stores(s, r)) *reinterpret_cast<float4*>(t.a[r] + i) = v[r];
    } else {
      for (long long j = i; j < end; ++j) {
        float x[Op::kRoles];
#pragma unroll
        for (int r = 0; r < Op::kRoles; ++r) x[r] = Op::loads(s, r) ? t.a[r][j] : 0.0f;
        Op::apply(s, x);
#pragma unroll
        for (int r = 0; r < Op::kRoles; ++r)
          if (Op::stores(s, r)) t.a[r][j] = x[r];
      }
    }
  }
}

// A host tensor seen as its role arrays (role 1, the gradient, is only read).
struct HostTensor {
  float* a[kMaxRoles];
  size_t n;
  int group;
};

// Uploads every role of every tensor into one packed device array per role, runs `steps`
// launches (step j reads scalars[j * groups ...]), times each with events, and downloads the
// roles in `written`.
template <class Op>
CudaRunStats run_steps(const std::vector<HostTensor>& host, const std::vector<typename Op::Scalars>& scalars,
                       int steps, int device, const std::vector<int>& written) {
  RT_CUDA_CHECK(cudaSetDevice(device));
  std::vector<size_t> offset(host.size());
  size_t total = 0;
  for (size_t i = 0; i < host.size(); ++i) {
    offset[i] = total;
    total += (host[i].n + kAlign - 1) / kAlign * kAlign;
  }
  std::vector<DeviceArray<float>> roles;
  for (int r = 0; r < Op::kRoles; ++r) {
    bool used = false;
    for (const HostTensor& t : host) used = used || (t.a[r] != nullptr && t.n > 0);
    roles.emplace_back(used ? total : 0);
  }
  std::vector<DevTensor> table(host.size());
  std::vector<DevChunk> chunks;
  for (size_t i = 0; i < host.size(); ++i) {
    for (int r = 0; r < kMaxRoles; ++r) table[i].a[r] = nullptr;
    for (int r = 0; r < Op::kRoles; ++r)
      if (host[i].a[r] && roles[r].get()) {
        table[i].a[r] = roles[r].get() + offset[i];
        roles[r].upload(host[i].a[r], host[i].n, offset[i]);
      }
    table[i].n = static_cast<long long>(host[i].n);
    table[i].group = host[i].group;
    for (size_t b = 0; b < host[i].n; b += kChunk)
      chunks.push_back({static_cast<int>(i), static_cast<int>(b / kChunk)});
  }
  DeviceArray<DevTensor> d_table(table.size());
  d_table.upload(table.data(), table.size());
  DeviceArray<DevChunk> d_chunks(chunks.size());
  d_chunks.upload(chunks.data(), chunks.size());
  DeviceArray<typename Op::Scalars> d_scalars(scalars.size());
  d_scalars.upload(scalars.data(), scalars.size());

  const size_t per_step = scalars.size() / static_cast<size_t>(steps);
  std::vector<CudaEvent> events(2 * static_cast<size_t>(steps));
  for (int j = 0; j < steps; ++j) {
    RT_CUDA_CHECK(cudaEventRecord(events[2 * j].get()));
    if (!chunks.empty()) {
      multi_tensor_kernel<Op><<<static_cast<unsigned>(chunks.size()), kThreads>>>(
          d_table.get(), d_chunks.get(), d_scalars.get() + j * per_step);
      RT_CUDA_CHECK(cudaGetLastError());
    }
    RT_CUDA_CHECK(cudaEventRecord(events[2 * j + 1].get()));
  }
  RT_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> ms(steps);
  for (int j = 0; j < steps; ++j) ms[j] = elapsed_ms(events[2 * j], events[2 * j + 1]);

  for (size_t i = 0; i < host.size(); ++i)
    for (int r : written)
      if (host[i].a[r] && roles[r].get()) roles[r].download(host[i].a[r], host[i].n, offset[i]);

  CudaRunStats stats;
  stats.steps = steps;
  std::sort(ms.begin(), ms.end());
  stats.min_ms = ms.front();
  stats.median_ms = steps % 2 ? ms[steps / 2] : 0.5 * (ms[steps / 2 - 1] + ms[steps / 2]);
  return stats;
}

void check_steps(int steps) {
  if (steps < 1) throw std::invalid_argument("steps must be >= 1");
}

}  // namespace

CudaRunStats cuda_sgd_steps(const std::vector<SgdGroup>& groups, int steps, int device) {
  check_steps(steps);
  std::vector<SgdScalars> scalars;
  for (int j = 0; j < steps; ++j)
    for (size_t g = 0; g < groups.size(); ++g) {
      SgdHyper h = groups[g].hyper;
      if (const char* why = sgd_check(h)) throw std::invalid_argument("sgd group " + std::to_string(g) + ": " + why);
      h.first_step = h.first_step && j == 0;
      scalars.push_back(sgd_scalars(h));
    }
  std::vector<HostTensor> host;
  for (size_t g = 0; g < groups.size(); ++g) {
    bool momentum = groups[g].hyper.momentum != 0;
    for (const SgdTensor& t : groups[g].tensors)
      host.push_back({{t.param, const_cast<float*>(t.grad), momentum ? t.momentum_buf : nullptr, nullptr},
                      t.size, static_cast<int>(g)});
  }
  return run_steps<SgdOp>(host, scalars, steps, device, {0, 2});
}

CudaRunStats cuda_adam_steps(const std::vector<AdamGroup>& groups, int steps, int device) {
  check_steps(steps);
  std::vector<AdamScalars> scalars;
  for (int j = 0; j < steps; ++j)
    for (size_t g = 0; g < groups.size(); ++g) {
      AdamHyper h = groups[g].hyper;
      h.step += j;
      if (const char* why = adam_check(h)) throw std::invalid_argument("adam group " + std::to_string(g) + ": " + why);
      scalars.push_back(adam_scalars(h));
    }
  std::vector<HostTensor> host;
  for (size_t g = 0; g < groups.size(); ++g)
    for (const AdamTensor& t : groups[g].tensors)
      host.push_back({{t.param, const_cast<float*>(t.grad), t.exp_avg, t.exp_avg_sq}, t.size, static_cast<int>(g)});
  return run_steps<AdamOp>(host, scalars, steps, device, {0, 2, 3});
}

}  // namespace rt::optim
