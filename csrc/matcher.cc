#include "matcher.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "api.h"
#include "budget.h"
#include "errors.h"

namespace decoder {

// ------------------------------------------------------------------ cache

CompiledGrammar::~CompiledGrammar() {
  MaskCacheBudget& b = MaskCacheBudget::instance();
  b.withdraw(this);  // no eviction can look at this grammar from here on
  b.add(-static_cast<int64_t>(cache_bytes_));
  // free the big parts now (not after this body) so that a trim can give their pages back
  int64_t bytes = static_cast<int64_t>(cache_bytes_);
  if (grammar_ && grammar_.use_count() == 1) bytes += grammar_->lexer().memory_bytes();
  cache_.clear();
  exit_walks_.clear();
  set_univ_.clear();
  grammar_.reset();
  b.released(bytes);
}

namespace {
constexpr size_t kMaxPendingReleases = 4;

// The thread of release_grammar (api.h): started at the first release, stopped (after
// destroying what is queued) when the process exits.
class Releaser {
 public:
  static Releaser& instance() {
    // Never destroyed (a forked child's copy of the mutex and condition variables may be held
    // or waited on by the parent's thread: destroying them there would block); at exit the
    // Stop object ends the thread, after destroying what is queued. Made after
    // MaskCacheBudget's static (every grammar enrolled there first), so stopped before it goes.
    static Releaser* r = new Releaser;
    static Stop stop{r};
    return *r;
  }
  bool take(std::shared_ptr<CompiledGrammar>& g) {
    if (getpid() != pid_) return false;  // a forked child: the thread was the parent's
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || queue_.size() >= kMaxPendingReleases) return false;
    if (thread_ == nullptr) {
      try {
        thread_ = new std::thread([this] { run(); });
      } catch (...) {
        return false;
      }
    }
    queue_.push_back(std::move(g));
    cv_.notify_all();
    return true;
  }
  void drain() {
    if (getpid() != pid_) return;
    std::unique_lock<std::mutex> lock(mu_);
    idle_cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  }

 private:
  struct Stop {
    Releaser* r;
    ~Stop() { r->stop(); }
  };
  void stop() {
    if (getpid() != pid_) return;  // a forked child: the thread was the parent's
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_ != nullptr) {
      thread_->join();
      delete thread_;
      thread_ = nullptr;
    }
  }
  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to destroy
      std::shared_ptr<CompiledGrammar> g = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      g.reset();
      lock.lock();
      busy_ = false;
      if (queue_.empty()) idle_cv_.notify_all();
    }
  }
  const pid_t pid_ = getpid();
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::shared_ptr<CompiledGrammar>> queue_;
  std::thread* thread_ = nullptr;
  bool stop_ = false, busy_ = false;
};
}  // namespace

void release_grammar(std::shared_ptr<CompiledGrammar>& g) {
  if (g && g.use_count() == 1 && Releaser::instance().take(g)) return;
  g.reset();
}

void drain_releases() { Releaser::instance().drain(); }

void MaskCacheBudget::released(int64_t bytes) {
#if defined(__GLIBC__)
  const int64_t every = trim_every();
  if (every <= 0 || bytes <= 0) return;
  if (released_.fetch_add(bytes, std::memory_order_relaxed) + bytes < every) return;
  // one thread trims; the others go on (their bytes count towards the next trim)
  if (released_.exchange(0, std::memory_order_relaxed) < every) return;
  malloc_trim(0);
  trims_.fetch_add(1, std::memory_order_relaxed);
#else
  (void)bytes;
#endif
}

std::shared_ptr<const MaskCacheEntry> CompiledGrammar::lookup(int32_t s) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(s);
  if (it == cache_.end()) return nullptr;
  it->second.used = MaskCacheBudget::instance().tick();
  return it->second.entry;
}

std::shared_ptr<const MaskCacheEntry> CompiledGrammar::store(int32_t s,
                                                             std::shared_ptr<const MaskCacheEntry> e) {
  size_t bytes = (e->inside.size() + e->shallow_inside.size()) * 4 +
                 (e->exits.size() + e->frontier.size()) * sizeof(MaskCacheEntry::Exit) + 64;
  MaskCacheBudget& budget = MaskCacheBudget::instance();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(s);
    if (it != cache_.end()) return it->second.entry;  // another thread got there first
    if (cache_bytes_ + bytes > static_cast<size_t>(grammar_->limits().mask_cache_bytes) ||
        static_cast<int64_t>(bytes) > budget.limit())
      return e;
    cache_.emplace(s, CacheSlot{e, bytes, budget.tick()});
    cache_bytes_ += bytes;
    budget.add(static_cast<int64_t>(bytes));
  }
  if (budget.bytes() > budget.limit()) budget.maybe_evict();  // (not under mu_: lock order)
  return e;
}

int64_t CompiledGrammar::memory_bytes() {
  int64_t cache;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cache = static_cast<int64_t>(cache_bytes_) + static_cast<int64_t>(cache_.size()) * 64;
  }
  return grammar_->lexer().memory_bytes() + cache + rows_.bytes();
}

void CompiledGrammar::collect_cache(std::vector<CacheVictim>& out) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& kv : cache_) out.push_back({kv.second.used, this, kv.first});
}

int64_t CompiledGrammar::evict_cache(int32_t state, uint64_t used) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(state);
  if (it == cache_.end() || it->second.used != used) return 0;  // gone, or used since
  const int64_t bytes = static_cast<int64_t>(it->second.bytes);
  cache_bytes_ -= it->second.bytes;
  cache_.erase(it);
  MaskCacheBudget::instance().add(-bytes);
  // (the exit-walk memo has no use stamps of its own: it goes with any eviction)
  return bytes + clear_exit_walks();
}

void MaskCacheBudget::maybe_evict() {
  std::lock_guard<std::mutex> lock(mu_);  // one eviction at a time; grammars stay alive
  const int64_t limit = this->limit();
  if (bytes() <= limit) return;
  std::vector<CompiledGrammar::CacheVictim> all;
  for (CompiledGrammar* g : grammars_) g->collect_cache(all);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.used < b.used; });
  const int64_t target = limit - limit / 10;
  int64_t freed = 0;
  for (const auto& v : all) {
    if (bytes() <= target) break;
    const int64_t b = v.grammar->evict_cache(v.state, v.used);
    if (b > 0) {
      evictions_.fetch_add(1, std::memory_order_relaxed);
      freed += b;
    }
  }
  all.clear();
  all.shrink_to_fit();
  released(freed);
}

template <bool kRecordShallow>
void CompiledGrammar::lexer_walk(uint32_t first, uint32_t last, int32_t parent, MaskCacheEntry& e) const {
  if (grammar_->lexer().nfa().has_counters())
    lexer_walk_as<kRecordShallow, true>(first, last, parent, e);
  else
    lexer_walk_as<kRecordShallow, false>(first, last, parent, e);
}

template <bool kRecordShallow, bool kFloor, bool kShift>
void CompiledGrammar::lexer_walk_as(uint32_t first, uint32_t last, int32_t parent, MaskCacheEntry& e) const {
  // The hottest loop of a cold mask: everything it touches is hoisted into locals. kFloor
  // (a grammar with counted repetitions): each state is replaced by its count floor when the
  // two read the node's subtree alike (Lexer::count_floor), so the walk builds a DFA state per
  // NFA-state set, not one per (set, count) at every depth. Exits keep the floor as parent:
  // it accepts the same lexemes, all an exit's parent is read for.
  const TokenTrie& t = *trie_;
  Lexer& lx = grammar_->lexer();
  const TokenTrie::Node* __restrict nodes = t.nodes();
  const int32_t* __restrict ids = t.ids();
  const uint8_t* __restrict byte_class = lx.byte_classes();
  const auto* __restrict chunks = lx.row_chunks();
  const int64_t stride = lx.row_stride();
  const int64_t ncls = lx.num_byte_classes();  // (kFloor: count_floor's slots follow)
  uint32_t* __restrict inside = e.inside.data();
  uint32_t* __restrict shallow = kRecordShallow ? e.shallow_inside.data() : nullptr;
  auto row_of = [&](int32_t q) {
    return chunks[q >> Lexer::kRowChunkBits].get() + (q & Lexer::kRowChunkMask) * stride;
  };
  // st[d]: lexer state after the node at depth d on the current path, tr[d] its row
  const uint16_t base = nodes[first].depth - 1;
  const size_t depth_cap = t.max_depth() + 1;
  int32_t st_buf[256];
  const std::atomic<int32_t>* tr_buf[256];
  std::vector<int32_t> st_vec;
  std::vector<const std::atomic<int32_t>*> tr_vec;
  int32_t* st = st_buf;
  const std::atomic<int32_t>** tr = tr_buf;
  if (depth_cap > 256) {
    st_vec.resize(depth_cap);
    tr_vec.resize(depth_cap);
    st = st_vec.data();
    tr = tr_vec.data();
  }
  st[base] = parent;
  tr[base] = row_of(parent);
  uint32_t i = first;
  while (i < last) {
    const TokenTrie::Node& nd = nodes[i];
    const uint16_t d = nd.depth;
    int32_t q = tr[d - 1][byte_class[nd.byte]].load(std::memory_order_acquire);
    if (__builtin_expect(q == Lexer::kNotComputed, 0)) q = lx.next(st[d - 1], nd.byte);
    if (q == kDead) {
      const int32_t p = st[d - 1];
      if (!lx.accepting(p).empty()) e.exits.push_back({i, p});
      i = nd.end;
      continue;
    }
    if (kRecordShallow && d == kShallowDepth + 1) e.frontier.push_back({i, st[d - 1]});
    const std::atomic<int32_t>* r = row_of(q);
    if (kFloor) {
      // (Lexer::count_floor, read from the row's slots: most states are their own floor)
      int32_t f = r[ncls].load(std::memory_order_acquire);
      if (__builtin_expect(f == Lexer::kNotComputed, 0)) f = lx.count_floor(q, 0), f = r[ncls].load();
      if (f != q && nd.deepest - d <= r[ncls + 1].load(std::memory_order_relaxed)) {
        q = f;
        r = row_of(q);
      }
    }
    if (kShift) {
      // (Lexer::Canon: q and its canonical twin read every string of up to `remaining` bytes
      // alike, and accept the same lexemes: all an exit's parent is read for)
      const Lexer::Canon& c = lx.canon(q);
      if (c.shift > 0 && nd.deepest - d <= c.remaining) {
        q = c.state;
        r = row_of(q);
      }
    }
    st[d] = q;
    tr[d] = r;
    for (uint32_t k = nd.tok_begin, ke = nd.tok_begin + nd.tok_count; k < ke; ++k) {
      const int32_t id = ids[k];
      inside[id >> 5] |= 1u << (id & 31);
      if (kRecordShallow && d <= kShallowDepth) shallow[id >> 5] |= 1u << (id & 31);
    }
    ++i;
  }
}

namespace {
// Threads for one cold whole-trie walk: DECODER_WALK_THREADS, else min(2, cores). The walk
// is the tail of mask latency (first mask in a new lexer state) and runs while the model's
// forward pass holds the accelerator, so a second core halves it.
int walk_threads() {
  static const int n = [] {
    if (const char* v = std::getenv("DECODER_WALK_THREADS")) return std::max(1, std::atoi(v));
    unsigned hc = std::thread::hardware_concurrency();
    return static_cast<int>(std::min(2u, hc == 0 ? 1u : hc));
  }();
  return n;
}

// Runs part(0, e) here and part(1, other) on a second thread, then merges `other` into e.
// Part 1's nodes all come after part 0's, so exits and frontier stay in node order.
template <class Part>
void run_halves(const Part& part, MaskCacheEntry& e) {
  MaskCacheEntry other;
  other.inside.assign(e.inside.size(), 0);
  other.shallow_inside.assign(e.shallow_inside.size(), 0);
  std::exception_ptr err;
  WorkBudget* budget = t_work_budget;
  std::thread th([&] {
    AdoptBudget adopt(budget);  // one operation, one work budget
    try {
      part(1, other);
    } catch (...) {
      err = std::current_exception();
    }
  });
  try {
    part(0, e);
  } catch (...) {
    th.join();
    throw;
  }
  th.join();
  if (err) std::rethrow_exception(err);
  for (size_t w = 0; w < e.inside.size(); ++w) e.inside[w] |= other.inside[w];
  for (size_t w = 0; w < e.shallow_inside.size(); ++w) e.shallow_inside[w] |= other.shallow_inside[w];
  e.exits.insert(e.exits.end(), other.exits.begin(), other.exits.end());
  e.frontier.insert(e.frontier.end(), other.frontier.begin(), other.frontier.end());
}
}  // namespace

void CompiledGrammar::full_walk(int32_t s, MaskCacheEntry& e, bool record) const {
  const TokenTrie& t = *trie_;
  auto run = [&](uint32_t lo, uint32_t hi, MaskCacheEntry& out) {
    if (record)
      lexer_walk<true>(lo, hi, s, out);
    else
      lexer_walk<false>(lo, hi, s, out);
  };
  const uint32_t n = t.size();
  if (walk_threads() < 2 || n < 65536) {
    run(1, n, e);
    return;
  }
  // Only walks that will visit much of the trie are worth a thread: count the nodes below
  // the first bytes the lexer accepts (one lookup per root child).
  Lexer& lx = grammar_->lexer();
  uint64_t alive = 0;
  for (uint32_t i = 1; i < n; i = t.subtree_end(i))
    if (lx.next(s, t.byte(i)) != kDead) alive += t.subtree_end(i) - i;
  if (alive < 100000) {
    run(1, n, e);
    return;
  }
  // split at a root child near the middle of the node array (subtrees stay whole)
  uint32_t split = 1;
  while (split < n && split < n / 2) split = t.subtree_end(split);
  if (split <= 1 || split >= n) {
    run(1, n, e);
    return;
  }
  run_halves([&](int half, MaskCacheEntry& out) { half == 0 ? run(1, split, out) : run(split, n, out); }, e);
}

