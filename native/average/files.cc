// File I/O of the weight-average engine and the read-bandwidth probe that shares its pattern.
#include "average/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "average/job.h"

namespace rt::average {

using Kind = AverageError::Kind;

File::File(const std::string& path, bool writable, const std::string& label) : path_(path), label_(label) {
  // Outputs are created (header and framing written) by the caller: never create or truncate here.
  fd_ = ::open(path.c_str(), (writable ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
  if (fd_ < 0) throw AverageError(Kind::Io, label_ + ": cannot open: " + std::strerror(errno), -1, {}, path);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw AverageError(Kind::Io, label_ + ": cannot stat: " + std::strerror(err), -1, {}, path);
  }
  size_ = static_cast<uint64_t>(st.st_size);
  // Each input is read front to back, one chunk per visit: let the kernel read further ahead.
  if (!writable) ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
}

File::File(File&& o) noexcept : fd_(o.fd_), size_(o.size_), path_(std::move(o.path_)), label_(std::move(o.label_)) {
  o.fd_ = -1;
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

std::string File::read(void* dst, size_t n, uint64_t offset) const {
  auto p = static_cast<unsigned char*>(dst);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd_, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return "read failed at byte " + std::to_string(offset + done) + ": " + std::strerror(errno);
    if (r == 0)
      return "short read: file ends at byte " + std::to_string(offset + done) + ", expected " +
             std::to_string(offset + n) + " (file changed while averaging?)";
    done += static_cast<size_t>(r);
  }
  return {};
}

std::string File::write(const void* src, size_t n, uint64_t offset) const {
  auto p = static_cast<const unsigned char*>(src);
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pwrite(fd_, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      return "write failed at byte " + std::to_string(offset + done) + ": " +
             (r < 0 ? std::strerror(errno) : "nothing written");
    done += static_cast<size_t>(r);
  }
  return {};
}

ReadBandwidth read_bandwidth(const std::vector<std::string>& paths, size_t chunk_bytes) {
  std::unique_ptr<unsigned char, decltype(&std::free)> buf(
      static_cast<unsigned char*>(std::aligned_alloc(64, (chunk_bytes + 63) / 64 * 64)), &std::free);
  if (!buf) throw std::bad_alloc();
  ReadBandwidth r;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < paths.size(); ++i) {
    File f(paths[i], false, "file " + std::to_string(i) + " (" + paths[i] + ")");
    for (uint64_t off = 0; off < f.size(); off += chunk_bytes) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_bytes, f.size() - off));
      std::string err = f.read(buf.get(), n, off);
      if (!err.empty()) throw AverageError(Kind::Io, f.label() + ": " + err, -1, {}, f.path());
      r.bytes += n;
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace rt::average
