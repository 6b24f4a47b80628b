// cache_budget.h — one memory budget for the mask caches of all CompiledGrammars of the
// process, with least-recently-used eviction across them.
//
// Each CompiledGrammar caches one MaskCacheEntry per lexer state it has walked (its own
// cap is Limits::mask_cache_bytes); a server holding many compiled grammars would add
// those caps up without bound. Every grammar enrolls here; a cache hit stamps the entry
// with a global tick, and a store that takes the total past the budget evicts the entries
// with the oldest stamps, whichever grammar holds them, down to 90% of the budget. Entries
// are shared_ptrs: a matcher using an evicted entry keeps its copy alive until it is done,
// and the next mask in that state walks again (the same mask, a little slower).
//
// Lock order: the budget's mutex, then a grammar's cache mutex (never the other way).
#pragma once
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_set>

namespace decoder {

class CompiledGrammar;

class MaskCacheBudget {
 public:
  static MaskCacheBudget& instance() {
    static MaskCacheBudget b;
    return b;
  }
  int64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  void set_limit(int64_t bytes) {
    limit_.store(bytes, std::memory_order_relaxed);
    maybe_evict();
  }
  int64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }
  size_t grammars() {
    std::lock_guard<std::mutex> lock(mu_);
    return grammars_.size();
  }
  uint64_t tick() { return clock_.fetch_add(1, std::memory_order_relaxed); }
  void add(int64_t b) { bytes_.fetch_add(b, std::memory_order_relaxed); }
  void enroll(CompiledGrammar* g) {
    std::lock_guard<std::mutex> lock(mu_);
    grammars_.insert(g);
  }
  void withdraw(CompiledGrammar* g) {
    std::lock_guard<std::mutex> lock(mu_);
    grammars_.erase(g);
  }
  // Evicts least recently used entries of all grammars down to 90% of the limit when the
  // total is over it (defined in matcher.cc).
  void maybe_evict();
  // Memory the caches gave back (evicted mask entries, destroyed grammars). glibc keeps
  // freed chunks in the arena of the thread that allocated them (compile threads,
  // fill_masks threads, the caller's), so without this a server's RSS stays near its
  // high-water mark and drifts up as the free chunks fragment (the soak test's RSS growth).
  // Every trim_every() bytes given back, malloc_trim(0) returns the free pages of every
  // arena to the OS (a few ms; defined in matcher.cc; a no-op without glibc).
  void released(int64_t bytes);
  int64_t trim_every() const { return trim_every_.load(std::memory_order_relaxed); }
  void set_trim_every(int64_t bytes) { trim_every_.store(bytes, std::memory_order_relaxed); }
  uint64_t trims() const { return trims_.load(std::memory_order_relaxed); }

 private:
  MaskCacheBudget() {
    int64_t b = int64_t(1) << 30;  // 1 GiB
    if (const char* v = std::getenv("DECODER_MASK_CACHE_BYTES")) {
      long long x = std::atoll(v);
      if (x > 0) b = x;
    }
    limit_.store(b);
    int64_t t = int64_t(32) << 20;  // 32 MiB given back between two trims; 0: never trim
    if (const char* v = std::getenv("DECODER_MALLOC_TRIM_BYTES")) t = std::atoll(v);
    trim_every_.store(t);
  }
  std::mutex mu_;
  std::unordered_set<CompiledGrammar*> grammars_;
  std::atomic<int64_t> limit_{0};
  std::atomic<int64_t> bytes_{0};
  std::atomic<uint64_t> evictions_{0};
  std::atomic<uint64_t> clock_{1};
  std::atomic<int64_t> trim_every_{0};
  std::atomic<int64_t> released_{0};
  std::atomic<uint64_t> trims_{0};
};

inline MaskCacheBudget* mask_cache_budget() { return &MaskCacheBudget::instance(); }

}  // namespace decoder