void CompiledGrammar::root_walk(int32_t s, MaskCacheEntry& e) const {
  const TokenTrie& t = *trie_;
  Lexer& lx = grammar_->lexer();
  const uint32_t n = t.size();
  struct Job {
    uint32_t first, last;
    int32_t parent;
  };
  std::vector<Job> jobs;
  std::vector<std::pair<int32_t, bool>> loops;  // text_loop memo (few distinct states)
  auto text_loop = [&](int32_t q) {
    for (const auto& p : loops)
      if (p.first == q) return p.second;
    bool v = text_step(q) == q;
    loops.emplace_back(q, v);
    return v;
  };
  std::vector<uint8_t> text_firsts;
  int text_children = 0;
  const bool s_accepts = !lx.accepting(s).empty();
  for (uint32_t i = 1; i < n; i = t.subtree_end(i)) {
    const uint8_t b = t.byte(i);
    const bool text = TokenTrie::is_text_byte(b);
    text_children += text;
    const int32_t q = lx.next(s, b);
    if (q == kDead) {
      if (s_accepts) e.exits.push_back({i, s});
      continue;
    }
    if (text && text_loop(q)) {
      // every token below i made of text bytes stays in q; walk only below the frontier
      text_firsts.push_back(b);
      auto sl = t.text_frontier_in(i, t.subtree_end(i));
      for (const uint32_t* f = sl.first; f != sl.second; ++f) jobs.push_back({*f, t.subtree_end(*f), q});
    } else {
      jobs.push_back({i, t.subtree_end(i), s});
    }
  }
  if (static_cast<int>(text_firsts.size()) == text_children) {
    const auto& all = t.text_tokens();
    for (size_t w = 0; w < e.inside.size(); ++w) e.inside[w] |= all[w];
  } else {
    for (uint8_t b : text_firsts) {
      const uint32_t* m = t.text_tokens_from(b);
      for (size_t w = 0; w < e.inside.size(); ++w) e.inside[w] |= m[w];
    }
  }
  auto run = [&](size_t lo, size_t hi, MaskCacheEntry& out) {
    for (size_t k = lo; k < hi; ++k) lexer_walk<false>(jobs[k].first, jobs[k].last, jobs[k].parent, out);
  };
  // Two threads when what is left to walk is large (as in full_walk).
  uint64_t total = 0;
  for (const Job& j : jobs) total += j.last - j.first;
  if (walk_threads() < 2 || total < 100000) {
    run(0, jobs.size(), e);
    return;
  }
  size_t split = 0;
  for (uint64_t acc = 0; split < jobs.size() && acc < total / 2; ++split)
    acc += jobs[split].last - jobs[split].first;
  run_halves(
      [&](int half, MaskCacheEntry& out) { half == 0 ? run(0, split, out) : run(split, jobs.size(), out); },
      e);
}

int32_t CompiledGrammar::text_step(int32_t s) const {
  Lexer& lx = grammar_->lexer();
  const uint8_t* cls = lx.byte_classes();
  int prev = -1;
  int32_t to = Lexer::kNotComputed;
  for (int b = 0x20; b <= 0x7E; ++b) {
    if (!TokenTrie::is_text_byte(static_cast<uint8_t>(b)) || cls[b] == prev) continue;
    prev = cls[b];
    const int32_t q = lx.next(s, static_cast<uint8_t>(b));
    if (to == Lexer::kNotComputed)
      to = q;
    else if (q != to)
      return Lexer::kNotComputed;
  }
  return to;
}

bool CompiledGrammar::chain_walk(int32_t s, MaskCacheEntry& e) const {
  // c[i]: the state after i text bytes, the same whichever they are (a string of bounded
  // length counts characters, nothing else). Up to kTextLenCap bytes, or until text dies in
  // a state that accepts nothing (so no lexeme ends there: no exits to record).
  constexpr int kCap = TokenTrie::kTextLenCap;
  const TokenTrie& t = *trie_;
  Lexer& lx = grammar_->lexer();
  int32_t c[kCap + 1];
  c[0] = s;
  int alive = kCap;
  for (int i = 0; i < kCap; ++i) {
    const int32_t q = text_step(c[i]);
    if (q == Lexer::kNotComputed) return false;  // text bytes do not all act alike
    if (i == 0 && q == s) return false;          // loops on text: root_walk does better
    if (q == kDead) {
      if (!lx.accepting(c[i]).empty()) return false;  // a lexeme could end: exits
      alive = i;
      break;
    }
    c[i + 1] = q;
  }
  if (alive == 0) return false;  // no text at all: nothing to gain
  for (int len = 1; len <= alive; ++len) {
    const uint32_t* m = t.text_tokens_of_len(len);
    for (size_t w = 0; w < e.inside.size(); ++w) e.inside[w] |= m[w];
  }
  for (uint32_t f : t.text_capped_frontier()) {
    const int d = t.depth(f);
    if (d - 1 <= alive) lexer_walk<false>(f, t.subtree_end(f), c[d - 1], e);
  }
  return true;
}

namespace {
// Bytes where the class DFA's answer changes, per class state (0 and 256 included).
const std::vector<int>& utf8_cuts(int d) {
  static const std::vector<std::vector<int>> cuts = [] {
    std::vector<std::vector<int>> c(TokenTrie::kUtf8States);
    for (int st = 0; st < TokenTrie::kUtf8States; ++st) {
      c[st].push_back(0);
      for (int b = 1; b < 256; ++b)
        if (TokenTrie::utf8_step(st, uint8_t(b)) != TokenTrie::utf8_step(st, uint8_t(b - 1)))
          c[st].push_back(b);
      c[st].push_back(256);
    }
    return c;
  }();
  return cuts[d];
}
}  // namespace

int CompiledGrammar::probe_dies(int32_t s, int bound, const uint64_t* lead) {
  // A bounded string (maxLength 12 with a pattern, a uuid, a date) fails part_alive only after
  // exploring every set down to its bound (0.2-0.5 ms for a 12-character string); the lexer
  // finds the same death in a dozen steps of a repeated byte. Bytes: a letter, a digit, a
  // space and a symbol, the first ASCII byte of each kind that is in the class.
  static const char* const kKinds[] = {"aeAEx", "01", " ", "-_./:"};
  Lexer& lx = grammar_->lexer();
  const int depth = std::min(bound, kMaxProbeDepth);
  for (const char* kind : kKinds) {
    int b = -1;
    for (const char* c = kind; *c && b < 0; ++c)
      if (TokenTrie::class_step(lead, 0, static_cast<uint8_t>(*c)) == 0) b = static_cast<uint8_t>(*c);
    if (b < 0) continue;
    int32_t q = s;
    int d = 1;
    for (; d <= depth; ++d) {
      const int32_t r = lx.next(q, static_cast<uint8_t>(b));
      if (r == kDead) return d;
      if (r == q) break;  // loops on b: alive on every repetition
      q = r;
    }
    // still counting at the probe's depth (a long bounded string): the other kinds would
    // count as far, building new DFA states for nothing
    if (d > depth) break;
  }
  return INT32_MAX;
}

bool CompiledGrammar::class_alive(int32_t s, int bound, size_t budget, const uint64_t* lead) {
  // A DFA state is alive after a string when one of its lexemes is: check each lexeme's part
  // of s (its NFA states) on its own (part_alive), unless a probe string already kills s.
  if (probe_dies(s, bound, lead) <= bound) return false;
  Lexer& lx = grammar_->lexer();
  const Nfa& nfa = lx.nfa();
  const std::vector<int32_t>& members = lx.nfa_states(s);
  const bool far = bound <= trie_->max_depth() && (counts_far(s) || lx.count_reach(s) >= bound);
  std::lock_guard<std::mutex> lock(univ_mu_);
  std::vector<int32_t> part;
  std::vector<uint8_t> done(members.size(), 0);
  for (size_t i = 0; i < members.size(); ++i) {
    if (done[i]) continue;
    const int32_t lexeme = nfa.lexeme_of(members[i]);
    part.clear();
    for (size_t j = i; j < members.size(); ++j)
      if (!done[j] && nfa.lexeme_of(members[j]) == lexeme) {
        part.push_back(members[j]);
        done[j] = 1;
      }
    // A counted part (Nfa's CountedRegion): part_alive follows its ticks as plain epsilon
    // edges and never opens its gates, which is what the lexer does on every string of up
    // to a token's length when the counts are far from both bounds (count_class); with every
    // count at lo or past it and `bound` more units within hi (Lexer::count_reach), the lexer
    // keeps at least those states (gates open besides) on every string of up to `bound`
    // bytes, so an alive answer is the lexer's too; nearer, not known alive (its walks go by
    // the lexer instead).
    if (!far && nfa.has_counters() &&
        std::any_of(part.begin(), part.end(), [&](int32_t q) { return nfa.counted_of(q) >= 0; }))
      continue;
    if (part_alive(part, bound, budget, lead)) return true;
  }
  return false;
}

CompiledGrammar::LoopAnswer CompiledGrammar::loop_alive(int32_t s, const uint64_t* lead, int* dies_at,
                                                        bool* one_boundary) {
  // Depth first over pairs (lexer state, class DFA state), bytes in order: a death (free text's
  // trigger, spelled by class bytes, then one more) is found down one chain of new states
  // before the UTF-8 states. The successors of a pair depend on the byte only through its
  // lexer byte class and its class DFA successor: one step per distinct (byte class, successor).
  Lexer& lx = grammar_->lexer();
  const uint8_t* cls = lx.byte_classes();
  struct Pair {
    int32_t q;
    int u;
    int depth;
  };
  Pair pairs[kMaxLoopPairs];
  size_t n = 0;
  pairs[n++] = {s, 0, 0};
  size_t stack[kMaxLoopPairs];
  size_t top = 0;
  stack[top++] = 0;
  const size_t width = size_t(lx.num_byte_classes()) * TokenTrie::kUtf8States;
  std::vector<uint8_t> tried(width * kMaxLoopPairs, 0);
  std::vector<int> next_byte(kMaxLoopPairs, 0);
  while (top > 0) {
    const size_t k = stack[top - 1];
    const Pair p = pairs[k];
    uint8_t* tr = tried.data() + k * width;
    int b = next_byte[k];
    for (; b < 256; ++b) {
      const int v = TokenTrie::class_step(lead, p.u, static_cast<uint8_t>(b));
      if (v == TokenTrie::kUtf8Reject) continue;
      uint8_t& t = tr[size_t(cls[b]) * TokenTrie::kUtf8States + v];
      if (t) continue;
      t = 1;
      const int32_t q = lx.next(p.q, static_cast<uint8_t>(b));
      if (q == kDead) {
        *dies_at = p.depth + 1;
        return kLoopDies;
      }
      size_t j = 0;
      while (j < n && !(pairs[j].q == q && pairs[j].u == v)) ++j;
      if (j < n) continue;
      if (n == kMaxLoopPairs) return kLoopUnknown;
      pairs[n] = {q, v, p.depth + 1};
      stack[top++] = n++;
      break;
    }
    next_byte[k] = b + 1;
    if (b >= 256) --top;
  }
  if (one_boundary) {
    *one_boundary = true;
    for (size_t j = 1; j < n; ++j) *one_boundary = *one_boundary && pairs[j].u != 0;
  }
  return kLoopAlive;
}

namespace {
// The same cuts as a bit set: bit b set when an interval starts at byte b (bit 256: the end).
struct CutBits {
  uint64_t w[5] = {0, 0, 0, 0, 0};
  void set(int b) { w[b >> 6] |= uint64_t(1) << (b & 63); }
};

const CutBits& utf8_cut_bits(int d) {
  static const std::vector<CutBits> bits = [] {
    std::vector<CutBits> v(TokenTrie::kUtf8States);
    for (int st = 0; st < TokenTrie::kUtf8States; ++st)
      for (int b : utf8_cuts(st)) v[st].set(b);
    return v;
  }();
  return bits[d];
}

inline uint64_t hash_ids(const int32_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull ^ n;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint32_t>(p[i]);
    h *= 1099511628211ull;
    h ^= h >> 29;
  }
  return h;
}
}  // namespace

