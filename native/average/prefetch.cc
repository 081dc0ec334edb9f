// Reader thread of the weight-average engine: a ring of staging slots filled ahead of the consumer.
#include "average/prefetch.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace rt::average {

Prefetcher::Prefetcher(const Job& job, const std::vector<File>& inputs, std::vector<unsigned char*> slots,
                       size_t chunk_elems, bool stage_memory)
    : job_(job),
      inputs_(inputs),
      slots_(std::move(slots)),
      ready_(slots_.size()),
      chunk_elems_(chunk_elems),
      stage_memory_(stage_memory) {
  thread_ = std::thread([this] { run(); });
}

Prefetcher::~Prefetcher() {
  stop_.store(true);
  wake();
  thread_.join();
}

template <class Pred>
void Prefetcher::await(const Pred& ready) {
  using Clock = std::chrono::steady_clock;
  const auto give_up = Clock::now() + std::chrono::microseconds(50);
  for (int spin = 1; !ready(); ++spin) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
    if (spin % 64 == 0 && Clock::now() > give_up) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, ready);
      return;
    }
  }
}

void Prefetcher::wake() {
  // Taking the lock orders this wake-up after a sleeper's last check of its condition.
  { std::lock_guard<std::mutex> lock(mu_); }
  cv_.notify_all();
}

const unsigned char* stage_source(const Job& job, const std::vector<File>& inputs, size_t t, size_t i, uint64_t first,
                                  size_t count, unsigned char* dst, bool stage_memory) {
  const Source& src = job.source(t, i);
  const size_t es = kDTypeSize[static_cast<int>(src.dtype)];
  const size_t nbytes = count * es;
  const uint64_t skip = first * es;
  if (src.path < 0) {
    if (!stage_memory) return src.bytes + skip;
    std::memcpy(dst, src.bytes + skip, nbytes);
    return dst;
  }
  const File& f = inputs[src.path];
  std::string err = f.read(dst, nbytes, src.offset + skip);
  if (!err.empty()) {
    const std::string& name = job.tensors[t].name;
    throw AverageError(AverageError::Kind::Io,
                       "input " + std::to_string(i) + " (" + f.path() + "): tensor \"" + name + "\": " + err,
                       static_cast<int>(i), name, f.path());
  }
  return dst;
}

void Prefetcher::run() {
  const size_t n = job_.n();
  const uint64_t nslots = slots_.size();
  try {
    for (size_t t = 0; t < job_.tensors.size(); ++t) {
      const uint64_t numel = job_.tensors[t].numel;
      for (uint64_t first = 0; first < numel; first += chunk_elems_) {
        for (size_t i = 0; i < n; ++i) {
          Item item;
          item.tensor = t;
          item.input = i;
          item.first = first;
          item.count = static_cast<size_t>(std::min<uint64_t>(chunk_elems_, numel - first));
          const uint64_t k = produced_.load(std::memory_order_relaxed);
          await([&] { return stop_.load() || k - released_.load() < nslots; });
          if (stop_.load()) return;
          item.slot = static_cast<size_t>(k % nslots);
          // The pread the consumer overlaps with.
          item.data = stage_source(job_, inputs_, t, i, first, item.count, slots_[item.slot], stage_memory_);
          ready_[item.slot] = item;
          produced_.store(k + 1);
          wake();
        }
      }
    }
  } catch (...) {
    error_ = std::current_exception();
  }
  finished_.store(true);
  wake();
}

bool Prefetcher::next(Item& item) {
  await([&] { return taken_ < produced_.load() || finished_.load(); });
  if (taken_ < produced_.load()) {
    item = ready_[taken_ % slots_.size()];
    ++taken_;
    return true;
  }
  if (error_) std::rethrow_exception(error_);
  return false;
}

void Prefetcher::release() {
  released_.fetch_add(1);
  wake();
}

}  // namespace rt::average
