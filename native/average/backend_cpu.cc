// CPU backend of the pipelined engine (threads == 1): one compute thread folds the chunks the
// reader thread stages. The chunk-parallel mode for more threads lives in engine.cc.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>

#include "average/backend.h"
#include "average/kernels.h"

namespace rt::average {
namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend(size_t chunk_elems, size_t stage_bytes, int slots, DType out)
      : out_dtype_(out),
        acc_(host_buffer(chunk_elems * sizeof(float))) {
    for (auto& o : out_) o = host_buffer(chunk_elems * kDTypeSize[static_cast<int>(out)]);
    for (int s = 0; s < slots; ++s) slots_.push_back(host_buffer(stage_bytes));
    accumulate_ = accumulate_for(cpu_level());
    convert_ = convert_for(cpu_level());
  }

  std::vector<unsigned char*> staging() override {
    std::vector<unsigned char*> v;
    for (auto& s : slots_) v.push_back(s.get());
    return v;
  }

  bool stages_memory() const override { return false; }

  size_t accumulate(const Item& item, DType dtype, float w, bool first) override {
    if (accumulate_(reinterpret_cast<float*>(acc_.get()), item.data, dtype, item.count, w, first) && bad_input_ < 0)
      bad_input_ = static_cast<int>(item.input);  // inputs arrive in order: the first is the lowest
    return 1;
  }

  ChunkOut finish(size_t count) override {
    unsigned char* out = out_[next_out_].get();
    next_out_ = (next_out_ + 1) % kOutBuffers;
    bool out_bad = convert_(reinterpret_cast<const float*>(acc_.get()), out, out_dtype_, count);
    ChunkOut r{out, bad_input_, out_bad};
    bad_input_ = -1;
    return r;
  }

 private:
  DType out_dtype_;
  HostBuffer acc_;
  HostBuffer out_[kOutBuffers];
  int next_out_ = 0;
  std::vector<HostBuffer> slots_;
  int bad_input_ = -1;
  AccumulateFn accumulate_;
  ConvertFn convert_;
};

}  // namespace

HostBuffer host_buffer(size_t bytes) {
  void* p = std::aligned_alloc(64, std::max<size_t>(64, (bytes + 63) / 64 * 64));
  if (!p) throw std::bad_alloc();
  return HostBuffer(static_cast<unsigned char*>(p));
}

std::unique_ptr<Backend> make_cpu_backend(size_t chunk_elems, size_t stage_bytes, int slots, DType out) {
  return std::make_unique<CpuBackend>(chunk_elems, stage_bytes, slots, out);
}

}  // namespace rt::average