bool CompiledGrammar::part_alive(const std::vector<int32_t>& root, int bound, size_t budget,
                                 const uint64_t* lead) {
  // Whether every class string of at most `bound` bytes leaves this set of NFA states (one
  // lexeme's) non-empty: a subset construction restricted to the lexeme and to class bytes,
  // breadth first, until closed, or every set beyond `bound` bytes, or a class byte empties a
  // set (false). Atoms: the byte intervals cut by the set's own edges and the class DFA, one
  // representative each (NFA edges never split an interval). Results are remembered per
  // set: alive up to some depth (kUnbounded when the exploration closed), or dead within
  // some depth; the key trie of an object's extra-key lexeme is explored at its first key
  // position, and every later key position and key prefix finds its set there.
  const Nfa& nfa = grammar_->lexer().nfa();
  constexpr int kUnbounded = INT32_MAX;
  const uint64_t* text = trie_->full_class().lead;
  auto& set_univ =
      std::equal(lead, lead + 4, text) ? set_univ_ : class_univ_[{lead[0], lead[1], lead[2], lead[3]}];
  {
    auto it = set_univ.find(root);
    if (it != set_univ.end()) {
      if (it->second.alive_to >= bound) return true;
      if (it->second.dies_at <= bound || it->second.too_big_at <= bound) return false;
    }
  }
  // cuts of the class DFA at a character boundary (the other states do not depend on lead)
  CutBits cuts0;
  cuts0.set(0);
  for (int b = 1; b < 256; ++b)
    if (TokenTrie::class_step(lead, 0, uint8_t(b)) != TokenTrie::class_step(lead, 0, uint8_t(b - 1)))
      cuts0.set(b);
  cuts0.set(256);
  // The explored sets (NFA states sorted, then -1 - class DFA state) in one arena, numbered in
  // the order found (breadth first), with a hash table of their numbers: one hash per set, no
  // allocation per set once the scratch has grown.
  PartScratch& ps = part_scratch_;
  const size_t nstates = static_cast<size_t>(nfa.num_states());
  if (ps.stamp.size() < nstates) {
    ps.stamp.assign(nstates, 0);
    ps.dense.assign(nstates, 0);
    ps.epoch = 0;
  }
  ps.arena.clear();
  ps.off.assign(1, 0);
  ps.depth.clear();
  ps.hash.clear();
  ps.table.assign(64, 0);
  auto find_set = [&](const int32_t* p, size_t n, uint64_t h) -> bool {
    const size_t mask = ps.table.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const uint32_t k = ps.table[i];
      if (k == 0) return false;
      if (ps.hash[k - 1] == h && ps.off[k] - ps.off[k - 1] == n &&
          std::equal(p, p + n, ps.arena.data() + ps.off[k - 1]))
        return true;
    }
  };
  auto add_set = [&](const int32_t* p, size_t n, uint64_t h, int depth) {
    ps.arena.insert(ps.arena.end(), p, p + n);
    ps.off.push_back(static_cast<uint32_t>(ps.arena.size()));
    ps.depth.push_back(static_cast<uint32_t>(depth));
    ps.hash.push_back(h);
    const size_t count = ps.hash.size();
    if (count * 2 > ps.table.size()) {
      ps.table.assign(ps.table.size() * 2, 0);
      const size_t mask = ps.table.size() - 1;
      for (size_t k = 0; k < count; ++k) {
        size_t i = ps.hash[k] & mask;
        while (ps.table[i] != 0) i = (i + 1) & mask;
        ps.table[i] = static_cast<uint32_t>(k + 1);
      }
      return;
    }
    const size_t mask = ps.table.size() - 1;
    size_t i = h & mask;
    while (ps.table[i] != 0) i = (i + 1) & mask;
    ps.table[i] = static_cast<uint32_t>(count);
  };
  std::vector<int32_t> next = root;
  next.push_back(-1);
  add_set(next.data(), next.size(), hash_ids(next.data(), next.size()), 0);
  std::vector<int32_t> cur;
  std::vector<const NfaEdge*> es;
  std::vector<std::pair<size_t, int>> done_sig;  // (interval, class state) of each successor built
  std::vector<int32_t> tg;                       // distinct edge targets of the set
  std::vector<uint64_t> sig;                     // per interval: the targets it reaches
  std::vector<int> cuts;
  // Successors by their edge targets and class state: the sets of a key trie share most of
  // theirs (the extra-key tail, the UTF-8 lead bytes of the other characters), and the set
  // those targets reach is the same each time; a pair whose set was found explored (or
  // queued) or known alive without bound is skipped without building it again.
  std::unordered_map<std::vector<int32_t>, char, VecHash> known;
  std::vector<int32_t> tkey;
  bool finite = false;  // some set was left at the bound, or taken from a bounded memo
  // A failure (a death, or the budget) found while expanding sets of depth `reached` still
  // proves the part alive on every class string of at most `reached` bytes (breadth first:
  // every shallower set was expanded without a death), so a later check with a smaller bound
  // (the short slice of a bounded string, after its full check failed) is answered here.
  int reached = 0;
  auto fail = [&](int depth) {
    auto& m = set_univ[root];
    m.dies_at = std::min(m.dies_at, depth);
    m.alive_to = std::max(m.alive_to, reached);
    return false;
  };
  for (size_t qi = 0; qi < ps.depth.size(); ++qi) {
    const int depth = static_cast<int>(ps.depth[qi]);
    reached = depth;
    if (ps.depth.size() > budget) {  // too large to tell: remembered, so later positions skip it
      auto& m = set_univ[root];
      m.too_big_at = std::min(m.too_big_at, bound);
      m.alive_to = std::max(m.alive_to, reached);
      return false;
    }
    if (depth >= bound) {
      finite = true;
      continue;
    }
    cur.assign(ps.arena.begin() + ps.off[qi], ps.arena.begin() + ps.off[qi + 1]);  // (the arena grows)
    const int d = -1 - cur.back();
    const size_t n = cur.size() - 1;
    // the set's edges; their distinct targets numbered in order of appearance (a stamp per
    // NFA state instead of a sort)
    if (++ps.epoch == 0) {
      std::fill(ps.stamp.begin(), ps.stamp.end(), 0);
      ps.epoch = 1;
    }
    es.clear();
    tg.clear();
    CutBits cb = d == 0 ? cuts0 : utf8_cut_bits(d);
    for (size_t k = 0; k < n; ++k)
      for (const NfaEdge& e : nfa.edges(cur[k])) {
        es.push_back(&e);
        cb.set(e.lo);
        cb.set(int(e.hi) + 1);
        if (ps.stamp[e.to] != ps.epoch) {
          ps.stamp[e.to] = ps.epoch;
          ps.dense[e.to] = static_cast<uint32_t>(tg.size());
          tg.push_back(e.to);
        }
      }
    cuts.clear();
    for (int i = 0; i < 5; ++i)
      for (uint64_t w = cb.w[i]; w; w &= w - 1) cuts.push_back(i * 64 + __builtin_ctzll(w));
    // Intervals whose matched edges have the same targets (and that lead to the same class
    // state) lead to the same set: most of a key-trie node's intervals (one edge each: the
    // key characters that continue no key, the other characters' UTF-8 lead bytes) go to a
    // few sets. Per interval, the targets it reaches as a bit set (one sweep over the edges);
    // a repeated (targets, class state) is skipped, so each distinct successor is built once.
    const size_t W = (tg.size() + 63) / 64, ncut = cuts.size() - 1;
    sig.assign(ncut * W, 0);
    for (const NfaEdge* e : es) {
      const size_t ti = ps.dense[e->to];
      const uint64_t bit = uint64_t(1) << (ti % 64);
      for (size_t c = std::lower_bound(cuts.begin(), cuts.end(), int(e->lo)) - cuts.begin();
           c < ncut && cuts[c] <= int(e->hi); ++c)
        sig[c * W + ti / 64] |= bit;
    }
    done_sig.clear();
    for (size_t c = 0; c < ncut; ++c) {
      const int x = cuts[c];
      if (x > 255) break;
      const int nd = TokenTrie::class_step(lead, d, static_cast<uint8_t>(x));
      if (nd == TokenTrie::kUtf8Reject) continue;
      const uint64_t* sc = sig.data() + c * W;
      bool any = false;
      for (size_t w = 0; w < W; ++w) any |= sc[w] != 0;
      if (!any) return fail(depth + 1);  // a class string kills this part
      bool dup = false;
      for (const auto& p : done_sig)
        if (p.second == nd && std::equal(sc, sc + W, sig.data() + p.first * W)) {
          dup = true;
          break;
        }
      if (dup) continue;
      done_sig.emplace_back(c, nd);
      tkey.clear();
      for (size_t w = 0; w < W; ++w)
        for (uint64_t bits = sc[w]; bits; bits &= bits - 1)
          tkey.push_back(tg[w * 64 + __builtin_ctzll(bits)]);
      std::sort(tkey.begin(), tkey.end());
      tkey.push_back(-1 - nd);
      if (known.count(tkey)) continue;
      next.clear();
      for (size_t t = 0; t + 1 < tkey.size(); ++t)
        for (int32_t w : nfa.closure(tkey[t])) {
          const int32_t after = nfa.tick_to(w);  // (counted parts: see class_alive)
          if (after < 0) {
            next.push_back(w);
            continue;
          }
          for (int32_t x : nfa.closure(after)) next.push_back(x);
        }
      if (next.empty()) return fail(depth + 1);  // a class string kills this part
      std::sort(next.begin(), next.end());
      next.erase(std::unique(next.begin(), next.end()), next.end());
      // Whether the same targets may be skipped next time: yes unless the memo holds a bounded
      // answer for this set (a later, deeper use may need less and set `finite`).
      bool remember = true;
      if (nd == 0) {
        auto it = set_univ.find(next);
        if (it != set_univ.end()) {
          const int need = bound - depth - 1;
          if (it->second.alive_to >= need) {
            if (it->second.alive_to != kUnbounded)
              finite = true;
            else
              known.emplace(tkey, 1);
            continue;  // known alive that far: nothing to explore below it
          }
          if (it->second.dies_at <= need) return fail(depth + 1 + it->second.dies_at);
          remember = false;
        }
      }
      if (remember) known.emplace(tkey, 1);
      next.push_back(-1 - nd);
      const uint64_t h = hash_ids(next.data(), next.size());
      if (find_set(next.data(), next.size(), h)) continue;
      add_set(next.data(), next.size(), h, depth + 1);
    }
  }
  const size_t count = ps.depth.size();
  for (size_t k = 0; k < count; ++k) {
    if (ps.arena[ps.off[k + 1] - 1] != -1) continue;
    auto& m =
        set_univ[std::vector<int32_t>(ps.arena.begin() + ps.off[k], ps.arena.begin() + ps.off[k + 1] - 1)];
    m.alive_to = std::max(m.alive_to, finite ? bound - static_cast<int>(ps.depth[k]) : kUnbounded);
  }
  return true;
}

namespace {
// The state most of the 128 ASCII successors succ[] are (not kDead, not s itself), or kDead
// when none is at least 64 of them.
int32_t most_common(const int32_t* succ, int32_t s) {
  int32_t v[128];
  int n = 0;
  for (int b = 0; b < 128; ++b)
    if (succ[b] != kDead && succ[b] != s) v[n++] = succ[b];
  std::sort(v, v + n);
  for (int i = 0, j; i < n; i = j) {
    for (j = i; j < n && v[j] == v[i]; ++j) {
    }
    if (j - i >= 64) return v[i];
  }
  return kDead;
}
}  // namespace

void CompiledGrammar::sort_exits(MaskCacheEntry& e) const {
  // Exits grouped by parent state, and parents that accept the same lexemes next to each
  // other: compute_mask scans a lexeme end once per group and revives it for the next
  // group with the same accept set (see Matcher::end_lexeme).
  Lexer& lx = grammar_->lexer();
  std::stable_sort(e.exits.begin(), e.exits.end(),
                   [&lx](const MaskCacheEntry::Exit& a, const MaskCacheEntry::Exit& b) {
                     const int32_t ka = lx.accept_id(a.parent), kb = lx.accept_id(b.parent);
                     return ka != kb ? ka < kb : a.parent < b.parent;
                   });
}

bool CompiledGrammar::loopy(int32_t s) {
  Lexer& lx = grammar_->lexer();
  int self = 0, text_out = 0;
  for (int b = 0; b < 128; ++b) {
    const bool loop = lx.next(s, static_cast<uint8_t>(b)) == s;
    self += loop;
    text_out += !loop && TokenTrie::is_text_byte(static_cast<uint8_t>(b));
  }
  return self >= 64 && text_out > 0;
}

bool CompiledGrammar::partial_trigger(int32_t s) {
  Lexer& lx = grammar_->lexer();
  int32_t succ[128];
  int self = 0;
  for (int b = 0; b < 128; ++b) self += (succ[b] = lx.next(s, static_cast<uint8_t>(b))) == s;
  if (self >= 64) return false;
  const int32_t r = most_common(succ, s);
  if (r == kDead || lx.canon(r).region >= 0 || !loopy(r)) return false;
  uint64_t own[4];
  return own_class(r, own);
}

bool CompiledGrammar::own_class(int32_t s, uint64_t lead[4]) {
  // ASCII: the bytes s loops on; when they are few (a state that is left on its first byte,
  // as a lexeme's start), those of the state most ASCII bytes lead to. Fewer than kMinOwn:
  // no class worth a slice (its skeleton would be most of the trie). UTF-8 lead bytes: by
  // the length of their characters (and E0, ED, F0, F4 apart: their second bytes differ),
  // those whose successor is the one most lead bytes of that group have (a character that
  // begins an excluded string or trigger leads elsewhere). class_alive checks the result.
  constexpr int kMinOwn = 64;
  Lexer& lx = grammar_->lexer();
  auto loops = [&](int32_t q) {
    int n = 0;
    for (int b = 0; b < 128; ++b)
      if (lx.next(q, static_cast<uint8_t>(b)) == q) {
        lead[b >> 6] |= uint64_t(1) << (b & 63);
        ++n;
      }
    return n;
  };
  std::fill(lead, lead + 4, 0);
  int32_t succ[128];
  int alive = 0;
  for (int b = 0; b < 128; ++b) alive += (succ[b] = lx.next(s, static_cast<uint8_t>(b))) != kDead;
  if (alive < kMinOwn) return false;  // (most cold states: a number, an enum, after a value)
  int32_t from = s;
  if (loops(s) < kMinOwn) {
    const int32_t best = most_common(succ, s);
    if (best == kDead) return false;
    std::fill(lead, lead + 4, 0);
    if (loops(best) < kMinOwn) return false;
    from = best;
  }
  static const std::vector<std::vector<int>> groups = [] {
    std::vector<std::vector<int>> g(7);
    for (int b = 0xC2; b <= 0xF4; ++b) {
      const int k = b <= 0xDF   ? 0
                    : b == 0xE0 ? 1
                    : b == 0xED ? 2
                    : b <= 0xEF ? 3
                    : b == 0xF0 ? 4
                    : b <= 0xF3 ? 5
                                : 6;
      g[k].push_back(b);
    }
    return g;
  }();
  for (const auto& g : groups) {
    std::vector<int32_t> succ;
    for (int b : g) succ.push_back(lx.next(from, static_cast<uint8_t>(b)));
    int32_t best = kDead;
    size_t best_n = 0;
    for (int32_t q : succ) {
      const size_t n = std::count(succ.begin(), succ.end(), q);
      if (q != kDead && n > best_n) {
        best_n = n;
        best = q;
      }
    }
    for (size_t k = 0; k < g.size(); ++k)
      if (succ[k] == best && best != kDead) lead[g[k] >> 6] |= uint64_t(1) << (g[k] & 63);
  }
  return !std::equal(lead, lead + 4, trie_->full_class().lead);
}

