// support/chunked_array.h — an append-only array with stable element addresses.
//
// Invariant: elements are appended by one writer at a time (the caller holds a mutex) and
// an index is published to readers only after its element is fully built, so readers may
// index concurrently with appends without locking. Storage is a fixed table of chunk
// pointers, so growing never moves existing elements or the table itself.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

namespace decoder {

template <typename T, int32_t kChunkBits = 10, int32_t kMaxChunks = 1 << 14>
class ChunkedArray {
 public:
  static constexpr int64_t kCapacity = int64_t(kMaxChunks) << kChunkBits;
  ChunkedArray() : chunks_(new std::unique_ptr<T[]>[kMaxChunks]) {}

  T& operator[](int64_t i) { return chunks_[i >> kChunkBits][i & kMask]; }
  const T& operator[](int64_t i) const { return chunks_[i >> kChunkBits][i & kMask]; }
  int64_t size() const { return size_.load(std::memory_order_acquire); }

  // Makes room for one more element (default constructed) and returns its index; the
  // element becomes visible through size() only after publish().
  int64_t reserve_next() {
    int64_t i = size_.load(std::memory_order_relaxed);
    if ((i & kMask) == 0) chunks_[i >> kChunkBits].reset(new T[int64_t(1) << kChunkBits]);
    return i;
  }
  void publish(int64_t i) { size_.store(i + 1, std::memory_order_release); }

 private:
  static constexpr int64_t kMask = (int64_t(1) << kChunkBits) - 1;
  std::unique_ptr<std::unique_ptr<T[]>[]> chunks_;
  std::atomic<int64_t> size_{0};
};

}  // namespace decoder
