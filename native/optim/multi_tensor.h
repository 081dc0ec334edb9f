// CPU multi-tensor apply: cuts every tensor of every group into fixed-size chunks and runs the
// chunks across the thread pool. Chunk boundaries depend only on tensor sizes, never on the
// thread count, and each element is computed the same way wherever it falls, so results are
// bit-identical for any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/parallel.h"

namespace rt::optim {

// 32 Ki floats = 128 KiB per stream: large enough to amortise scheduling, small enough to
// balance the tail across threads.
constexpr size_t kCpuChunk = size_t{1} << 15;

// Below this many elements a step runs on the calling thread: waking the pool costs more.
constexpr size_t kSerialBelow = size_t{1} << 16;

// fn(group_index, tensor, begin, end) for every chunk; Group has a `tensors` vector whose items
// have a `size`. fn must not throw.
template <class Group, class Fn>
void for_each_chunk(const std::vector<Group>& groups, const Fn& fn) {
  struct Chunk {
    uint32_t group, tensor;
    size_t begin;
  };
  std::vector<Chunk> chunks;
  size_t total = 0;
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t t = 0; t < groups[g].tensors.size(); ++t) {
      size_t n = groups[g].tensors[t].size;
      total += n;
      for (size_t b = 0; b < n; b += kCpuChunk)
        chunks.push_back({static_cast<uint32_t>(g), static_cast<uint32_t>(t), b});
    }
  auto run = [&](size_t c) {
    const Chunk& k = chunks[c];
    const auto& tensor = groups[k.group].tensors[k.tensor];
    size_t end = k.begin + kCpuChunk < tensor.size ? k.begin + kCpuChunk : tensor.size;
    fn(k.group, tensor, k.begin, end);
  };
  if (total < kSerialBelow) {
    for (size_t c = 0; c < chunks.size(); ++c) run(c);
  } else {
    rt::parallel_for(chunks.size(), run);
  }
}

}  // namespace rt::optim
