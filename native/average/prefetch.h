// The reader side of the pipelined engine (CPU with one thread, CUDA): reader threads that walk the
// job in (tensor, chunk, input) order and pread each piece into the next free slot of a small ring
// of staging buffers while the consumer folds earlier ones into the accumulator. Item m goes to
// slot m % slots and is read by reader m % readers: one thread's pread of the page cache is a
// fraction of what a GPU's host link takes (8 of ~50 GB/s on an H200 host). Memory: the slots.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "average/files.h"
#include "average/job.h"

namespace rt::average {

// count elements [first, first + count) of tensor `tensor` from input `input`.
struct Item {
  size_t tensor = 0;
  size_t input = 0;
  uint64_t first = 0;
  size_t count = 0;
  size_t slot = 0;                       // staging slot holding the data (when staged)
  const unsigned char* data = nullptr;   // the slot, or the caller's memory for unstaged sources
};

// Makes count values of input i of tensor t, from element first, available in memory: preads them
// into dst (file sources, or in-memory ones when stage_memory), or points into the caller's memory.
// A failed read throws AverageError naming the input, file and tensor.
const unsigned char* stage_source(const Job& job, const std::vector<File>& inputs, size_t t, size_t i, uint64_t first,
                                  size_t count, unsigned char* dst, bool stage_memory);

class Prefetcher {
 public:
  // slots: host staging buffers, each at least chunk_elems * the largest source dtype size; at
  // least `readers` of them. stage_memory: copy in-memory sources into the slots too (the CUDA path
  // needs pinned memory).
  Prefetcher(const Job& job, const std::vector<File>& inputs, std::vector<unsigned char*> slots,
             size_t chunk_elems, bool stage_memory, int readers = 1);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // The next item in order; false after the last. Rethrows the reader's error (e.g. short read)
  // once every item read before it has been handed out.
  bool next(Item& item);
  // The slot of the item last returned by next() may be refilled.
  void release();

 private:
  // One sleeper per waiter: reader r sleeps on waiters_[r], the consumer on waiters_.back(), so a
  // hand-off wakes exactly the thread it concerns (a shared condition variable woke every reader
  // per item, and their lock traffic slowed the consumer more than extra readers gained).
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
  };
  // Reader `reader` of `stride`: stages items reader, reader + stride, ...
  void run(uint64_t reader, uint64_t stride);
  // Spins briefly, then sleeps on w, until ready() holds. Hand-offs happen every few tens of
  // microseconds, about the cost of a futex sleep and wake-up, so a short spin saves most of them.
  template <class Pred>
  void await(Waiter& w, const Pred& ready);
  static void wake(Waiter& w);
  void wake_all();

  // Item m of the job's (tensor, chunk, input) order, without its slot and data.
  Item item_at(uint64_t m) const;

  const Job& job_;
  const std::vector<File>& inputs_;
  std::vector<unsigned char*> slots_;
  std::vector<Item> ready_;  // item staged in each slot
  size_t chunk_elems_;
  bool stage_memory_;
  std::vector<uint64_t> first_item_;  // tensor t's items start at first_item_[t]; back(): the total

  std::vector<std::unique_ptr<Waiter>> waiters_;  // readers', then the consumer's
  std::mutex error_mu_;
  std::unique_ptr<std::atomic<uint64_t>[]> staged_;  // per slot: 1 + the item staged there last
  std::atomic<uint64_t> released_{0};                // items whose slot the consumer gave back
  uint64_t taken_ = 0;                               // items handed to the consumer (its thread only)
  std::atomic<uint64_t> error_item_{UINT64_MAX};     // lowest item whose read failed
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;  // the error of error_item_, written under error_mu_
  std::vector<std::thread> threads_;
};

}  // namespace rt::average