int CompiledGrammar::shift_alive(int32_t s, const uint64_t* lead) {
  // A search over pairs (lexer state, UTF-8 class DFA state) reached from s by class bytes,
  // one step per distinct (byte class, class state). A successor q with a shift (Lexer::Canon)
  // and rem(q) >= kShortClass is replaced by its canonical twin c' (an edge capped at rem(q):
  // q and c' read every string of rem(q) bytes alike); any other successor is kept as it is
  // (the required copies before an optional run, a run's last copies, states outside every
  // region: a string's start). No pair's state dies on a class byte (a death anywhere gives
  // -1: the bounds come from the caps). b(P), the bytes pair P is proven alive for, is the
  // greatest solution of b(P) = the least over its edges of 1 + min(cap, b(successor)). Sound
  // by induction on the length n <= b(P) of a class string w = x w': next(P, x) = q is alive,
  // |w'| <= b(P) - 1 <= min(cap, b(Q)) for Q the successor pair, so w' keeps Q alive and
  // (|w'| <= cap when Q is q's twin or floor) q too. Solved as shortest paths (Bellman-Ford
  // from "unbounded"). Returns B = b(s) (for a state with a shift, min(rem(s), b(twin)); s
  // alive on every class string of up to B bytes, B capped at kUnbounded), or -1: no region
  // state met or a loop outside every region (not a bounded string), a counted state whose
  // count is under lo or whose reach is under kShortClass (Lexer::count_reach; a counted
  // successor with more is replaced by its count floor, an edge capped at the reach, like a
  // twin), a death, or too many pairs. (A death deeper than kShortClass bytes could be kept
  // as b = 0, but a search that steps real states runs out of pairs ~7 bytes in and twins and
  // floors do not die within their caps: docs/optimizations.md section 66.)
  Lexer& lx = grammar_->lexer();
  const uint8_t* cls = lx.byte_classes();
  const Lexer::Canon c0 = lx.canon(s);
  constexpr int32_t kUnbounded = 1 << 20;
  constexpr int32_t kNearFloor = 8;  // (units under a counted region's lo still searched)
  struct Pair {
    int32_t q;
    int u;
  };
  struct Edge {
    uint16_t from, to;
    int32_t cap;
  };
  constexpr size_t kMaxPairs = 128;
  Pair pairs[kMaxPairs];
  int32_t b[kMaxPairs];
  std::vector<Edge> edges;
  size_t n = 0;
  const bool twin0 = c0.region >= 0 && c0.shift > 0 && c0.remaining >= TokenTrie::kShortClass;
  pairs[n++] = {twin0 ? c0.state : s, 0};
  bool region = c0.region >= 0;
  const size_t width = size_t(lx.num_byte_classes()) * TokenTrie::kUtf8States;
  std::vector<uint8_t> tried(width);
  for (size_t k = 0; k < n; ++k) {
    const Pair p = pairs[k];
    b[k] = kUnbounded;
    std::fill(tried.begin(), tried.end(), 0);
    for (int x = 0; x < 256; ++x) {
      const int v = TokenTrie::class_step(lead, p.u, static_cast<uint8_t>(x));
      if (v == TokenTrie::kUtf8Reject) continue;
      uint8_t& t = tried[size_t(cls[x]) * TokenTrie::kUtf8States + v];
      if (t) continue;
      t = 1;
      const int32_t q = lx.next(p.q, static_cast<uint8_t>(x));
      if (q == kDead) return -1;
      const Lexer::Canon cq = lx.canon(q);  // (a copy: count_floor may add states)
      int32_t w = q;
      int32_t cap = kUnbounded;
      if (!lx.counts(q).empty()) {
        // a counted string (bounds over 1,000: a new state per count): q and its count floor
        // read every string of count_reach(q) bytes alike (Lexer::count_floor), the floor a
        // twin capped there; with a reach under 16 (a count a few units under lo, a character's
        // first bytes included, or near hi) q is kept as it is, its steps soon reach lo or
        // die; a count further under lo (minLength 1500): not searched
        if (cq.region >= 0) return -1;
        const int32_t r = lx.count_reach(q);
        if (r >= TokenTrie::kShortClass) {
          w = lx.count_floor(q, r);
          cap = r;
        } else {
          for (const auto& rc : lx.counts(q))
            if (rc.second < lx.nfa().counted()[size_t(rc.first)].lo - kNearFloor) return -1;
        }
        region = true;
      } else {
        region = region || cq.region >= 0;
        if (cq.region >= 0 && cq.shift > 0 && cq.remaining >= TokenTrie::kShortClass) {
          w = cq.state;
          cap = cq.remaining;
        }
      }
      // a state outside every region that reads a class byte back to itself uncapped loops (a
      // free string, the loop after minLength's copies): no bound to prove, the walks for free text
      if (w == p.q && v == p.u && cap == kUnbounded && lx.canon(w).region < 0) return -1;
      size_t j = 0;
      while (j < n && !(pairs[j].q == w && pairs[j].u == v)) ++j;
      if (j == n) {
        if (n == kMaxPairs) return -1;
        pairs[n++] = {w, v};
      }
      edges.push_back({uint16_t(k), uint16_t(j), cap});
    }
  }
  if (!region) return -1;
  // shortest paths: at most n rounds until nothing changes
  for (size_t round = 0; round <= n; ++round) {
    bool changed = false;
    for (const Edge& ed : edges) {
      const int32_t via = std::min(kUnbounded, 1 + std::min(ed.cap, b[ed.to]));
      if (via < b[ed.from]) {
        b[ed.from] = via;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return twin0 ? std::min(c0.remaining, b[0]) : b[0];
}

bool CompiledGrammar::region_walk(int32_t s, MaskCacheEntry& e) {
  // Exact: s is alive on every text-class string of up to B bytes (shift_alive), so
  // every class token of at most B bytes is allowed (no exit on its path) and the skeleton's
  // steps within B never die. Class nodes deeper than B (only when B is under the slice's
  // bound) are walked whole from the lexer state of their depth-B ancestor, their bits cleared
  // first; the skeleton's entries deeper than B lie below such nodes and are skipped. Walks
  // replace a state by its canonical twin where the twin reads the rest of the subtree alike.
  const TokenTrie& t = *trie_;
  Lexer& lx = grammar_->lexer();
  const Lexer::Canon c = lx.canon(s);
  // a state with a shift and under 16 bytes of reach (a run's last copies, mostly): its
  // search would step real states to the bound and give up (and shifted reuse serves it)
  if (c.region >= 0 && c.shift > 0 && c.remaining < TokenTrie::kShortClass) return false;
  const TokenTrie::ClassSlice& slice = t.full_class();
  const int B = shift_alive(s, slice.lead);
  if (B < TokenTrie::kShortClass) return false;
  const int cut = B < slice.bound ? B : INT32_MAX;
  const bool floors = lx.nfa().has_counters();
  auto walk = [&](uint32_t first, uint32_t last, int32_t parent) {
    if (floors)
      lexer_walk_as<false, true, true>(first, last, parent, e);
    else
      lexer_walk_as<false, false, true>(first, last, parent, e);
  };
  const TokenTrie::Node* nodes = t.nodes();
  // A path's lexer state as its canonical twin q and a shift S: the real state is q's region
  // states moved S copies forward (Lexer::shift_state), built only where a walk must start
  // from it. A step from a real state with a copy to spare (rem >= 1) is the twin's step
  // shifted (the copies are congruent: the lemma section 5's shifted reuse rests on), so class
  // paths cost the twins' few DFA states instead of one per copy along them.
  struct Tw {
    int32_t q;
    int32_t S;
  };
  // (a string with both bounds has two regions, the required copies and the optional ones:
  // a path's region is its twin's, and a path moves to the next region from a real state)
  std::vector<std::pair<Tw, int32_t>> built;  // (twin, shift) -> real state
  auto real = [&](Tw p) {
    if (p.S == 0) return p.q;
    for (const auto& x : built)
      if (x.first.q == p.q && x.first.S == p.S) return x.second;
    const int32_t r = lx.shift_state(p.q, lx.canon(p.q).region, p.S);
    built.push_back({p, r});
    return r;
  };
  // copies the real state can still read through (bytes), -1: unknown (not in a region)
  auto reach = [&](Tw p) {
    const Lexer::Canon& cp = lx.canon(p.q);
    return cp.region >= 0 ? cp.remaining - p.S : -1;
  };
  // a counted state (bounds over 1,000) as its count floor when the two read the rest of every
  // path below depth d alike (Lexer::count_floor): a DFA state per NFA-state set, not per count
  auto floor = [&](int32_t q, int d) {
    return floors && q != kDead && !lx.counts(q).empty() ? lx.count_floor(q, t.max_depth() - d) : q;
  };
  auto step = [&](Tw p, uint8_t b, int d) -> Tw {
    if (p.S > 0 && reach(p) < 1) p = {real(p), 0};
    const int32_t q = lx.next(p.q, b);
    if (q == kDead) return {kDead, 0};
    const Lexer::Canon& cq = lx.canon(q);
    if (cq.region < 0 || (p.S > 0 && cq.region != lx.canon(p.q).region)) {
      if (p.S == 0) return {floor(q, d), 0};
      return {floor(lx.next(real(p), b), d), 0};  // left the twin's region
    }
    return cq.shift > 0 ? Tw{cq.state, p.S + cq.shift} : Tw{q, p.S};
  };
  // the state a walk of node's subtree starts from (parent p at depth d): the twin when the
  // real state's copies last through the subtree (the two read it alike), else the real one
  auto parent = [&](Tw p, uint32_t node, int d) {
    return p.S == 0 || nodes[node].deepest - d <= reach(p) ? p.q : real(p);
  };
  for (size_t w = 0; w < e.inside.size(); ++w) e.inside[w] |= slice.tokens[w];
  std::vector<Tw> st(size_t(t.max_depth()) + 2, Tw{kDead, 0});
  st[0] = c.region >= 0 && c.shift > 0 ? Tw{c.state, c.shift} : Tw{s, 0};
  for (size_t k = 0, n = slice.skeleton.size(); k < n; ++k) {
    const uint32_t x = slice.skeleton[k];
    const uint16_t d = slice.depths[k];
    if (d > cut) continue;
    const uint32_t node = x & ~TokenTrie::kSkeletonFrontier;
    if (x & TokenTrie::kSkeletonFrontier) {
      const int32_t p = parent(st[d - 1], node, d - 1);
      if (lx.next(p, slice.bytes[k]) == kDead) {
        if (!lx.accepting(p).empty()) e.exits.push_back({node, p});
        continue;
      }
      walk(node, t.subtree_end(node), p);
    } else {
      st[d] = step(st[d - 1], slice.bytes[k], d);
      if (st[d].q == kDead) throw std::logic_error("region_walk: a class path died (shift_alive is wrong)");
    }
  }
  if (cut == INT32_MAX) return true;
  // the class nodes deeper than cut: their depth-cut ancestors' states, then their subtrees
  const int32_t* ids = t.ids();
  // (TokenTrie::deep_class: the nodes below class paths that reach past kShortClass <= cut;
  // a node's descendants follow it there, so a subtree is skipped by its end)
  std::vector<int> u(size_t(cut) + 1, 0);
  const std::vector<uint32_t>& deep = t.deep_class();
  auto skip = [&](size_t k, uint32_t end) {
    return size_t(std::lower_bound(deep.begin() + k, deep.end(), end) - deep.begin());
  };
  for (size_t k = 0, n = deep.size(); k < n;) {
    const uint32_t i = deep[k];
    const TokenTrie::Node& nd = nodes[i];
    if (nd.deepest <= cut) {
      k = skip(k + 1, nd.end);
      continue;
    }
    if (nd.depth <= cut) {
      const int v = TokenTrie::class_step(slice.lead, u[nd.depth - 1], nd.byte);
      if (v == TokenTrie::kUtf8Reject) {  // a skeleton frontier node within cut: walked above
        k = skip(k + 1, nd.end);
        continue;
      }
      st[nd.depth] = step(st[nd.depth - 1], nd.byte, nd.depth);
      if (st[nd.depth].q == kDead)
        throw std::logic_error("region_walk: a class path died (shift_alive is wrong)");
      u[nd.depth] = v;
      ++k;
      continue;
    }
    for (uint32_t j = i; j < nd.end; ++j)
      for (uint32_t m = nodes[j].tok_begin, me = m + nodes[j].tok_count; m < me; ++m)
        e.inside[ids[m] >> 5] &= ~(1u << (ids[m] & 31));
    walk(i, nd.end, parent(st[cut], i, cut));
    k = skip(k + 1, nd.end);
  }
  return true;
}

bool CompiledGrammar::class_walk(int32_t s, MaskCacheEntry& e) {
  // Which slice: the whole class when s is alive on every class string (strings and keys);
  // else the short slice when s is alive on every class string of up to kShortClass bytes
  // (strings of bounded length, far enough from their bound). A state of a repetition region
  // that is a shifted twin of its canonical state with enough copies ahead behaves like it on
  // every path that long (Lexer::Canon), so the canonical state answers for all positions of
  // a long bounded string and the exploration is done once.
  const TokenTrie& t = *trie_;
  Lexer& lx = grammar_->lexer();
  const Lexer::Canon& c = lx.canon(s);
  if ((!lx.nfa().regions().empty() || lx.nfa().has_counters()) && region_walk(s, e)) return true;
  const TokenTrie::ClassSlice* slice = nullptr;
  // Free text and negated patterns (loopy: s loops on most ASCII bytes but not on every text
  // byte): the state's own class first (own_class: free text loops on every byte but the first
  // ones of its trigger and excluded strings; a `[^/]+` string on every text byte but `/`),
  // asked of the DFA (loop_alive: a few steps where the class strings lead to a few states)
  // before any exploration of NFA sets; the text class's check would only fail there, after
  // building the trigger's states. The class is taken from the vocabulary's slices of
  // per-grammar classes (TokenTrie::class_slice, built once per class).
  int dies_at = INT32_MAX;
  const bool loops = c.region < 0 && loopy(s);
  uint64_t own[4];
  const bool has_own = loops && own_class(s, own);
  LoopAnswer own_answer = kLoopUnknown;
  bool one_boundary = false;
  if (has_own) {
    own_answer = loop_alive(s, own, &dies_at, &one_boundary);
    if (own_answer == kLoopAlive) {
      // A class that leaves out many text bytes (the string before an unanchored pattern such
      // as `[0-9a-f]{8}-...`, which loops on every byte but the hex digits) has a skeleton of
      // most of the trie: the text class first, when s is alive on every string of it too
      // (it can always still find its pattern further on). Free text, whose class leaves out
      // the first bytes of a few strings, keeps its own class.
      int out = 0;
      for (int b = 0x20; b <= 0x7E; ++b)
        out += TokenTrie::is_text_byte(uint8_t(b)) && !(own[b >> 6] >> (b & 63) & 1);
      int text_dies = INT32_MAX;
      if (out >= kWideOwnGap) {
        const LoopAnswer a = loop_alive(s, t.full_class().lead, &text_dies);
        if (a == kLoopAlive ||
            (a == kLoopUnknown && class_alive(s, t.full_class().bound, 1024, t.full_class().lead)))
          slice = &t.full_class();
      }
      if (slice == nullptr) slice = t.class_slice(own);
    }
  }
  // The text class: the whole slice when s is alive on every class string (strings and keys),
  // else the short one when alive on those of up to kShortClass bytes (bounded strings).
  dies_at = INT32_MAX;
  const LoopAnswer text =
      slice == nullptr && loops ? loop_alive(s, t.full_class().lead, &dies_at) : kLoopUnknown;
  if (slice != nullptr) {
  } else if (text == kLoopAlive || (text == kLoopUnknown && c.region < 0 &&
                                    class_alive(s, t.full_class().bound, 1024, t.full_class().lead))) {
    slice = &t.full_class();
  } else if (dies_at > t.short_class().bound) {
    const int bound = t.short_class().bound;
    const int32_t q = (c.region >= 0 && c.shift > 0 && c.remaining > bound) ? c.state : s;
    if (class_alive(q, bound, 512, t.short_class().lead)) slice = &t.short_class();
  }
  // Else the own class by part_alive, alive on every string of it up to the longest token
  // (where the DFA could not tell, or for states loopy() does not take).
  if (slice == nullptr && c.region < 0 &&
      (loops ? has_own && own_answer == kLoopUnknown : own_class(s, own))) {
    if (class_alive(s, t.max_depth(), 1024, own)) slice = t.class_slice(own);
  }
  if (slice == nullptr) return false;
  for (size_t w = 0; w < e.inside.size(); ++w) e.inside[w] |= slice->tokens[w];
  // Every class string that ends at a character boundary leads s back to s (loop_alive found
  // one boundary pair): the boundary frontier subtrees are walked as one suffix trie from s,
  // and only the skeleton of the other frontier nodes (inside a character) is stepped.
  const bool by_suffix =
      own_answer == kLoopAlive && one_boundary && std::equal(own, own + 4, slice->lead) && t.suffixes(*slice);
  if (by_suffix) suffix_walk(s, *slice, e);
  // st[d]: lexer state after the skeleton node at depth d on the current path. Every class
  // path within the bound keeps the lexer alive, so a skeleton ancestor never dies.
  std::vector<int32_t> st(size_t(t.max_depth()) + 2, kDead);
  st[0] = s;
  const uint32_t* skel = by_suffix ? slice->mid.data() : slice->skeleton.data();
  const uint8_t* skel_byte = by_suffix ? slice->mid_bytes.data() : slice->bytes.data();
  const uint16_t* skel_depth = by_suffix ? slice->mid_depths.data() : slice->depths.data();
  const size_t skel_n = by_suffix ? slice->mid.size() : slice->skeleton.size();
  for (size_t k = 0, n = skel_n; k < n; ++k) {
    const uint32_t x = skel[k];
    const uint16_t d = skel_depth[k];
    if (x & TokenTrie::kSkeletonFrontier) {
      // (lexer_walk's first step, without touching the node when its byte is refused)
      const uint32_t node = x & ~TokenTrie::kSkeletonFrontier;
      const int32_t p = st[d - 1];
      if (lx.next(p, skel_byte[k]) == kDead) {
        if (!lx.accepting(p).empty()) e.exits.push_back({node, p});
        continue;
      }
      lexer_walk<false>(node, t.subtree_end(node), p, e);
    } else {
      const int32_t q = lx.next(st[d - 1], skel_byte[k]);
      if (q == kDead) throw std::logic_error("class_walk: a class path died (class_alive is wrong)");
      st[d] = q;
    }
  }
  return true;
}

bool CompiledGrammar::kill_class(int32_t s, uint64_t lead[4]) {
  constexpr int kMaxKilled = 8;  // bytes left out at most (else the skeleton is most of the trie)
  Lexer& lx = grammar_->lexer();
  const uint8_t* cls = lx.byte_classes();
  const uint64_t* text = trie_->full_class().lead;
  std::copy(text, text + 4, lead);
  auto drop = [&](int b) { lead[b >> 6] &= ~(uint64_t(1) << (b & 63)); };
  int killed = 0;
  for (int b = 0; b < 128; ++b)
    if ((text[b >> 6] >> (b & 63) & 1) && lx.next(s, static_cast<uint8_t>(b)) == kDead) {
      drop(b);
      if (++killed > kMaxKilled) return false;
    }
  // (a counted state: its count floor reads every character alike, and is shared by the states
  // that differ only in their counts)
  if (lx.nfa().has_counters()) s = lx.count_floor(s, 4);
  // every well-formed continuation from q in UTF-8 state u, one byte per lexer byte class
  // (memoised by (q, u): most lead bytes of a length lead to the same state)
  std::vector<std::pair<int64_t, bool>> memo;
  auto all_alive = [&](auto&& self, int32_t q, int u) -> bool {
    if (u == 0) return true;
    const int64_t key = int64_t(q) * 8 + u;
    for (const auto& m : memo)
      if (m.first == key) return m.second;
    uint8_t seen[256] = {0};
    bool ok = true;
    for (int x = 0x80; x <= 0xBF; ++x) {
      const int v = TokenTrie::utf8_step(u, static_cast<uint8_t>(x));
      if (v == TokenTrie::kUtf8Reject || seen[cls[x]] & (1u << v)) continue;
      seen[cls[x]] |= uint8_t(1u << v);
      const int32_t r = lx.next(q, static_cast<uint8_t>(x));
      if (r == kDead || !self(self, r, v)) {
        ok = false;
        break;
      }
    }
    memo.emplace_back(key, ok);
    return ok;
  };
  for (int b = 0xC2; b <= 0xF4; ++b) {
    if (!(text[b >> 6] >> (b & 63) & 1)) continue;
    const int32_t q = lx.next(s, static_cast<uint8_t>(b));
    if (q == kDead || !all_alive(all_alive, q, TokenTrie::utf8_step(0, static_cast<uint8_t>(b)))) {
      drop(b);
      if (++killed > kMaxKilled) return false;
    }
  }
  return true;
}

bool CompiledGrammar::record_class_walk(int32_t s, MaskCacheEntry& e) {
  // Exact as class_walk (the slice's tokens are class strings of at most kShallowDepth bytes,
  // on which s is alive: no exit on their paths), and the record is full_walk's: every token
  // of at most kShallowDepth bytes that s allows is in shallow_inside (the slice's, or found in
  // a walked subtree), every exit is recorded, and every alive node at depth kShallowDepth + 1
  // is in the frontier with its parent (the class nodes there are the slice's skeleton
  // frontier, walked from the skeleton's state at depth kShallowDepth; the others lie in
  // walked subtrees, which record them as full_walk does).
  const TokenTrie& t = *trie_;
  Lexer& lx = grammar_->lexer();
  uint64_t lead[4];
  if (!kill_class(s, lead)) return false;
  if (!class_alive(s, kShallowDepth, 512, lead)) return false;
  const TokenTrie::ClassSlice* slice = t.class_slice(lead, kShallowDepth);
  if (slice == nullptr) return false;
  e.shallow_inside.assign(t.mask_words(), 0);
  for (size_t w = 0; w < e.inside.size(); ++w) {
    e.inside[w] |= slice->tokens[w];
    e.shallow_inside[w] |= slice->tokens[w];
  }
  std::vector<int32_t> st(size_t(t.max_depth()) + 2, kDead);
  st[0] = s;
  const bool floors = lx.nfa().has_counters();
  const TokenTrie::Node* nodes = t.nodes();
  for (size_t k = 0, n = slice->skeleton.size(); k < n; ++k) {
    const uint32_t x = slice->skeleton[k];
    const uint16_t d = slice->depths[k];
    if (x & TokenTrie::kSkeletonFrontier) {
      const uint32_t node = x & ~TokenTrie::kSkeletonFrontier;
      const int32_t p = st[d - 1];
      if (lx.next(p, slice->bytes[k]) == kDead) {
        if (!lx.accepting(p).empty()) e.exits.push_back({node, p});
        continue;
      }
      lexer_walk<true>(node, t.subtree_end(node), p, e);
    } else {
      int32_t q = lx.next(st[d - 1], slice->bytes[k]);
      if (q == kDead) throw std::logic_error("record_class_walk: a class path died (class_alive is wrong)");
      // (as lexer_walk: the count floor where it reads the node's subtree alike, so the walk
      // builds a DFA state per NFA-state set, not one per (set, count) at every depth)
      if (floors) q = lx.count_floor(q, nodes[x].deepest - d);
      st[d] = q;
    }
  }
  return true;
}

template <class Split>
void CompiledGrammar::skeleton_walk(const TokenTrie::ClassSlice& slice, std::vector<int32_t>& st,
                                    MaskCacheEntry& e, const Split& split) {
  const TokenTrie& t = *trie_;
  Lexer& lx = grammar_->lexer();
  const bool floors = lx.nfa().has_counters();
  const TokenTrie::Node* nodes = t.nodes();
  for (size_t k = 0, n = slice.skeleton.size(); k < n; ++k) {
    const uint32_t x = slice.skeleton[k];
    const uint16_t d = slice.depths[k];
    if (x & TokenTrie::kSkeletonFrontier) {
      const uint32_t node = x & ~TokenTrie::kSkeletonFrontier;
      const int32_t p = st[d - 1];
      if (lx.next(p, slice.bytes[k]) == kDead) {
        if (!lx.accepting(p).empty()) e.exits.push_back({node, p});
        continue;
      }
      if (d == 1 && split(node)) continue;
      lexer_walk<false>(node, t.subtree_end(node), p, e);
    } else {
      int32_t q = lx.next(st[d - 1], slice.bytes[k]);
      if (q == kDead) throw std::logic_error("skeleton_walk: a class path died (class_alive is wrong)");
      if (floors) q = lx.count_floor(q, nodes[x].deepest - d);
      st[d] = q;
    }
  }
}

bool CompiledGrammar::loop_class(int32_t w, uint64_t lead[4]) {
  Lexer& lx = grammar_->lexer();
  const uint8_t* cls = lx.byte_classes();
  const uint64_t* text = trie_->full_class().lead;
  std::fill(lead, lead + 4, 0);
  if (lx.nfa().has_counters()) w = lx.count_floor(w, 4);
  const std::vector<int32_t>& home = lx.nfa_states(w);
  auto back = [&](int32_t q) { return q != kDead && (q == w || lx.nfa_states(q) == home); };
  int ascii = 0;
  for (int b = 0; b < 128; ++b)
    if ((text[b >> 6] >> (b & 63) & 1) && back(lx.next(w, static_cast<uint8_t>(b)))) {
      lead[b >> 6] |= uint64_t(1) << (b & 63);
      ++ascii;
    }
  if (ascii < 64) return false;
  std::vector<std::pair<int64_t, bool>> memo;
  auto all_back = [&](auto&& self, int32_t q, int u) -> bool {
    if (u == 0) return back(q);
    if (q == kDead) return false;
    const int64_t key = int64_t(q) * 8 + u;
    for (const auto& m : memo)
      if (m.first == key) return m.second;
    uint8_t seen[256] = {0};
    bool ok = true;
    for (int x = 0x80; x <= 0xBF && ok; ++x) {
      const int v = TokenTrie::utf8_step(u, static_cast<uint8_t>(x));
      if (v == TokenTrie::kUtf8Reject || seen[cls[x]] & (1u << v)) continue;
      seen[cls[x]] |= uint8_t(1u << v);
      ok = self(self, lx.next(q, static_cast<uint8_t>(x)), v);
    }
    memo.emplace_back(key, ok);
    return ok;
  };
  for (int b = 0xC2; b <= 0xF4; ++b)
    if ((text[b >> 6] >> (b & 63) & 1) && all_back(all_back, lx.next(w, static_cast<uint8_t>(b)),
                                                   TokenTrie::utf8_step(0, static_cast<uint8_t>(b))))
      lead[b >> 6] |= uint64_t(1) << (b & 63);
  return true;
}

bool CompiledGrammar::split_class_walk(int32_t s, MaskCacheEntry& e) {
  constexpr uint32_t kSplitNodes = 8192;  // root children at least this large are split
  const TokenTrie& t = *trie_;
  Lexer& lx = grammar_->lexer();
  int32_t succ[128];
  for (int b = 0; b < 128; ++b) succ[b] = lx.next(s, static_cast<uint8_t>(b));
  const int32_t w = most_common(succ, s);
  if (w == kDead) return false;
  uint64_t lead[4];
  if (!loop_class(w, lead)) return false;
  const int bound = TokenTrie::kShortClass;
  if (!class_alive(s, bound, 512, lead)) return false;
  const TokenTrie::ClassSlice* slice = t.class_slice(lead, bound);
  if (slice == nullptr) return false;
  for (size_t k = 0; k < e.inside.size(); ++k) e.inside[k] |= slice->tokens[k];
  std::vector<int32_t> st(size_t(t.max_depth()) + 2, kDead), st2(st.size(), kDead);
  st[0] = s;
  const TokenTrie::Node* nodes = t.nodes();
  const int32_t* ids = t.ids();
  auto split = [&](uint32_t node) {
    if (nodes[node].end - node < kSplitNodes) return false;
    const int32_t q = lx.next(s, nodes[node].byte);  // (alive: skeleton_walk checked)
    if (!class_alive(q, bound, 512, lead)) return false;
    const TokenTrie::ClassSlice* below = t.class_slice(lead, bound, nodes[node].byte);
    if (below == nullptr) return false;
    for (uint32_t k = nodes[node].tok_begin, ke = k + nodes[node].tok_count; k < ke; ++k)
      e.inside[ids[k] >> 5] |= 1u << (ids[k] & 31);
    for (size_t k = 0; k < e.inside.size(); ++k) e.inside[k] |= below->tokens[k];
    st2[1] = q;
    skeleton_walk(*below, st2, e, [](uint32_t) { return false; });
    return true;
  };
  skeleton_walk(*slice, st, e, split);
  return true;
}

void CompiledGrammar::suffix_walk(int32_t s, const TokenTrie::ClassSlice& slice, MaskCacheEntry& e) const {
  // lexer_walk over the suffix trie: a suffix node's tokens are allowed where the path from s
  // lives; where it dies, every trie node with that suffix is an exit (when s's state before
  // it accepts), as lexer_walk would record below each boundary frontier node.
  const TokenTrie::ClassSlice::Suffixes& x = slice.suffix;
  Lexer& lx = grammar_->lexer();
  const uint32_t* __restrict end = x.end.data();
  const uint8_t* __restrict byte = x.byte.data();
  const uint16_t* __restrict depth = x.depth.data();
  const uint32_t* __restrict tok = x.tok.data();
  const int32_t* __restrict ids = x.ids.data();
  const uint8_t* __restrict byte_class = lx.byte_classes();
  const auto* __restrict chunks = lx.row_chunks();
  const int64_t stride = lx.row_stride();
  uint32_t* __restrict inside = e.inside.data();
  auto row_of = [&](int32_t q) {
    return chunks[q >> Lexer::kRowChunkBits].get() + (q & Lexer::kRowChunkMask) * stride;
  };
  // st[d], tr[d]: the lexer state after the suffix node at depth d on the current path, its row
  std::vector<int32_t> st(size_t(trie_->max_depth()) + 2, kDead);
  std::vector<const std::atomic<int32_t>*> tr(st.size(), nullptr);
  st[0] = s;
  tr[0] = row_of(s);
  const uint32_t n = static_cast<uint32_t>(x.end.size());
  for (uint32_t i = 1; i < n;) {
    const uint16_t d = depth[i];
    int32_t q = tr[d - 1][byte_class[byte[i]]].load(std::memory_order_acquire);
    if (__builtin_expect(q == Lexer::kNotComputed, 0)) q = lx.next(st[d - 1], byte[i]);
    if (q == kDead) {
      const int32_t p = st[d - 1];
      if (!lx.accepting(p).empty())
        for (uint32_t k = x.org[i]; k < x.org[i + 1]; ++k) e.exits.push_back({x.nodes[k], p});
      i = end[i];
      continue;
    }
    st[d] = q;
    tr[d] = row_of(q);
    for (uint32_t k = tok[i], ke = tok[i + 1]; k < ke; ++k) inside[ids[k] >> 5] |= 1u << (ids[k] & 31);
    ++i;
  }
}

bool CompiledGrammar::share_walk(int32_t s, MaskCacheEntry& e) {
  constexpr int kMinShared = 64;
  const TokenTrie& t = *trie_;
  Lexer& lx = grammar_->lexer();
  // r: the state most ASCII bytes lead to from s (the text's own state, for a partial trigger)
  int32_t succ[256];
  int alive = 0;
  for (int b = 0; b < 128; ++b) alive += (succ[b] = lx.next(s, static_cast<uint8_t>(b))) != kDead;
  if (alive < kMinShared) return false;
  for (int b = 128; b < 256; ++b) succ[b] = lx.next(s, static_cast<uint8_t>(b));
  const int32_t r = most_common(succ, s);
  if (r == kDead) return false;
  const Lexer::Canon& cr = lx.canon(r);
  if (cr.region >= 0) return false;
  uint8_t same[256];
  int shared = 0;
  for (int b = 0; b < 256; ++b) {
    same[b] = succ[b] != kDead && lx.next(r, static_cast<uint8_t>(b)) == succ[b];
    shared += same[b];
    if (b == 127 && shared < kMinShared) return false;  // (r's lead-byte row not needed)
  }
  // r's entry: cached, or a class walk (else sharing would walk as much as s's own walk)
  std::shared_ptr<const MaskCacheEntry> er = lookup(r);
  if (!er) {
    auto tmp = std::make_shared<MaskCacheEntry>();
    tmp->inside.assign(t.mask_words(), 0);
    if (!class_walk(r, *tmp)) return false;
    sort_exits(*tmp);
    tmp->state = r;
    er = store(r, tmp);
  }
  // Down the trie from s and r together: below a node where both paths reach the same live
  // state, the walk from s is r's (the same states below), so r's inside bits and exits there
  // stand; elsewhere the nodes are stepped from s (where r's path lives on: a partial
  // trigger's next bytes, a few nodes), walked from s (where r's path died) or cleared of r's
  // bits (where s's path died). A partial trigger's path rejoins r's after one byte but along
  // the trigger, so this visits the trigger's prefixes in the trie, not whole subtrees.
  e.inside = er->inside;
  std::vector<uint32_t> kept;  // roots of the subtrees where r's walk stands, in node order
  const TokenTrie::Node* nodes = t.nodes();
  const int32_t* ids = t.ids();
  std::vector<int32_t> ps(size_t(t.max_depth()) + 2), pr(size_t(t.max_depth()) + 2);
  ps[0] = s;
  pr[0] = r;
  for (uint32_t i = 1; i < t.size();) {
    const TokenTrie::Node& nd = nodes[i];
    const int32_t qs = lx.next(ps[nd.depth - 1], nd.byte);
    const int32_t qr = lx.next(pr[nd.depth - 1], nd.byte);
    if (qs != kDead && qs == qr) {
      kept.push_back(i);
      i = nd.end;
    } else if (qs == kDead) {
      if (qr != kDead)
        for (uint32_t k = i; k < nd.end; ++k)
          for (uint32_t j = nodes[k].tok_begin, je = j + nodes[k].tok_count; j < je; ++j)
            e.inside[ids[j] >> 5] &= ~(1u << (ids[j] & 31));
      if (!lx.accepting(ps[nd.depth - 1]).empty()) e.exits.push_back({i, ps[nd.depth - 1]});
      i = nd.end;
    } else if (qr == kDead) {
      lexer_walk<false>(i, nd.end, ps[nd.depth - 1], e);  // (r's bits below are all clear)
      i = nd.end;
    } else {
      ps[nd.depth] = qs;  // both alive: this node's tokens are in r's bits already
      pr[nd.depth] = qr;
      ++i;
    }
  }
  for (const auto& x : er->exits) {
    auto it = std::upper_bound(kept.begin(), kept.end(), x.node);
    if (it != kept.begin() && x.node < t.subtree_end(*(it - 1))) e.exits.push_back(x);
  }
  return true;
}

namespace {
// The representative count of count c's class in region r (see count_class), or -1 when c is
// near enough to a bound for the count to matter to a token of at most L bytes.
int64_t class_count(const CountedRegion& r, int64_t c, int64_t L) {
  if (r.hi >= 0 && r.hi - c < L + r.most_min) return -1;
  if (c >= r.lo) return r.lo;
  if (r.lo - c > L + r.most_max) return 0;
  return -1;
}
}  // namespace

bool CompiledGrammar::counts_far(int32_t s) const {
  const Lexer& lx = grammar_->lexer();
  for (const auto& p : lx.counts(s))
    if (class_count(lx.nfa().counted()[p.first], p.second, trie_->max_depth()) < 0) return false;
  return true;
}

int32_t CompiledGrammar::count_class(int32_t s) {
  Lexer& lx = grammar_->lexer();
  const Lexer::Counts& counts = lx.counts(s);
  if (counts.empty()) return s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = count_class_.find(s);
    if (it != count_class_.end()) return it->second;
  }
  // A token of L bytes completes at most L units. The lexer drops a state when its count
  // plus the fewest units left (at most most_min) passes hi, or its count plus the most
  // units left (at most most_max, where finite) stays below lo, and opens the gate at lo.
  // Where no count a token can reach is that close to a bound, the count itself does not
  // matter: the class's representative (count lo, or 0) has the same mask entry (the same
  // inside tokens, and exits whose parents accept the same lexemes).
  Lexer::Counts rep = counts;
  for (auto& p : rep) {
    const int64_t c = class_count(lx.nfa().counted()[p.first], p.second, trie_->max_depth());
    if (c >= 0) p.second = static_cast<int32_t>(c);  // (else near a bound: its own count)
  }
  const int32_t out = rep == counts ? s : lx.with_counts(s, rep);
  std::lock_guard<std::mutex> lock(mu_);
  count_class_.emplace(s, out);
  return out;
}

int CompiledGrammar::twin_depth(int32_t s, int32_t twin) const {
  // Counts c and c' of a region, both at least lo (its gate is open for both, and no state is
  // dropped for lo), hi - max(c, c') - most_min >= K: a string of K bytes completes at most K
  // units (a unit is never empty), so no state's count plus its fewest units left passes hi
  // from either, and the NFA states after it are the same from both; only the counts differ.
  const Lexer& lx = grammar_->lexer();
  const Lexer::Counts& a = lx.counts(s);
  const Lexer::Counts& b = lx.counts(twin);
  if (a.empty() || a.size() != b.size()) return -1;
  int k = trie_->max_depth();
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first) return -1;
    const CountedRegion& r = lx.nfa().counted()[a[i].first];
    if (a[i].second < r.lo || b[i].second < r.lo) return -1;
    if (r.hi >= 0) k = std::min<int64_t>(k, int64_t(r.hi) - std::max(a[i].second, b[i].second) - r.most_min);
  }
  return k;
}

