// The engine's file I/O: descriptors opened once per job and full-length pread/pwrite that retry
// on EINTR and short transfers. Transfers return an error detail instead of throwing, so each
// caller can say which input, tensor and file it concerns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace rt::average {

class File {
 public:
  // label names the file in open errors, e.g. "input 3 (/x/model.safetensors)"; throws AverageError.
  File(const std::string& path, bool writable, const std::string& label);
  ~File();
  File(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  File& operator=(File&&) = delete;

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  const std::string& label() const { return label_; }
  // Exactly n bytes at offset. Returns "" on success, else what went wrong (short read, errno).
  std::string read(void* dst, size_t n, uint64_t offset) const;
  std::string write(const void* src, size_t n, uint64_t offset) const;

 private:
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
  std::string label_;
};

}  // namespace rt::average
