// Reader threads of the weight-average engine: a ring of staging slots filled ahead of the consumer.
#include "average/prefetch.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace rt::average {

Prefetcher::Prefetcher(const Job& job, const std::vector<File>& inputs, std::vector<unsigned char*> slots,
                       size_t chunk_elems, bool stage_memory, int readers)
    : job_(job),
      inputs_(inputs),
      slots_(std::move(slots)),
      ready_(slots_.size()),
      chunk_elems_(chunk_elems),
      stage_memory_(stage_memory),
      first_item_(job.tensors.size() + 1, 0),
      staged_(new std::atomic<uint64_t>[slots_.size()]) {
  for (size_t t = 0; t < job.tensors.size(); ++t)
    first_item_[t + 1] = first_item_[t] + (job.tensors[t].numel + chunk_elems - 1) / chunk_elems * job.n();
  for (size_t s = 0; s < slots_.size(); ++s) staged_[s].store(0);
  const uint64_t stride = static_cast<uint64_t>(std::clamp<size_t>(readers, 1, slots_.size()));
  for (uint64_t r = 0; r <= stride; ++r) waiters_.push_back(std::make_unique<Waiter>());
  try {
    for (uint64_t r = 0; r < stride; ++r) threads_.emplace_back([this, r, stride] { run(r, stride); });
  } catch (...) {
    stop_.store(true);
    wake_all();
    for (auto& th : threads_) th.join();
    throw;
  }
}

Prefetcher::~Prefetcher() {
  stop_.store(true);
  wake_all();
  for (auto& th : threads_) th.join();
}

template <class Pred>
void Prefetcher::await(Waiter& w, const Pred& ready) {
  using Clock = std::chrono::steady_clock;
  const auto give_up = Clock::now() + std::chrono::microseconds(50);
  for (int spin = 1; !ready(); ++spin) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
    if (spin % 64 == 0 && Clock::now() > give_up) {
      std::unique_lock<std::mutex> lock(w.mu);
      w.cv.wait(lock, ready);
      return;
    }
  }
}

void Prefetcher::wake(Waiter& w) {
  // Taking the lock orders this wake-up after the sleeper's last check of its condition.
  { std::lock_guard<std::mutex> lock(w.mu); }
  w.cv.notify_one();
}

void Prefetcher::wake_all() {
  for (auto& w : waiters_) wake(*w);
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

Item Prefetcher::item_at(uint64_t m) const {
  const size_t t = static_cast<size_t>(std::upper_bound(first_item_.begin(), first_item_.end(), m) - first_item_.begin() - 1);
  const uint64_t local = m - first_item_[t];
  Item item;
  item.tensor = t;
  item.input = static_cast<size_t>(local % job_.n());
  item.first = local / job_.n() * chunk_elems_;
  item.count = static_cast<size_t>(std::min<uint64_t>(chunk_elems_, job_.tensors[t].numel - item.first));
  return item;
}

void Prefetcher::run(uint64_t reader, uint64_t stride) {
  const uint64_t nslots = slots_.size();
  for (uint64_t m = reader; m < first_item_.back(); m += stride) {
    // Slot m % nslots is free once item m - nslots was released; nothing past an error is read.
    await(*waiters_[reader], [&] { return stop_.load() || error_item_.load() < m || m - released_.load() < nslots; });
    if (stop_.load() || error_item_.load() < m) return;
    Item item = item_at(m);
    item.slot = static_cast<size_t>(m % nslots);
    try {
      // The pread the consumer overlaps with.
      item.data = stage_source(job_, inputs_, item.tensor, item.input, item.first, item.count, slots_[item.slot],
                               stage_memory_);
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(error_mu_);
        if (m < error_item_.load()) error_item_.store(m), error_ = std::current_exception();
      }
      wake_all();  // the consumer, and the readers of items past m, which stop
      return;
    }
    ready_[item.slot] = item;
    staged_[item.slot].store(m + 1);
    wake(*waiters_.back());
  }
}

bool Prefetcher::next(Item& item) {
  const uint64_t m = taken_;
  if (m >= first_item_.back()) return false;
  const size_t slot = static_cast<size_t>(m % slots_.size());
  await(*waiters_.back(), [&] { return staged_[slot].load() == m + 1 || error_item_.load() <= m; });
  if (staged_[slot].load() == m + 1) {
    item = ready_[slot];
    ++taken_;
    return true;
  }
  std::lock_guard<std::mutex> lock(error_mu_);
  std::rethrow_exception(error_);
}
void Prefetcher::release() {
  // Item k's slot is next filled with item k + slots, by that item's reader only.
  const uint64_t k = released_.fetch_add(1);
  wake(*waiters_[(k + slots_.size()) % (waiters_.size() - 1)]);
}

}  // namespace rt::average
