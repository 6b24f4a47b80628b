// support/chunked_array.h — an append-only array with stable element addresses.
//
// Invariant: elements are appended by one writer at a time (the caller holds a mutex) and
// an index is published to readers only after its element is fully built, so readers may
// index concurrently with appends without locking. Storage is a fixed table of chunk
// pointers, so growing never moves existing elements or the table itself.
//
// Every grammar makes a few of these and most use a handful of elements, so nothing is
// paid for the capacity up front: the table holds only the chunks the capacity needs, and
// a chunk is raw storage whose elements are constructed as they are appended (and only
// those are destroyed).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>

namespace decoder {

template <typename T, int32_t kChunkBits = 10, int32_t kMaxChunks = 1 << 14>
class ChunkedArray {
 public:
  static constexpr int64_t kCapacity = int64_t(kMaxChunks) << kChunkBits;
  // Room for `capacity` elements (at most kCapacity; rounded up to whole chunks).
  explicit ChunkedArray(int64_t capacity = kCapacity)
      : num_chunks_(static_cast<int32_t>((std::min(std::max<int64_t>(capacity, 1), kCapacity) + kMask) >>
                                         kChunkBits)),
        chunks_(new T*[num_chunks_]()) {}
  ~ChunkedArray() {
    const int64_t n = size_.load(std::memory_order_relaxed) + (pending_ ? 1 : 0);
    for (int64_t i = 0; i < n; ++i) (*this)[i].~T();
    for (int32_t c = 0; c < num_chunks_; ++c) ::operator delete(chunks_[c]);
  }
  ChunkedArray(const ChunkedArray&) = delete;
  ChunkedArray& operator=(const ChunkedArray&) = delete;

  T& operator[](int64_t i) { return chunks_[i >> kChunkBits][i & kMask]; }
  const T& operator[](int64_t i) const { return chunks_[i >> kChunkBits][i & kMask]; }
  int64_t size() const { return size_.load(std::memory_order_acquire); }
  int64_t capacity() const { return int64_t(num_chunks_) << kChunkBits; }

  // Makes room for one more element (default constructed) and returns its index; the
  // element becomes visible through size() only after publish(). Calling it again before
  // publish() (an append abandoned by an exception) starts that element afresh.
  int64_t reserve_next() {
    const int64_t i = size_.load(std::memory_order_relaxed);
    if (i >= capacity()) throw std::length_error("ChunkedArray: capacity exceeded");
    T*& chunk = chunks_[i >> kChunkBits];
    if (chunk == nullptr) chunk = static_cast<T*>(::operator new(sizeof(T) << kChunkBits));
    if (pending_) {
      pending_ = false;
      chunk[i & kMask].~T();
    }
    new (&chunk[i & kMask]) T();
    pending_ = true;
    return i;
  }
  void publish(int64_t i) {
    pending_ = false;
    size_.store(i + 1, std::memory_order_release);
  }

 private:
  static constexpr int64_t kMask = (int64_t(1) << kChunkBits) - 1;
  int32_t num_chunks_;
  std::unique_ptr<T*[]> chunks_;
  std::atomic<int64_t> size_{0};
  bool pending_ = false;  // the element at size() is constructed, not yet published
};

}  // namespace decoder