void CompiledGrammar::add_count_twin(int32_t s) {
  const Lexer& lx = grammar_->lexer();
  const Lexer::Counts& counts = lx.counts(s);
  if (counts.empty()) return;
  for (const auto& p : counts)
    if (p.second < lx.nfa().counted()[p.first].lo) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto& v = count_twins_[lx.nfa_states(s)];
  if (v.size() < kMaxTwins) v.push_back(s);
}

bool CompiledGrammar::twin_walk(int32_t s, MaskCacheEntry& e) {
  Lexer& lx = grammar_->lexer();
  if (lx.counts(s).empty()) return false;
  const TokenTrie& t = *trie_;
  // the twin that leaves the most bytes alike (the lowest counts)
  int32_t twin = -1;
  int k = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = count_twins_.find(lx.nfa_states(s));
    if (it == count_twins_.end()) return false;
    for (int32_t c : it->second) {
      const int d = twin_depth(s, c);
      if (d > k) {
        k = d;
        twin = c;
      }
    }
  }
  if (k < kMinTwinDepth) return false;
  std::shared_ptr<const MaskCacheEntry> te = lookup(twin);
  if (!te) return false;  // (evicted)
  // Exits within depth k are s's when their parents hold no count (past the gate: the same
  // lexer state from both twins); a parent still counting differs by its count: not shared.
  const TokenTrie::Node* nodes = t.nodes();
  for (const auto& x : te->exits)
    if (nodes[x.node].depth <= k && !lx.counts(x.parent).empty()) return false;
  e.inside = te->inside;
  for (const auto& x : te->exits)
    if (nodes[x.node].depth <= k) e.exits.push_back(x);
  // Below depth k: the twin's bits cleared, s's walked. Subtrees no deeper than k are the
  // twin's; a path that dies within k died for the twin too (no bits below it to clear).
  const int32_t* ids = t.ids();
  std::vector<int32_t> st(size_t(k) + 1, kDead);
  st[0] = s;
  for (uint32_t i = 1, n = t.size(); i < n;) {
    const TokenTrie::Node& nd = nodes[i];
    if (nd.deepest <= k) {
      i = nd.end;
      continue;
    }
    if (nd.depth <= k) {
      const int32_t q = lx.next(st[nd.depth - 1], nd.byte);
      if (q == kDead) {
        i = nd.end;
        continue;
      }
      st[nd.depth] = q;
      ++i;
      continue;
    }
    for (uint32_t j = i; j < nd.end; ++j)
      for (uint32_t m = nodes[j].tok_begin, me = m + nodes[j].tok_count; m < me; ++m)
        e.inside[ids[m] >> 5] &= ~(1u << (ids[m] & 31));
    lexer_walk<false>(i, nd.end, st[k], e);
    i = nd.end;
  }
  return true;
}

