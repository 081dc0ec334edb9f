// The shared thread pool behind rt::parallel_for: workers pull indices from one atomic counter
// (the caller helps), and a nested parallel_for runs inline rather than deadlocking on the pool.
#include "common/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace rt {
namespace {

class Pool {
 public:
  ~Pool() { resize(0); }

  void resize(int workers) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_all();
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
    stop_ = false;
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { loop(); });
  }

  int workers() const { return static_cast<int>(threads_.size()); }

  void run(size_t n, const std::function<void(size_t)>& fn) {
    std::unique_lock<std::mutex> run_lock(run_mu_);
    {
      std::unique_lock<std::mutex> lock(mu_);
      fn_ = &fn;
      n_ = n;
      next_.store(0);
      active_ = static_cast<int>(threads_.size());
      ++generation_;
      cv_.notify_all();
    }
    drain();
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return active_ == 0; });
    fn_ = nullptr;
  }

 private:
  void drain() {
    for (size_t i = next_.fetch_add(1); i < n_; i = next_.fetch_add(1)) (*fn_)(i);
  }

  void loop() {
    size_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      drain();
      std::unique_lock<std::mutex> lock(mu_);
      if (--active_ == 0) done_cv_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
  int active_ = 0;
  size_t generation_ = 0;
  bool stop_ = false;
};

Pool& pool() {
  static Pool p;
  return p;
}

std::mutex g_config_mu;
int g_threads = 0;  // total threads including the caller
thread_local bool t_inside = false;

int hardware_threads() {
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

}  // namespace

int set_num_threads(int n) {
  std::lock_guard<std::mutex> lock(g_config_mu);
  g_threads = n <= 0 ? hardware_threads() : std::min(n, 256);
  pool().resize(g_threads - 1);
  return g_threads;
}

int num_threads() {
  std::lock_guard<std::mutex> lock(g_config_mu);
  if (g_threads == 0) {
    g_threads = hardware_threads();
    pool().resize(g_threads - 1);
  }
  return g_threads;
}

void parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (t_inside || n == 1 || num_threads() == 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  t_inside = true;
  try {
    pool().run(n, [&](size_t i) {
      bool was = t_inside;
      t_inside = true;
      fn(i);
      t_inside = was;
    });
  } catch (...) {
    t_inside = false;
    throw;
  }
  t_inside = false;
}

}  // namespace rt
