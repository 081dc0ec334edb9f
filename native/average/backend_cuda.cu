// CUDA backend of the weight average. Host side: pinned staging slots that the reader threads
// fill. Device side: a twin of each slot, the fp32 accumulator and the output chunk. Each input
// chunk is copied on a copy stream while the compute stream folds the previous one in, so the H2D
// transfer of chunk k+1 overlaps the accumulate kernel of chunk k. The arithmetic is the CPU
// reference's: __fmul_rn for the first input, __fmaf_rn after, round-to-nearest-even outputs.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "average/backend.h"
#include "common/cuda_buffer.h"
#include "common/cuda_check.h"

namespace rt::average {
namespace {

constexpr int kBlock = 256;
constexpr int kMaxBlocks = 4096;

__device__ __forceinline__ float widen_f16(unsigned short h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float widen_bf16(unsigned short h) { return __uint_as_float(static_cast<unsigned>(h) << 16); }

template <int D>
__device__ __forceinline__ float load_as_f32(const unsigned char* src, size_t j) {
  if constexpr (D == static_cast<int>(DType::F16)) return widen_f16(reinterpret_cast<const unsigned short*>(src)[j]);
  else if constexpr (D == static_cast<int>(DType::BF16)) return widen_bf16(reinterpret_cast<const unsigned short*>(src)[j]);
  else if constexpr (D == static_cast<int>(DType::F64)) return __double2float_rn(reinterpret_cast<const double*>(src)[j]);
  else return reinterpret_cast<const float*>(src)[j];
}

// Four consecutive source values as one load (16 bytes of F32, 8 of F16/BF16): a scalar loop
// reaches ~0.85 of the device triad, vector loads close most of the rest.
template <int D>
struct Vec4Load {
  __device__ __forceinline__ static float4 at(const unsigned char* src, size_t q) {
    if constexpr (D == static_cast<int>(DType::F32)) {
      return reinterpret_cast<const float4*>(src)[q];
    } else {
      const ushort4 h = reinterpret_cast<const ushort4*>(src)[q];
      if constexpr (D == static_cast<int>(DType::F16))
        return make_float4(widen_f16(h.x), widen_f16(h.y), widen_f16(h.z), widen_f16(h.w));
      else
        return make_float4(widen_bf16(h.x), widen_bf16(h.y), widen_bf16(h.z), widen_bf16(h.w));
    }
  }
};

template <bool First>
__device__ __forceinline__ float fold(float w, float x, float a) {
  return First ? __fmul_rn(w, x) : __fmaf_rn(w, x, a);
}

// src and acc are slot/accumulator starts (cudaMalloc: 256-byte aligned), so quads are aligned.
// F64 keeps the scalar loop: its loads are already 8 bytes wide.
template <int D, bool First>
__global__ void accumulate_kernel(float* acc, const unsigned char* src, size_t n, float w, int input, int* bad_min) {
  bool bad = false;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t tid = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  size_t scalar_from = 0;
  if constexpr (D != static_cast<int>(DType::F64)) {
    float4* acc4 = reinterpret_cast<float4*>(acc);
    const size_t quads = n / 4;
    for (size_t q = tid; q < quads; q += stride) {
      const float4 x = Vec4Load<D>::at(src, q);
      const float4 a = First ? make_float4(0.f, 0.f, 0.f, 0.f) : acc4[q];
      bad |= !isfinite(x.x) || !isfinite(x.y) || !isfinite(x.z) || !isfinite(x.w);
      acc4[q] = make_float4(fold<First>(w, x.x, a.x), fold<First>(w, x.y, a.y), fold<First>(w, x.z, a.z),
                            fold<First>(w, x.w, a.w));
    }
    scalar_from = quads * 4;
  }
  for (size_t j = scalar_from + tid; j < n; j += stride) {
    const float x = load_as_f32<D>(src, j);
    bad |= !isfinite(x);
    acc[j] = fold<First>(w, x, First ? 0.f : acc[j]);
  }
  if (bad) atomicMin(bad_min, input);
}

__global__ void convert_kernel(const float* acc, unsigned char* out, int dtype, size_t n, int* out_bad) {
  bool bad = false;
  for (size_t j = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<size_t>(gridDim.x) * blockDim.x) {
    float a = acc[j];
    if (dtype == static_cast<int>(DType::F16)) {
      unsigned short h = __half_as_ushort(__float2half_rn(a));
      bad |= (h & 0x7c00u) == 0x7c00u;
      reinterpret_cast<unsigned short*>(out)[j] = h;
    } else if (dtype == static_cast<int>(DType::BF16)) {
      unsigned short h = __bfloat16_as_ushort(__float2bfloat16_rn(a));
      bad |= (h & 0x7f80u) == 0x7f80u;
      reinterpret_cast<unsigned short*>(out)[j] = h;
    } else {
      bad |= !isfinite(a);
      reinterpret_cast<float*>(out)[j] = a;
    }
  }
  if (bad) atomicOr(out_bad, 1);
}

int blocks_for(size_t n) { return static_cast<int>(std::min<size_t>((n + kBlock - 1) / kBlock, kMaxBlocks)); }

template <int D>
void launch_accumulate(bool first, float* acc, const unsigned char* src, size_t n, float w, int input, int* bad,
                       cudaStream_t s) {
  const int blocks = blocks_for(D == static_cast<int>(DType::F64) ? n : (n + 3) / 4);
  if (first) accumulate_kernel<D, true><<<blocks, kBlock, 0, s>>>(acc, src, n, w, input, bad);
  else accumulate_kernel<D, false><<<blocks, kBlock, 0, s>>>(acc, src, n, w, input, bad);
}

// Two ints read back with each output chunk: [kBadMin] the lowest input with a non-finite value,
// reset by memset to bytes 0x7f (kNoBadInput, above any input index); [kOutBad] output overflow.
constexpr int kBadMin = 0, kOutBad = 1;
constexpr int kNoBadInput = 0x7f7f7f7f;

// Page-locked host memory, so H2D/D2H copies are true DMA and can run asynchronously.
class PinnedBuffer {
 public:
  explicit PinnedBuffer(size_t bytes) {
    RT_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&p_), std::max<size_t>(bytes, 1), cudaHostAllocDefault));
  }
  ~PinnedBuffer() {
    if (p_) cudaFreeHost(p_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  unsigned char* get() const { return p_; }

 private:
  unsigned char* p_ = nullptr;
};

class Stream {
 public:
  Stream() { RT_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

// Per staging slot: the pinned buffer the reader fills, its device twin, and the events that
// order "copy done" before the kernel and "kernel done" before the next copy into the twin.
struct Slot {
  explicit Slot(size_t bytes) : host(bytes), device(bytes) {}
  PinnedBuffer host;
  DeviceArray<unsigned char> device;
  CudaEvent copied, consumed;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(size_t chunk_elems, size_t stage_bytes, int slots, DType out)
      : out_dtype_(out),
        acc_(chunk_elems),
        dev_out_(chunk_elems * kDTypeSize[static_cast<int>(out)]),
        dev_flags_(2),
        host_flags_(2 * sizeof(int)) {
    for (int s = 0; s < slots; ++s) slots_.push_back(std::make_unique<Slot>(stage_bytes));
    for (auto& o : host_out_) o = std::make_unique<PinnedBuffer>(chunk_elems * kDTypeSize[static_cast<int>(out)]);
    reset_flags();
    RT_CUDA_CHECK(cudaStreamSynchronize(compute_.get()));
  }

  ~CudaBackend() override {
    // In-flight work must finish before the members free the memory it uses; errors are moot here.
    cudaStreamSynchronize(copy_.get());
    cudaStreamSynchronize(compute_.get());
    cudaGetLastError();
  }

  std::vector<unsigned char*> staging() override {
    std::vector<unsigned char*> v;
    for (auto& s : slots_) v.push_back(s->host.get());
    return v;
  }
  bool stages_memory() const override { return true; }

  size_t accumulate(const Item& item, DType dtype, float w, bool first) override {
    try {
      Slot& slot = *slots_[item.slot];
      const size_t bytes = item.count * kDTypeSize[static_cast<int>(dtype)];
      cudaStream_t copy = copy_.get(), compute = compute_.get();
      // The device twin may still feed the kernel of the previous item in this slot.
      RT_CUDA_CHECK(cudaStreamWaitEvent(copy, slot.consumed.get(), 0));
      RT_CUDA_CHECK(cudaMemcpyAsync(slot.device.get(), slot.host.get(), bytes, cudaMemcpyHostToDevice, copy));
      RT_CUDA_CHECK(cudaEventRecord(slot.copied.get(), copy));
      RT_CUDA_CHECK(cudaStreamWaitEvent(compute, slot.copied.get(), 0));
      const int input = static_cast<int>(item.input);
      int* bad = dev_flags_.get() + kBadMin;
      const unsigned char* src = slot.device.get();
      switch (dtype) {
        case DType::F16: launch_accumulate<1>(first, acc_.get(), src, item.count, w, input, bad, compute); break;
        case DType::BF16: launch_accumulate<2>(first, acc_.get(), src, item.count, w, input, bad, compute); break;
        case DType::F64: launch_accumulate<3>(first, acc_.get(), src, item.count, w, input, bad, compute); break;
        default: launch_accumulate<0>(first, acc_.get(), src, item.count, w, input, bad, compute); break;
      }
      RT_CUDA_CHECK(cudaGetLastError());
      RT_CUDA_CHECK(cudaEventRecord(slot.consumed.get(), compute));
      // The reader may refill the previous item's pinned buffer once its bytes are on the device:
      // waiting for that copy, not this one, keeps the copy engine fed. The kernels run on.
      size_t freed = 0;
      if (held_) {
        RT_CUDA_CHECK(cudaEventSynchronize(slots_[held_slot_]->copied.get()));
        freed = 1;
      }
      held_ = true, held_slot_ = item.slot;
      return freed;
    } catch (const CudaError& e) {
      throw AverageError(AverageError::Kind::Device, std::string("CUDA: ") + e.what());
    }
  }

  ChunkOut finish(size_t count) override {
    unsigned char* out = nullptr;
    try {
      cudaStream_t compute = compute_.get();
      const size_t out_bytes = count * kDTypeSize[static_cast<int>(out_dtype_)];
      convert_kernel<<<blocks_for(count), kBlock, 0, compute>>>(acc_.get(), dev_out_.get(),
                                                                static_cast<int>(out_dtype_), count,
                                                                dev_flags_.get() + kOutBad);
      RT_CUDA_CHECK(cudaGetLastError());
      out = host_out_[next_out_]->get();
      next_out_ = (next_out_ + 1) % kOutBuffers;
      RT_CUDA_CHECK(cudaMemcpyAsync(out, dev_out_.get(), out_bytes, cudaMemcpyDeviceToHost, compute));
      RT_CUDA_CHECK(cudaMemcpyAsync(host_flags_.get(), dev_flags_.get(), 2 * sizeof(int), cudaMemcpyDeviceToHost, compute));
      reset_flags();
      RT_CUDA_CHECK(cudaStreamSynchronize(compute));  // after every kernel, so after every copy
    } catch (const CudaError& e) {
      throw AverageError(AverageError::Kind::Device, std::string("CUDA: ") + e.what());
    }
    const size_t freed = held_ ? 1 : 0;
    held_ = false;
    int flags[2];
    std::memcpy(flags, host_flags_.get(), sizeof flags);
    return ChunkOut{out, flags[kBadMin] == kNoBadInput ? -1 : flags[kBadMin], flags[kOutBad] != 0, freed};
  }

 private:
  void reset_flags() {
    RT_CUDA_CHECK(cudaMemsetAsync(dev_flags_.get() + kBadMin, 0x7f, sizeof(int), compute_.get()));
    RT_CUDA_CHECK(cudaMemsetAsync(dev_flags_.get() + kOutBad, 0, sizeof(int), compute_.get()));
  }

  DType out_dtype_;
  Stream copy_, compute_;  // declared first: destroyed after the memory they use
  std::vector<std::unique_ptr<Slot>> slots_;
  DeviceArray<float> acc_;
  DeviceArray<unsigned char> dev_out_;
  std::unique_ptr<PinnedBuffer> host_out_[kOutBuffers];
  int next_out_ = 0;
  bool held_ = false;     // the last item's slot is kept until its copy is known done
  size_t held_slot_ = 0;
  DeviceArray<int> dev_flags_;
  PinnedBuffer host_flags_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(size_t chunk_elems, size_t stage_bytes, int slots, DType out) {
  try {
    RT_CUDA_CHECK(cudaSetDevice(0));
    return std::make_unique<CudaBackend>(chunk_elems, stage_bytes, slots, out);
  } catch (const CudaError& e) {
    throw AverageError(AverageError::Kind::Device, std::string("CUDA device not available: ") + e.what());
  }
}

KernelTiming cuda_accumulate_timing(DType dtype, size_t elems, int inputs, int repeats) {
  if (elems == 0 || inputs < 1 || repeats < 1) throw std::invalid_argument("cuda_accumulate_timing: empty run");
  RT_CUDA_CHECK(cudaSetDevice(0));
  const size_t es = kDTypeSize[static_cast<int>(dtype)];
  DeviceArray<unsigned char> src(elems * es);
  DeviceArray<float> acc(elems);
  DeviceArray<int> bad(1);
  // Bytes 0x3c make finite values in every dtype, so the kernel takes its common path.
  RT_CUDA_CHECK(cudaMemset(src.get(), 0x3c, elems * es));
  RT_CUDA_CHECK(cudaMemset(bad.get(), 0x7f, sizeof(int)));
  CudaEvent start, stop;
  std::vector<double> ms;
  for (int r = 0; r <= repeats; ++r) {
    RT_CUDA_CHECK(cudaEventRecord(start.get()));
    for (int i = 0; i < inputs; ++i) {
      switch (dtype) {
        case DType::F16: launch_accumulate<1>(i == 0, acc.get(), src.get(), elems, 0.125f, i, bad.get(), 0); break;
        case DType::BF16: launch_accumulate<2>(i == 0, acc.get(), src.get(), elems, 0.125f, i, bad.get(), 0); break;
        case DType::F64: launch_accumulate<3>(i == 0, acc.get(), src.get(), elems, 0.125f, i, bad.get(), 0); break;
        default: launch_accumulate<0>(i == 0, acc.get(), src.get(), elems, 0.125f, i, bad.get(), 0); break;
      }
      RT_CUDA_CHECK(cudaGetLastError());
    }
    RT_CUDA_CHECK(cudaEventRecord(stop.get()));
    const double t = elapsed_ms(start, stop);
    if (r > 0) ms.push_back(t);  // r == 0 warms up
  }
  std::sort(ms.begin(), ms.end());
  KernelTiming k;
  k.min_ms = ms.front();
  k.median_ms = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
  k.bytes = static_cast<double>(elems) * (static_cast<double>(inputs) * (es + 4) + 4.0 * (inputs - 1));
  return k;
}

}  // namespace rt::average
