#include "shared_entries.h"

#include <algorithm>
#include <utility>

namespace decoder {

int64_t SharedEntry::bytes() const {
  int64_t n = int64_t(inside.size()) * 4 + int64_t(exits.size()) * 8 + 64;
  for (const auto& p : parents) n += int64_t(p.size()) * 4 + 32;
  return n;
}

namespace {
// NFA state -> local id for one key: open addressing over a thread's table, cleared by a
// generation stamp (no per-call allocation or clearing; a std::unordered_map cost more than
// the rest of the key together).
class LocalIds {
 public:
  static constexpr uint32_t kSlots = 2 * SharedEntries::kMaxStates;  // a power of two
  LocalIds() : t_(table()) {  // (one thread-local lookup: each costs a call in a shared library)
    if (++t_.gen == 0) {      // (wrapped: old stamps could match)
      std::fill(t_.stamp, t_.stamp + kSlots, 0);
      t_.gen = 1;
    }
  }
  // The local id of q, or `fresh` (which is then q's) when q has none yet.
  int32_t get(int32_t q, int32_t fresh) {
    for (uint32_t i = (static_cast<uint32_t>(q) * 2654435761u) & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
      if (t_.stamp[i] != t_.gen) {
        t_.stamp[i] = t_.gen;
        t_.key[i] = q;
        t_.val[i] = fresh;
        return fresh;
      }
      if (t_.key[i] == q) return t_.val[i];
    }
  }

 private:
  struct Table {
    uint32_t gen = 0;
    uint32_t stamp[kSlots] = {};
    int32_t key[kSlots];
    int32_t val[kSlots];
  };
  static Table& table() {
    static thread_local Table t;
    return t;
  }
  Table& t_;
};
}  // namespace

bool shared_key(const Lexer& lx, int32_t s, std::vector<int32_t>* key, std::vector<int32_t>* order) {
  const Nfa& nfa = lx.nfa();
  const std::vector<int32_t>& own = lx.nfa_states(s);
  if (!lx.counts(s).empty()) return false;
  // free text: an automaton lexeme's NFA state with edges on at least 64 bytes (at a character
  // boundary, or inside one: the 64 continuation bytes), not the key automata of JSON objects,
  // whose states read a few bytes each (a key there would cost its build on most cold masks
  // and rarely be met again)
  bool text = false;
  for (size_t k = 0; k < own.size() && !text; ++k) {
    const int32_t q = own[k];
    if (!nfa.has_automaton(nfa.lexeme_of(q))) continue;
    int bytes = 0;
    for (const NfaEdge& e : nfa.edges(q)) bytes += e.hi - e.lo + 1;
    text = bytes >= 64;
  }
  if (!text) return false;
  key->clear();
  key->reserve(4096);
  order->clear();
  LocalIds local;
  int32_t lexemes[16];  // local lexeme id -> lexeme
  int n_lexemes = 0;
  bool overflow = false;
  auto local_of = [&](int32_t q) {
    if (static_cast<int32_t>(order->size()) > SharedEntries::kMaxStates) {
      overflow = true;  // (the table holds kMaxStates + 1 states at most)
      return int32_t(0);
    }
    const int32_t id = local.get(q, static_cast<int32_t>(order->size()));
    if (id == static_cast<int32_t>(order->size())) order->push_back(q);
    return id;
  };
  auto lexeme_id = [&](int32_t lx_id) {
    if (lx_id < 0) return int32_t(-1);
    for (int i = 0; i < n_lexemes; ++i)
      if (lexemes[i] == lx_id) return int32_t(i);
    if (n_lexemes == 16) return int32_t(-2);  // (too many: not shared)
    lexemes[n_lexemes] = lx_id;
    return int32_t(n_lexemes++);
  };
  key->push_back(static_cast<int32_t>(own.size()));
  for (int32_t q : own) local_of(q);
  // (the DFA steps NFA edges into closures; counted regions also count, which is not shared)
  const bool counters = nfa.has_counters();
  for (size_t i = 0; i < order->size(); ++i) {
    if (overflow) return false;
    const int32_t q = (*order)[i];
    if (counters && nfa.counted_of(q) >= 0) return false;
    const int32_t acc = nfa.accept_lexeme(q);
    const int32_t lq = lexeme_id(nfa.lexeme_of(q)), la = lexeme_id(acc);
    if (lq == -2 || la == -2) return false;
    key->push_back(lq);
    key->push_back(la);
    key->push_back(acc >= 0 && nfa.is_lazy(acc));
    const auto es = nfa.edges(q);
    key->push_back(static_cast<int32_t>(es.e - es.b));
    int32_t prev = -1;
    for (const NfaEdge& e : es) {
      if (e.to == prev) {  // (the automaton's edges: runs of ranges into one state)
        key->push_back(e.lo | (int32_t(e.hi) << 8) | (1 << 16));
        continue;
      }
      prev = e.to;
      const IdSpan c = nfa.closure(e.to);
      key->push_back(e.lo | (int32_t(e.hi) << 8));
      key->push_back(static_cast<int32_t>(c.size()));
      for (int32_t w : c) key->push_back(local_of(w));
    }
  }
  return !overflow;
}

size_t SharedEntries::hash(const std::vector<int32_t>& key) {
  uint64_t h[4] = {0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full, 0x165667B19E3779F9ull,
                   0x27D4EB2F165667C5ull};
  const size_t n = key.size();
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; ++l) h[l] = (h[l] ^ static_cast<uint32_t>(key[i + l])) * 0x100000001B3ull;
  for (; i < n; ++i) h[0] = (h[0] ^ static_cast<uint32_t>(key[i])) * 0x100000001B3ull;
  uint64_t x = h[0] ^ (h[1] >> 1) ^ (h[2] << 1) ^ (h[3] >> 3) ^ n;
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  return static_cast<size_t>(x);
}

std::shared_ptr<const SharedEntry> SharedEntries::find(const std::vector<int32_t>& key, size_t h) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(h);
  if (it == map_.end()) return nullptr;
  for (const auto& kv : it->second)
    if (kv.first == key) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      return kv.second;
    }
  return nullptr;
}

void SharedEntries::put(std::vector<int32_t>&& key, size_t h, std::shared_ptr<const SharedEntry> entry) {
  const int64_t add = entry->bytes() + int64_t(key.size()) * 4 + 64;
  std::lock_guard<std::mutex> lock(mu_);
  if (bytes_ + add > kMaxBytes) return;
  auto& bucket = map_[h];
  for (const auto& kv : bucket)
    if (kv.first == key) return;
  bytes_ += add;
  bucket.emplace_back(std::move(key), std::move(entry));
}

bool SharedEntries::seen_before(size_t h) {
  std::lock_guard<std::mutex> lock(mu_);
  if (seen_.count(h)) return true;
  if (seen_.size() < kMaxSeen) seen_.insert(h);
  return false;
}

int64_t SharedEntries::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

}  // namespace decoder