std::shared_ptr<const MaskCacheEntry> CompiledGrammar::cache_entry(int32_t s, bool* built) {
  if (built) *built = false;
  if (auto hit = lookup(s)) return hit;
  {
    const int32_t r = count_class(s);
    if (r != s) return cache_entry(r, built);
  }
  if (built) *built = true;
  const TokenTrie& t = *trie_;
  Lexer& lx = grammar_->lexer();
  const Lexer::Canon c = lx.canon(s);
  auto e = std::make_shared<MaskCacheEntry>();
  // Free text: another grammar of this vocabulary may have walked the same automaton
  // (shared_entries.h); its entry, with the exits' parents mapped to this lexer's states.
  std::vector<int32_t> skey, sorder;
  static const bool sharing = [] {  // DECODER_SHARED_ENTRIES=0: off (for A/B timings)
    const char* v = std::getenv("DECODER_SHARED_ENTRIES");
    return v == nullptr || std::string(v) != "0";
  }();
  const bool shared = sharing && c.region < 0 && shared_key(lx, s, &skey, &sorder);
  const size_t shash = shared ? SharedEntries::hash(skey) : 0;
  if (shared) {
    if (auto hit = t.shared_entries().find(skey, shash)) {
      e->inside = hit->inside;
      std::vector<int32_t> parent(hit->parents.size());
      for (size_t k = 0; k < parent.size(); ++k) {
        std::vector<int32_t> set;
        set.reserve(hit->parents[k].size());
        for (int32_t w : hit->parents[k]) set.push_back(sorder[w]);
        std::sort(set.begin(), set.end());
        parent[k] = lx.state_of(std::move(set));
      }
      e->exits.reserve(hit->exits.size());
      for (const auto& x : hit->exits) e->exits.push_back({x.first, parent[x.second]});
      sort_exits(*e);
      e->state = s;
      return store(s, e);
    }
  }
  e->inside.assign(t.mask_words(), 0);
  const bool partial = c.region < 0 && partial_trigger(s);
  if (partial && share_walk(s, *e)) {
    // a partial trigger or the start of free text: share_walk (before class_walk, whose checks
    // would only fail there, after building the trigger's states)
  } else if (class_walk(s, *e)) {
    // alive after every class string (strings, keys): see class_walk
  } else if (c.region < 0 && !partial && share_walk(s, *e)) {
    // agrees with a class-walked state on most first bytes (a partial trigger): share_walk
  } else if (twin_walk(s, *e)) {
    // counts near a bound, a count twin cached: see twin_walk
  } else if (chain_walk(s, *e)) {
    // a bounded string (maxLength, exact length): see chain_walk
  } else if (c.shift > 0 && c.remaining >= kShallowDepth && !cache_entry(c.state)->shallow_inside.empty()) {
    // s is its canonical twin shifted c.shift copies forward, with enough copies left that
    // every path of up to kShallowDepth bytes behaves the same: reuse the twin's walk down
    // to that depth, and walk only the (few) deeper nodes from s's own states.
    auto ce = cache_entry(c.state);
    e->inside = ce->shallow_inside;
    for (const auto& x : ce->exits)
      if (t.depth(x.node) <= kShallowDepth) e->exits.push_back(x);  // same accepting lexemes
    int32_t last_parent = -1, shifted_parent = -1;
    for (const auto& f : ce->frontier) {
      if (f.parent != last_parent) {
        last_parent = f.parent;
        shifted_parent = lx.shift_state(f.parent, c.region, c.shift);
      }
      lexer_walk<false>(f.node, t.subtree_end(f.node), shifted_parent, *e);
    }
  } else if (!(c.region >= 0 && c.shift == 0) || c.remaining < kShallowDepth) {
    // (a canonical state with fewer than kShallowDepth copies left has no twin to reuse a record:
    // Lexer::compute_canon leaves the states near the end of their copies canonical.) A
    // repetition state near the end of its copies: its class and the space's, if they fit.
    if (!(c.region >= 0 && split_class_walk(s, *e))) root_walk(s, *e);
  } else if (record_class_walk(s, *e)) {
    // a canonical state alive on its killer class to kShallowDepth bytes (a word-count pattern
    // under maxLength): the class slice of that bound, walked with the record
    std::stable_sort(
        e->frontier.begin(), e->frontier.end(),
        [](const MaskCacheEntry::Exit& a, const MaskCacheEntry::Exit& b) { return a.parent < b.parent; });
  } else {
    e->shallow_inside.assign(t.mask_words(), 0);
    full_walk(s, *e, true);
    std::stable_sort(
        e->frontier.begin(), e->frontier.end(),
        [](const MaskCacheEntry::Exit& a, const MaskCacheEntry::Exit& b) { return a.parent < b.parent; });
  }
  sort_exits(*e);
  e->state = s;
  if (shared && e->frontier.empty() && e->shallow_inside.empty() && t.shared_entries().seen_before(shash))
    share_entry(*e, skey, shash, sorder);
  auto out = store(s, e);
  add_count_twin(s);
  return out;
}

