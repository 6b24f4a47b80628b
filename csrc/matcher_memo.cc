// matcher_memo.cc — the exit-walk memo of warm masks (docs/optimizations.md, "Exit-walk memo").
//
// A warm mask is the cached inside bits of its lexer state plus walks of the trie below the
// entry's exits: the current lexeme ends there, the parser scans it, and the next lexemes
// begin inside the token (`",`, `"}`, `": "` after a key). What those walks allow depends on
// the entry (its exit nodes and the lexemes their parents accept) and on how the parser
// answers scans from its top row; nothing else of the matcher. Two memos keep them:
//  - per matcher, by (entry, serial of the top row): a serial names one row's contents and,
//    since a live row's rows below cannot change, the whole stack. Inside one string no row is
//    pushed, so every mask after the first replays the walks of the first. No shared state.
//  - per compiled grammar, by (the entry's lexer state, interned id of the top row): an id
//    names the row's items with their origins as ids (recursively), so equal ids are equal
//    parses from there on, at any position of any matcher: the second element of an array of
//    objects, or the next request with the same schema, finds its walks below every key and
//    value start. Under the cache mutex; its bytes count in the mask cache and the global
//    budget (cache_budget.h), and any eviction of the grammar's entries clears it.
#include <algorithm>
#include <cstring>

#include "matcher.h"

namespace decoder {

int32_t RowInterner::intern(const std::vector<int32_t>& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ids_.find(key);
  if (it != ids_.end()) return it->second;
  if (ints_ + key.size() > kMaxInts) return -1;
  ints_ += key.size();
  const int32_t id = static_cast<int32_t>(ids_.size()) + 1;  // (0: a row's own index)
  ids_.emplace(key, id);
  return id;
}

int64_t RowInterner::bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(ints_ * 4 + ids_.size() * 64);
}

std::shared_ptr<const ExitWalk> CompiledGrammar::find_exit_walk(int32_t state, int32_t row) {
  const uint64_t key = (uint64_t(uint32_t(state)) << 32) | uint32_t(row);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = exit_walks_.find(key);
  return it == exit_walks_.end() ? nullptr : it->second;
}

void CompiledGrammar::store_exit_walk(int32_t state, int32_t row, std::shared_ptr<const ExitWalk> w) {
  const uint64_t key = (uint64_t(uint32_t(state)) << 32) | uint32_t(row);
  const size_t bytes = w->bytes() + 32;
  MaskCacheBudget& budget = MaskCacheBudget::instance();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_bytes_ + bytes > static_cast<size_t>(grammar_->limits().mask_cache_bytes)) return;
    if (!exit_walks_.emplace(key, std::move(w)).second) return;  // another matcher's, the same
    exit_walk_bytes_ += bytes;
    cache_bytes_ += bytes;
    budget.add(static_cast<int64_t>(bytes));
  }
  if (budget.bytes() > budget.limit()) budget.maybe_evict();  // (not under mu_: lock order)
}

int64_t CompiledGrammar::clear_exit_walks() {
  const int64_t bytes = static_cast<int64_t>(exit_walk_bytes_);
  if (bytes == 0) return 0;
  exit_walks_.clear();
  cache_bytes_ -= exit_walk_bytes_;
  exit_walk_bytes_ = 0;
  MaskCacheBudget::instance().add(-bytes);
  return bytes;
}

int32_t Matcher::top_row_id() {
  // Rows from the lowest one without a cached id up to the top, in order (an item's origin
  // is never above its row): each row's key is its banned ignore lexeme, then its items as
  // sorted (dot, origin id) pairs, origin id 0 for the row itself.
  const size_t n = parser_.num_rows();
  if (row_ids_.size() < n) row_ids_.resize(n, {0, -1});
  size_t k = n;
  while (k > 0 && row_ids_[k - 1].first != parser_.row(k - 1).serial) --k;
  for (; k < n; ++k) {
    const EarleyRow& r = parser_.row(k);
    int32_t id = -1;
    pairs_.clear();
    bool known = true;
    for (uint32_t j = r.begin; j < r.end && known; ++j) {
      const EarleyItem& it = parser_.item(j);
      const int32_t o = it.origin == static_cast<int32_t>(k) ? 0 : row_ids_[it.origin].second;
      known = o >= 0;
      pairs_.push_back(uint64_t(uint32_t(it.dot)) << 32 | uint32_t(o));
    }
    if (known) {
      std::sort(pairs_.begin(), pairs_.end());  // (the same items may close in another order)
      row_key_.clear();
      for (const uint64_t p : pairs_) {
        row_key_.push_back(static_cast<int32_t>(p >> 32));
        row_key_.push_back(static_cast<int32_t>(p & 0xFFFFFFFFu));
      }
      row_key_.push_back(r.banned_ignore);
      id = cg_->rows().intern(row_key_);
    }
    row_ids_[k] = {r.serial, id};
  }
  return row_ids_[n - 1].second;
}

namespace {
void replay(const ExitWalk& w, const std::vector<uint32_t>& inside, uint32_t* out) {
  if (!w.mask.empty()) {
    std::memcpy(out, w.mask.data(), sizeof(uint32_t) * w.mask.size());
    return;
  }
  std::memcpy(out, inside.data(), sizeof(uint32_t) * inside.size());
  for (const int32_t id : w.ids) out[id >> 5] |= 1u << (id & 31);
}
}  // namespace

bool Matcher::replay_exit_memo(const std::shared_ptr<const MaskCacheEntry>& entry, uint32_t* out) {
  const uint64_t serial = parser_.top().serial;
  for (const ExitMemo& m : memo_)
    if (m.entry == entry && m.serial == serial) {
      replay(*m.walk, entry->inside, out);
      return true;
    }
  const int32_t row = top_row_id();
  if (row < 0 || entry->state < 0) return false;
  std::shared_ptr<const ExitWalk> w = cg_->find_exit_walk(entry->state, row);
  if (!w) return false;
  replay(*w, entry->inside, out);
  remember_exit_walk(entry, std::move(w));
  return true;
}

void Matcher::remember_exit_walk(const std::shared_ptr<const MaskCacheEntry>& entry,
                                 std::shared_ptr<const ExitWalk> walk) {
  ExitMemo& m = memo_[memo_next_];
  memo_next_ = (memo_next_ + 1) % kExitMemos;
  m.entry = entry;
  m.serial = parser_.top().serial;
  m.walk = std::move(walk);
}

void Matcher::store_exit_memo(const std::shared_ptr<const MaskCacheEntry>& entry, const uint32_t* out) {
  auto w = std::make_shared<ExitWalk>();
  // a long list of tokens replays slower than a copy of the mask (and takes more room)
  const size_t words = entry->inside.size();
  if (memo_ids_.size() <= words / 2)
    w->ids.assign(memo_ids_.begin(), memo_ids_.end());
  else
    w->mask.assign(out, out + words);
  const int32_t row = top_row_id();  // (cached by replay_exit_memo's miss)
  if (row >= 0 && entry->state >= 0) cg_->store_exit_walk(entry->state, row, w);
  remember_exit_walk(entry, std::move(w));
}

}  // namespace decoder
