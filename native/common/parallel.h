// A small persistent thread pool for element-wise kernels.
// Work is split into independent index ranges, so results do not depend on the thread count.
#pragma once

#include <cstddef>
#include <functional>

namespace rt {

// Threads used by parallel_for; 0 means hardware concurrency. Returns the count now in force.
int set_num_threads(int n);
int num_threads();

// Calls fn(i) for every i in [0, n) across the pool; the calling thread takes part.
// Blocks until all calls returned. Reentrant calls from inside fn run serially.
// fn must not throw: kernels report failures through their return values.
void parallel_for(size_t n, const std::function<void(size_t)>& fn);

}  // namespace rt