void CompiledGrammar::share_entry(const MaskCacheEntry& e, std::vector<int32_t>& key, size_t h,
                                  const std::vector<int32_t>& order) const {
  // The exits' parents in the key's numbering (every parent's NFA states are reachable from
  // the entry's state, so all have a local id; else the entry is not shared).
  Lexer& lx = grammar_->lexer();
  std::unordered_map<int32_t, int32_t> local;
  for (size_t i = 0; i < order.size(); ++i) local.emplace(order[i], static_cast<int32_t>(i));
  auto x = std::make_shared<SharedEntry>();
  x->inside = e.inside;
  std::unordered_map<int32_t, int32_t> parent_index;
  for (const auto& ex : e.exits) {
    auto it = parent_index.find(ex.parent);
    if (it == parent_index.end()) {
      std::vector<int32_t> set;
      for (int32_t q : lx.nfa_states(ex.parent)) {
        auto l = local.find(q);
        if (l == local.end() || !lx.counts(ex.parent).empty()) return;
        set.push_back(l->second);
      }
      it = parent_index.emplace(ex.parent, static_cast<int32_t>(x->parents.size())).first;
      x->parents.push_back(std::move(set));
    }
    x->exits.emplace_back(ex.node, it->second);
  }
  trie_->shared_entries().put(std::move(key), h, std::move(x));
}

void CompiledGrammar::set_extras(const std::vector<int32_t>& special_ids,
                                 const std::vector<std::pair<int32_t, int32_t>>& budgets,
                                 const std::vector<std::pair<int32_t, int32_t>>& distinct) {
  const TokenTrie& t = *trie_;
  GrammarExtras x;
  for (int32_t id : special_ids) {
    if (id < 0 || id >= t.mask_width())
      throw GrammarError("special token id " + std::to_string(id) + " is outside the vocabulary (" +
                         std::to_string(t.mask_width()) + " ids)");
    if (!t.is_excluded(id) && id < t.vocab_size())
      throw GrammarError("token id " + std::to_string(id) +
                         " is not a special token of this vocabulary (name its text instead)");
    if (std::find(x.special_ids.begin(), x.special_ids.end(), id) != x.special_ids.end()) continue;
    x.special_ids.push_back(id);
    x.special_bytes.push_back(special_marker_bytes(id));
  }
  if (!x.special_ids.empty())
    for (int32_t id = 0; id < t.vocab_size(); ++id) {
      if (t.is_excluded(id)) continue;
      std::string_view b = t.token_bytes(id);
      if (b.find(static_cast<char>(kSpecialMarker)) != std::string_view::npos) x.marker_tokens.push_back(id);
    }
  for (const auto& b : budgets) {
    if (b.first < 0 || b.first >= grammar_->num_lexemes())
      throw GrammarError("token budget on lexeme " + std::to_string(b.first) + ", which does not exist");
    if (b.second < 0) throw GrammarError("a token budget is not negative");
    x.budgets.push_back(b);
  }
  for (const auto& d : distinct) {
    if (d.first < 0 || d.first >= grammar_->num_lexemes())
      throw GrammarError("distinct-item role on lexeme " + std::to_string(d.first) +
                         ", which does not exist");
    if (d.second < kDistinctItem || d.second > kDistinctFiniteItem)
      throw GrammarError("distinct-item role " + std::to_string(d.second) +
                         " is neither item (1), opener (2), closer (3), value-list opener (4) nor "
                         "finite item (5)");
    if (d.second == kDistinctValueList) x.bracket_tokens = &t.bracket_tokens();
    if (x.distinct.empty()) x.distinct.assign(grammar_->num_lexemes(), kNotDistinct);
    if (d.second == kDistinctFiniteItem) {
      if (x.finite_items.empty()) x.finite_items.assign(grammar_->num_lexemes(), 0);
      x.finite_items[d.first] = 1;
    }
    x.distinct[d.first] = static_cast<uint8_t>(d.second == kDistinctFiniteItem ? kDistinctItem : d.second);
  }
  if (!x.distinct.empty()) x.quote_tokens = &t.quote_tokens();
  if (!x.finite_items.empty()) x.two_quote_tokens = &t.two_quote_tokens();
  extras_ = std::move(x);
}

// ------------------------------------------------------------------ matcher

Matcher::Matcher(std::shared_ptr<CompiledGrammar> cg)
    : cg_(std::move(cg)), trie_(&cg_->trie()), g_(&cg_->grammar()), lexer_(&g_->lexer()), parser_(g_) {
  if (!cg_->extras().empty()) extras_ = &cg_->extras();
  frames_.assign(trie_->max_depth() + 1, WalkFrame{kDead, nullptr, 0, kDead, nullptr});
  distinct_ = !cg_->extras().distinct.empty();
  if (distinct_) {
    dframes_.assign(trie_->max_depth() + 1, DistinctFrame{0, false, 0, 0, 0});
    path_.assign(trie_->max_depth() + 1, '\0');
    close_val_.assign(trie_->max_depth() + 1, std::string());
    has_value_lists_ = cg_->extras().bracket_tokens != nullptr;
    has_finite_items_ = !cg_->extras().finite_items.empty();
  }
  if (has_finite_items_) {  // byte classes for counting key completions (matcher_dead_keys.cc)
    class_rep_.assign(lexer_->num_byte_classes(), -1);
    class_n_.assign(lexer_->num_byte_classes(), 0);
    for (int b = 0; b < 256; ++b) {
      if (b == '"' || b == '\\') continue;
      const uint8_t c = lexer_->byte_class(static_cast<uint8_t>(b));
      if (class_rep_[c] < 0) class_rep_[c] = static_cast<int16_t>(b);
      ++class_n_[c];
    }
  }
  reset();
}

#define DECODER_STEP_SCOPE(what) WorkScope work_scope_(g_->limits().max_step_work, "max_step_work", what)

void Matcher::reset() {
  DECODER_STEP_SCOPE("starting a matcher");
  parser_.reset();
  lex_state_ = lexer_->start_state(parser_.top().lexset);
  fresh_ = true;
  terminated_ = false;
  lexeme_start_ = -1;
  history_.clear();
  bytes_.clear();
  lex_begin_ = 0;
  seen_.clear();
  seen_scope_.clear();
  scopes_.assign(distinct_ ? 1 : 0, Scope{0, 0, 0, false});
  scope_ = 0;
  live_items_ = 0;
  ++seen_gen_;
}

Matcher::Step Matcher::snapshot(bool terminated) const {
  Step s{static_cast<uint32_t>(parser_.num_rows()), lex_state_, fresh_, terminated, lexeme_start_};
  s.nbytes = static_cast<uint32_t>(bytes_.size());
  s.lex_begin = lex_begin_;
  s.nseen = static_cast<uint32_t>(seen_.size());
  s.nscopes = static_cast<uint32_t>(scopes_.size());
  s.live_items = live_items_;
  s.scope = scope_;
  return s;
}

void Matcher::restore(const Step& s) {
  parser_.truncate(s.rows);
  lex_state_ = s.lex_state;
  fresh_ = s.fresh;
  terminated_ = s.terminated;
  lexeme_start_ = s.lexeme_start;
  if (distinct_) {
    bytes_.resize(s.nbytes);
    lex_begin_ = s.lex_begin;
    seen_.resize(s.nseen);
    seen_scope_.resize(s.nseen);
    scopes_.resize(s.nscopes);
    live_items_ = s.live_items;
    scope_ = s.scope;
    ++seen_gen_;
  }
}

bool Matcher::end_lexeme(int32_t s, bool drop_items) {
  // The row this pushes depends only on the row below and on the lexemes s accepts: reuse
  // it if it is still in the parser's storage (siblings in a trie walk, and the exits of a
  // cached walk, end the same lexemes over and over from many lexer states).
  const int64_t key = lexer_->accept_id(s) + (drop_items ? (int64_t(1) << 40) : 0);
  if (parser_.revive(key)) return true;
  const std::vector<int32_t>& acc = lexer_->accepting(s);
  if (acc.empty()) return false;
  // Grammar lexemes win over ignored ones when both match the same text.
  scratch_.clear();
  int32_t ignore = -1;
  for (int32_t lx : acc) {
    if (g_->is_ignore(lx)) {
      if (ignore < 0) ignore = lx;
    } else if (!drop_items || extras_->distinct[lx] != kDistinctItem) {
      scratch_.push_back(lx);
    }
  }
  if (!scratch_.empty() && parser_.scan(scratch_, key)) return true;
  if (ignore < 0) return false;
  parser_.scan_ignore(ignore, key);
  return true;
}

int32_t Matcher::step(int32_t s, uint8_t b) {
  if (s == kDead) return kDead;
  int32_t t = lexer_->next(s, b);
  if (t != kDead) return t;
  if (distinct_) {
    if (!end_committed(s, true)) return kDead;
    lex_begin_ = static_cast<uint32_t>(bytes_.size());  // b (appended by feed) begins the next
  } else if (!end_lexeme(s)) {
    return kDead;
  }
  int32_t s0 = lexer_->start_state(parser_.top().lexset);
  return s0 == kDead ? kDead : lexer_->next(s0, b);
}

bool Matcher::can_end() {
  if (fresh_) return parser_.top().accepting;
  size_t rows = parser_.num_rows();
  bool ok;
  try {
    ok = end_committed(lex_state_, false) && parser_.top().accepting;
  } catch (...) {
    parser_.truncate(rows);
    throw;
  }
  parser_.truncate(rows);
  return ok;
}

bool Matcher::is_accepting() {
  DECODER_STEP_SCOPE("is_accepting()");
  return terminated_ || can_end();
}

bool Matcher::feed(const uint8_t* data, size_t n) {
  int32_t s = lex_state_;
  const bool was_fresh = fresh_;
  const size_t rows_before = parser_.num_rows();
  for (size_t i = 0; i < n; ++i) {
    s = step(s, data[i]);
    if (s == kDead) return false;
    if (distinct_) bytes_.push_back(static_cast<char>(data[i]));
  }
  if (n > 0) {
    lex_state_ = s;
    fresh_ = false;
    // the current lexeme began in this step (the index it gets in history_) when the
    // step started a lexeme or ended one (ending pushes parser rows)
    if (was_fresh || parser_.num_rows() != rows_before) lexeme_start_ = static_cast<int32_t>(history_.size());
    // A lexeme that no byte can extend has ended: scan it now, so that the next mask
    // starts from the fresh start state of the next row, whose walk is cached.
    bool dup = false;
    if (!lexer_->can_extend(s)) {
      if (end_committed(s, true, &dup)) {
        // kDead with fresh_: no lexeme may follow, only the end of the output
        lex_state_ = lexer_->start_state(parser_.top().lexset);
        fresh_ = true;
        lex_begin_ = static_cast<uint32_t>(bytes_.size());
      } else if (dup) {
        return false;  // an item equal to an earlier one of its list, and nothing else
      }
    }
    // a key prefix whose every completion was used (matcher_dead_keys.cc)
    if (has_finite_items_ && !fresh_ && finite_live(lex_state_) &&
        dead_key_raw(lex_state_, std::string_view(bytes_).substr(lex_begin_), nullptr))
      return false;
  }
  return true;
}

bool Matcher::commit_bytes(const uint8_t* data, size_t n) {
  DECODER_STEP_SCOPE("one commit");
  if (terminated_) return false;
  const Step saved = snapshot(terminated_);
  bool ok;
  try {
    ok = feed(data, n);
  } catch (...) {  // a limit: the step leaves no trace
    restore(saved);
    throw;
  }
  if (!ok) {
    restore(saved);
    return false;
  }
  history_.push_back(saved);
  return true;
}

bool Matcher::commit_token(int32_t token) {
  DECODER_STEP_SCOPE("one commit");
  if (terminated_) {
    // After EOS the mask allows EOS alone (a finished row of a batch keeps a distribution
    // to sample from), so EOS commits again: a step that changes nothing, kept in the
    // history so that rollback counts steps the same way everywhere.
    if (!trie_->is_eos(token)) return false;
    history_.push_back(snapshot(true));
    return true;
  }
  if (extras_ != nullptr && !extras_->budgets.empty() && !budget_allows(token)) return false;
  if (extras_ != nullptr && !extras_->special_ids.empty()) {
    const int32_t k = special_index(token);
    if (k >= 0) {
      // a named special token: its marker bytes, where the grammar takes them
      const std::string& m = extras_->special_bytes[k];
      if (commit_bytes(reinterpret_cast<const uint8_t*>(m.data()), m.size())) return true;
      if (!trie_->is_eos(token)) return false;
    } else if (!trie_->is_excluded(token)) {
      std::string_view b = trie_->token_bytes(token);
      if (b.find(static_cast<char>(kSpecialMarker)) != std::string_view::npos) return false;
    }
  }
  if (trie_->is_eos(token)) {
    if (!can_end()) return false;
    history_.push_back(snapshot(false));
    terminated_ = true;
    return true;
  }
  if (trie_->is_excluded(token)) return false;
  std::string_view b = trie_->token_bytes(token);
  if (b.empty()) return false;
  return commit_bytes(reinterpret_cast<const uint8_t*>(b.data()), b.size());
}

bool Matcher::is_allowed(int32_t token) {
  if (!commit_token(token)) return false;
  rollback(1);
  return true;
}

std::string Matcher::forced_bytes(size_t max_len) {
  std::string out;
  if (terminated_) return out;
  // Bytes of one byte class move the lexer alike from every state (also after a lexeme
  // end, which starts the next lexeme with the same byte), so one representative per
  // class tells whether the class is viable; a viable class of two or more bytes means
  // the next byte is not forced.
  const uint8_t* cls = lexer_->byte_classes();
  const int32_t nc = lexer_->num_byte_classes();
  std::vector<int32_t> size(nc, 0), rep(nc, -1);
  for (int b = 0; b < 256; ++b) {
    if (rep[cls[b]] < 0) rep[cls[b]] = b;
    ++size[cls[b]];
  }
  while (out.size() < max_len) {
    {
      DECODER_STEP_SCOPE("forced_bytes()");  // each commit below has its own
      if (can_end()) break;
    }
    int32_t found = -1;
    for (int32_t c = 0; c < nc; ++c) {
      const uint8_t b = static_cast<uint8_t>(rep[c]);
      if (!commit_bytes(&b, 1)) continue;
      rollback(1);
      if (found >= 0 || size[c] > 1) {
        found = -2;
        break;
      }
      found = b;
    }
    if (found < 0) break;
    if (extras_ != nullptr && found == kSpecialMarker) break;  // a special token, not text
    const uint8_t b = static_cast<uint8_t>(found);
    commit_bytes(&b, 1);
    out.push_back(static_cast<char>(b));
  }
  rollback(out.size());
  return out;
}

