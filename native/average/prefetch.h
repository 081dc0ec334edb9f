// The reader side of the pipelined engine (CPU with one thread, CUDA): a thread that walks the job
// in (tensor, chunk, input) order and preads each piece into the next free slot of a small ring
// of staging buffers while the consumer folds earlier ones into the accumulator. Memory: the slots.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
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
  // slots: host staging buffers, each at least chunk_elems * the largest source dtype size.
  // stage_memory: copy in-memory sources into the slots too (the CUDA path needs pinned memory).
  Prefetcher(const Job& job, const std::vector<File>& inputs, std::vector<unsigned char*> slots,
             size_t chunk_elems, bool stage_memory);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // The next item in order; false after the last. Rethrows the reader's error (e.g. short read)
  // once every item read before it has been handed out.
  bool next(Item& item);
  // The slot of the item last returned by next() may be refilled.
  void release();

 private:
  void run();
  // Spins briefly, then sleeps, until ready() holds. Hand-offs happen every few tens of
  // microseconds, about the cost of a futex sleep and wake-up, so a short spin saves most of them.
  template <class Pred>
  void await(const Pred& ready);
  void wake();

  const Job& job_;
  const std::vector<File>& inputs_;
  std::vector<unsigned char*> slots_;
  std::vector<Item> ready_;  // item staged in each slot
  size_t chunk_elems_;
  bool stage_memory_;

  std::mutex mu_;  // only for sleeping; the counters below are lock-free
  std::condition_variable cv_;
  std::atomic<uint64_t> produced_{0};  // items staged so far
  std::atomic<uint64_t> released_{0};  // items whose slot the consumer gave back
  uint64_t taken_ = 0;                 // items handed to the consumer (consumer thread only)
  std::atomic<bool> finished_{false};  // reader is done: all items staged, or error_ set
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;  // written before finished_ is set
  std::thread thread_;
};

}  // namespace rt::average