void Matcher::rollback(size_t n) {
  if (n > history_.size()) throw std::out_of_range("rollback past the start of the sequence");
  if (n == 0) return;
  Step s = history_[history_.size() - n];
  history_.resize(history_.size() - n);
  restore(s);
}

int64_t Matcher::min_completion_bytes() {
  DECODER_STEP_SCOPE("min_completion_bytes()");
  if (terminated_) return 0;
  int64_t best = kInfLen;
  if (fresh_) {
    best = parser_.min_completion(-1, 0);
  } else {
    for (int32_t lx : lexer_->live_lexemes(lex_state_)) {
      int32_t d = lexer_->dist_to_accept(lex_state_, lx);
      if (d == INT32_MAX) continue;
      best = std::min(best, parser_.min_completion(lx, d));
    }
  }
  return best >= kInfLen ? -1 : best;
}

void Matcher::set_token_bits(uint32_t node, uint32_t* out) const {
  for (const int32_t* id = trie_->tokens_begin(node); id != trie_->tokens_end(node); ++id)
    out[*id >> 5] |= 1u << (*id & 31);
}

// Full walk of the trie nodes [first, last), all at depth >= depth(first), whose parent
// (at depth(first) - 1) is in lexer state parent_state with the parser as it is now.
// kDistinct (grammars with distinct items, matcher_distinct.cc) also tracks, per depth, the
// items closed inside the token and the scopes it opened or closed (dframes_), and skips a
// subtree whose byte closes an item equal to an earlier one of its scope; the plain walk
// compiles without any of it.
template <bool kDistinct>
void Matcher::walk(uint32_t first, uint32_t last, int32_t parent_state, uint32_t* out) {
  constexpr int32_t kNotTried = -3;
  const TokenTrie& t = *trie_;
  const uint16_t base = t.depth(first) - 1;
  const uint8_t* byte_class = lexer_->byte_classes();
  frames_[base] = {parent_state, lexer_->transitions(parent_state), static_cast<uint32_t>(parser_.num_rows()),
                   kNotTried, nullptr};
  uint32_t i = first;
  uint64_t visited = 0;
  while (i < last) {
    const uint16_t d = t.depth(i);
    WalkFrame& f = frames_[d - 1];
    const uint8_t b = t.byte(i);
    parser_.truncate(f.rows);
    const uint8_t cls = byte_class[b];
    int32_t q = f.trans[cls].load(std::memory_order_acquire);
    if (q == Lexer::kNotComputed) q = lexer_->next(f.state, b);
    [[maybe_unused]] bool dup = false;  // kDistinct: the lexeme ending here closes a repeat
    if constexpr (kDistinct) {
      path_[d - 1] = static_cast<char>(b);
      dup = dframes_[d - 1].dup;
    }
    const bool ended = q == kDead;
    if (ended) {
      // The byte cannot extend the lexeme: end it (once per parent node; the parser row
      // it pushes is revived for the siblings) and start the next lexeme with this byte.
      if (f.end_start == kNotTried) {
        f.end_start = kDead;
        if (end_lexeme(f.state, dup)) {
          f.end_start = lexer_->start_state(parser_.top().lexset);
          if (f.end_start != kDead) f.end_trans = lexer_->transitions(f.end_start);
        }
      } else if (f.end_start != kDead) {
        end_lexeme(f.state, dup);  // revives the row pushed for an earlier sibling
      }
      if (f.end_start == kDead) {
        i = t.subtree_end(i);
        continue;
      }
      q = f.end_trans[cls].load(std::memory_order_acquire);
      if (q == Lexer::kNotComputed) q = lexer_->next(f.end_start, b);
      if (q == kDead) {
        i = t.subtree_end(i);
        continue;
      }
    }
    if constexpr (kDistinct) {
      if (!distinct_step(d, ended, f.state, q)) {
        i = t.subtree_end(i);
        continue;
      }
    }
    frames_[d] = {q, lexer_->transitions(q), static_cast<uint32_t>(parser_.num_rows()), kNotTried, nullptr};
    set_token_bits(i, out);
    if (!kDistinct && recording_) memo_ids_.insert(memo_ids_.end(), t.tokens_begin(i), t.tokens_end(i));
    ++i;
    ++visited;
  }
  parser_.truncate(frames_[base].rows);
  walk_nodes_ += visited;
  charge_work(static_cast<int64_t>(visited), "walking the vocabulary below lexeme ends");
}

template void Matcher::walk<false>(uint32_t, uint32_t, int32_t, uint32_t*);
template void Matcher::walk<true>(uint32_t, uint32_t, int32_t, uint32_t*);

void Matcher::compute_mask(uint32_t* out) {
  const TokenTrie& t = *trie_;
  const int32_t words = t.mask_words();
  cold_ = false;
  if (terminated_) {
    std::memset(out, 0, sizeof(uint32_t) * words);
    for (int32_t e : t.eos_ids()) out[e >> 5] |= 1u << (e & 31);
    return;
  }
  if (lex_state_ == kDead) {  // the grammar allows nothing more: at most EOS
    std::memset(out, 0, sizeof(uint32_t) * words);
    if (parser_.top().accepting)
      for (int32_t e : t.eos_ids()) out[e >> 5] |= 1u << (e & 31);
    return;
  }
  DECODER_STEP_SCOPE("one mask");
  auto entry = cg_->cache_entry(lex_state_, &cold_);
  const auto& exits = entry->exits;
  walk_nodes_ = 0;
  exits_ = exits.size();
  size_t rows = parser_.num_rows();
  try {
    if (distinct_ && live_items_ > 0) {
      std::memcpy(out, entry->inside.data(), sizeof(uint32_t) * words);
      find_duplicate_closes(out);
      if (has_value_lists_) find_duplicate_closer(out);
      compute_mask_exits_distinct(exits, out);
    } else {
      if (exits.empty()) {
        std::memcpy(out, entry->inside.data(), sizeof(uint32_t) * words);
      } else if (!replay_exit_memo(entry, out)) {
        std::memcpy(out, entry->inside.data(), sizeof(uint32_t) * words);
        memo_ids_.clear();
        recording_ = true;
        try {
          compute_mask_exits(exits, out);
        } catch (...) {
          recording_ = false;
          throw;
        }
        recording_ = false;
        store_exit_memo(entry, out);
      }
      if (distinct_) {
        // no item to repeat but one the token closes itself (live_items_): the few tokens
        // that can close two, by commit
        // (with finite items, those that can close one key and begin another that runs out)
        for (int32_t id : has_finite_items_ ? *extras_->two_quote_tokens : *extras_->quote_tokens)
          if ((out[id >> 5] >> (id & 31) & 1) && !is_allowed(id)) out[id >> 5] &= ~(1u << (id & 31));
        if (has_value_lists_)
          for (int32_t id : *extras_->bracket_tokens)
            if ((out[id >> 5] >> (id & 31) & 1) && !is_allowed(id)) out[id >> 5] &= ~(1u << (id & 31));
      }
    }
  } catch (...) {  // a limit: the parser as it was (the mask is not to be used)
    parser_.truncate(rows);
    throw;
  }
  if (can_end())
    for (int32_t e : t.eos_ids()) out[e >> 5] |= 1u << (e & 31);
  if (extras_ != nullptr) apply_extras(out, *entry);
}

int32_t Matcher::spent_budget_lexeme() const {
  if (extras_ == nullptr || extras_->budgets.empty() || fresh_ || lexeme_start_ < 0) return -1;
  const int64_t used = static_cast<int64_t>(history_.size()) - lexeme_start_;
  for (const auto& b : extras_->budgets)
    if (used >= b.second) {
      const auto& live = lexer_->live_lexemes(lex_state_);
      if (std::binary_search(live.begin(), live.end(), b.first)) return b.first;
    }
  return -1;
}

bool Matcher::budget_allows(int32_t token) {
  const int32_t lexeme = spent_budget_lexeme();
  if (lexeme < 0) return true;
  const std::string r = completion_of(lexeme);
  const int32_t k = extras_->special_ids.empty() ? -1 : special_index(token);
  if (r.empty()) {  // the lexeme must end within this token: not one that stays inside it
    if (k >= 0 || trie_->is_eos(token)) return true;
    auto entry = cg_->cache_entry(lex_state_);
    return !((entry->inside[token >> 5] >> (token & 31)) & 1u);
  }
  std::string_view b = k >= 0                      ? std::string_view(extras_->special_bytes[k])
                       : trie_->is_excluded(token) ? std::string_view()
                                                   : trie_->token_bytes(token);
  if (b.empty()) return false;  // EOS (or another special token) while the completion is due
  const size_t l = std::min(b.size(), r.size());
  return b.compare(0, l, std::string_view(r).substr(0, l)) == 0;
}

int32_t Matcher::special_index(int32_t token) const {
  const auto& ids = extras_->special_ids;
  for (size_t k = 0; k < ids.size(); ++k)
    if (ids[k] == token) return static_cast<int32_t>(k);
  return -1;
}

std::string Matcher::completion_of(int32_t lx) {
  // Greedy descent of the lexeme's distance to acceptance, one byte class at a time.
  std::string out;
  int32_t s = lex_state_;
  int32_t d = lexer_->dist_to_accept(s, lx);
  const uint8_t* cls = lexer_->byte_classes();
  std::vector<uint8_t> seen(lexer_->num_byte_classes());
  while (d > 0 && d != INT32_MAX && out.size() < 4096) {
    std::fill(seen.begin(), seen.end(), 0);
    bool moved = false;
    for (int b = 0; b < 256 && !moved; ++b) {
      if (seen[cls[b]]) continue;  // one byte per class: they move the lexer alike
      seen[cls[b]] = 1;
      const int32_t q = lexer_->next(s, static_cast<uint8_t>(b));
      if (q != kDead && lexer_->dist_to_accept(q, lx) == d - 1) {
        out.push_back(static_cast<char>(b));
        s = q;
        --d;
        moved = true;
      }
    }
    if (!moved) break;
  }
  return out;
}

void Matcher::apply_extras(uint32_t* out, const MaskCacheEntry& entry) {
  const TokenTrie& t = *trie_;
  const GrammarExtras& x = *extras_;
  for (int32_t id : x.marker_tokens) out[id >> 5] &= ~(1u << (id & 31));
  // Named special tokens allowed here: the lexer must take the marker byte now, or the
  // current lexeme must be able to end (the next one may then start with it).
  if (!x.special_ids.empty() && (lexer_->next(lex_state_, kSpecialMarker) != kDead ||
                                 (!fresh_ && !lexer_->accepting(lex_state_).empty()))) {
    for (size_t k = 0; k < x.special_ids.size(); ++k) {
      const std::string& m = x.special_bytes[k];
      if (commit_bytes(reinterpret_cast<const uint8_t*>(m.data()), m.size())) {
        rollback(1);
        const int32_t id = x.special_ids[k];
        out[id >> 5] |= 1u << (id & 31);
      }
    }
  }
  // A budgeted lexeme that has had its tokens: only its shortest completion from here on.
  const int32_t lexeme = spent_budget_lexeme();
  if (lexeme < 0) return;
  const int32_t words = t.mask_words();
  const std::string r = completion_of(lexeme);
  if (r.empty()) {  // it may end now: it must (no token that stays inside it)
    for (int32_t w = 0; w < words; ++w) out[w] &= ~entry.inside[w];
    return;
  }
  // keep tokens whose bytes are a prefix of r or start with r; special tokens likewise
  std::vector<uint32_t> keep(words, 0);
  uint32_t node = 0;
  size_t i = 0;
  for (; i < r.size(); ++i) {
    uint32_t c = node + 1, found = 0;
    const uint32_t end = t.subtree_end(node);
    while (c < end) {
      if (t.byte(c) == static_cast<uint8_t>(r[i])) {
        found = c;
        break;
      }
      c = t.subtree_end(c);
    }
    if (found == 0) break;
    node = found;
    if (i + 1 < r.size()) set_token_bits(node, keep.data());
  }
  if (i == r.size())
    for (uint32_t n = node, e = t.subtree_end(node); n < e; ++n) set_token_bits(n, keep.data());
  for (size_t k = 0; k < x.special_ids.size(); ++k) {
    const std::string& m = x.special_bytes[k];
    const size_t l = std::min(m.size(), r.size());
    if (m.compare(0, l, r, 0, l) == 0) {
      const int32_t id = x.special_ids[k];
      keep[id >> 5] |= 1u << (id & 31);
    }
  }
  for (int32_t w = 0; w < words; ++w) out[w] &= keep[w];
}

void Matcher::compute_mask_exits(const std::vector<MaskCacheEntry::Exit>& exits, uint32_t* out) {
  const TokenTrie& t = *trie_;
  const size_t rows = parser_.num_rows();
  for (size_t a = 0; a < exits.size();) {
    size_t b = a;
    while (b < exits.size() && exits[b].parent == exits[a].parent) ++b;
    if (end_lexeme(exits[a].parent)) {
      int32_t s0 = lexer_->start_state(parser_.top().lexset);
      if (s0 != kDead)
        for (size_t k = a; k < b; ++k) {
          uint32_t node = exits[k].node;
          // most lexeme ends are followed by a byte the next lexeme cannot start with
          if (lexer_->next(s0, t.byte(node)) == kDead) continue;
          walk<false>(node, t.subtree_end(node), s0, out);
        }
    }
    parser_.truncate(rows);
    a = b;
  }
}

void fill_masks(Matcher* const* matchers, size_t n, uint32_t* out, size_t stride, int threads) {
  auto work = [&](size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) {
      uint32_t* row = out + i * stride;
      if (matchers[i] == nullptr)
        std::memset(row, 0xFF, stride * sizeof(uint32_t));
      else
        matchers[i]->compute_mask(row);
    }
  };
  if (threads <= 1 || n <= 1) {
    work(0, n);
    return;
  }
  size_t k = std::min<size_t>(threads, n);
  std::vector<std::thread> pool;
  std::exception_ptr err;
  std::mutex err_mu;
  for (size_t j = 0; j < k; ++j) {
    size_t lo = n * j / k, hi = n * (j + 1) / k;
    pool.emplace_back([&, lo, hi] {
      try {
        work(lo, hi);
      } catch (...) {
        std::lock_guard<std::mutex> lock(err_mu);
        err = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  if (err) std::rethrow_exception(err);
}

}  // namespace decoder
