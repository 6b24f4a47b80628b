#include "lexer.h"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>

#include "budget.h"
#include "errors.h"

namespace decoder {

Lexer::Lexer(std::unique_ptr<Nfa> nfa, int32_t num_lexemes, int64_t max_dfa_states, int64_t max_dfa_bytes)
    : nfa_(std::move(nfa)),
      num_lexemes_(num_lexemes),
      max_states_(std::min<int64_t>(max_dfa_states, int64_t(kMaxRowChunks) << kRowChunkBits)),
      max_entries_(std::max<int64_t>(max_dfa_bytes / int64_t(sizeof(int32_t)), 1)),
      row_chunks_(new std::unique_ptr<std::atomic<int32_t>[]>[kMaxRowChunks]) {
  // Byte classes: cut [0, 256) at every edge boundary of the NFA.
  bool cut[257] = {false};
  cut[0] = true;
  for (int32_t q = 0; q < nfa_->num_states(); ++q)
    for (const NfaEdge& e : nfa_->edges(q)) {
      cut[e.lo] = true;
      cut[e.hi + 1] = true;
    }
  int32_t c = -1;
  for (int b = 0; b < 256; ++b) {
    if (cut[b]) ++c;
    byte_class_[b] = static_cast<uint8_t>(c);
  }
  num_classes_ = c + 1;
}

int32_t Lexer::intern_lexset(const std::vector<int32_t>& lexemes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = lexset_ids_.find(lexemes);
  if (it != lexset_ids_.end()) return it->second;
  if (lexsets_.size() >= ChunkedArray<Lexset>::kCapacity)
    throw LimitError("too many distinct lexeme sets (" + std::to_string(ChunkedArray<Lexset>::kCapacity) +
                     ")");
  int64_t id = lexsets_.reserve_next();
  lexsets_[id].lexemes = lexemes;
  lexsets_.publish(id);
  lexset_ids_.emplace(lexemes, static_cast<int32_t>(id));
  return static_cast<int32_t>(id);
}

const std::vector<int32_t>& Lexer::lexset(int32_t id) const { return lexsets_[id].lexemes; }

int32_t Lexer::start_state(int32_t lexset_id) {
  Lexset& ls = lexsets_[lexset_id];
  int32_t s = ls.start.load(std::memory_order_acquire);
  if (s != kUnknown) return s;
  std::lock_guard<std::mutex> lock(mu_);
  s = ls.start.load(std::memory_order_acquire);
  if (s != kUnknown) return s;
  std::vector<int32_t> set;
  for (int32_t lx : ls.lexemes) {
    int32_t st = nfa_->start(lx);
    if (!nfa_->alive(st)) continue;
    const auto& c = nfa_->closure(st);
    set.insert(set.end(), c.begin(), c.end());
  }
  // "ignored text, then lexeme j" for every ignore lexeme i allowed here (folded lexemes)
  for (int32_t i : ls.lexemes)
    for (int32_t j : ls.lexemes) {
      int32_t p = nfa_->prefixed_start(i, j);
      if (p < 0 || !nfa_->alive(p)) continue;
      const auto& c = nfa_->closure(p);
      set.insert(set.end(), c.begin(), c.end());
    }
  charge_work(2 * int64_t(set.size()), "building lexer DFA start states");
  std::sort(set.begin(), set.end());
  set.erase(std::unique(set.begin(), set.end()), set.end());
  s = set.empty() ? kDead : intern_state(std::move(set));
  ls.start.store(s, std::memory_order_release);
  return s;
}

int32_t Lexer::intern_state(std::vector<int32_t>&& nfa_states) {
  auto it = state_ids_.find(nfa_states);
  if (it != state_ids_.end()) return it->second;
  int32_t id = num_states_.load(std::memory_order_relaxed);
  if (id >= max_states_)
    throw LimitError(
        "lexer DFA exceeds the limit of " + std::to_string(max_states_) + " states (max_dfa_states)",
        "max_dfa_states");
  // Huge counted repetitions make DFA states of ever larger NFA-state sets: bound their
  // memory too, not only their number.
  if (entries_ + int64_t(nfa_states.size()) > max_entries_)
    throw LimitError("lexer DFA state sets exceed the limit of " +
                         std::to_string(max_entries_ * int64_t(sizeof(int32_t)) >> 20) +
                         " MiB (max_dfa_bytes): a counted repetition is too large for this input",
                     "max_dfa_bytes");
  // hashing, copying and scanning the set, and the work that built it (charged by callers)
  charge_work(16 + 2 * int64_t(nfa_states.size()), "building lexer DFA states");
  entries_ += int64_t(nfa_states.size());
  states_.reserve_next();
  State& st = state_(id);
  if ((id & ((1 << kRowChunkBits) - 1)) == 0) {
    const int64_t n = int64_t(num_classes_) << kRowChunkBits;
    static_assert(
        sizeof(std::atomic<int32_t>) == sizeof(int32_t) && std::atomic<int32_t>::is_always_lock_free,
        "rows are filled as plain int32");
    auto* chunk = new std::atomic<int32_t>[n];
    // Not visible to other threads yet: filled as plain ints (one vectorised fill; relaxed
    // atomic stores one at a time were most of a small grammar's first lexer state).
    std::fill_n(reinterpret_cast<int32_t*>(chunk), n, kUnknown);
    row_chunks_[id >> kRowChunkBits].reset(chunk);
  }
  for (int32_t q : nfa_states) {
    int32_t a = nfa_->accept_lexeme(q);
    if (a >= 0) st.accepting.push_back(a);
    if (a >= 0 && nfa_->is_lazy(a)) st.stops = true;
    st.lexemes.push_back(nfa_->lexeme_of(q));
  }
  // A lazy lexeme that matches wins: the lexemes ending beside it do not end here (as in
  // llguidance: free TEXT cut by a lazy "TEXT <function" head is not a sentence's end).
  if (st.stops)
    st.accepting.erase(std::remove_if(st.accepting.begin(), st.accepting.end(),
                                      [this](int32_t a) { return !nfa_->is_lazy(a); }),
                       st.accepting.end());
  for (auto* v : {&st.accepting, &st.lexemes}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  st.accept_id = accept_ids_.emplace(st.accepting, static_cast<int32_t>(accept_ids_.size())).first->second;
  st.nfa_states = nfa_states;
  state_ids_.emplace(std::move(nfa_states), id);
  states_.publish(id);
  num_states_.store(id + 1, std::memory_order_release);
  // The id is not visible to other threads until the caller stores it in a transition,
  // so the canonical form can still be filled in (it may intern its shifted twin).
  compute_canon(id);
  return id;
}

void Lexer::compute_canon(int32_t id) {
  State& st = state_(id);
  st.canon.state = id;
  const auto& regions = nfa_->regions();
  if (regions.empty()) return;
  int32_t reg = -1, min_unit = INT32_MAX, max_unit = -1;
  for (int32_t q : st.nfa_states) {
    int32_t r = nfa_->region_of(q);
    if (r < 0) continue;
    if (reg >= 0 && r != reg) return;  // states of two regions: leave it alone
    reg = r;
    int32_t u = (q - regions[r].begin) / regions[r].unit;
    min_unit = std::min(min_unit, u);
    max_unit = std::max(max_unit, u);
  }
  if (reg < 0) return;
  st.canon.region = reg;
  // copies up to units-2 are followed by a congruent copy; one byte moves at most one copy
  st.canon.remaining = regions[reg].units - 2 - max_unit;
  if (min_unit == 0 || st.canon.remaining <= 0) return;
  std::vector<int32_t> shifted = st.nfa_states;
  const int32_t delta = min_unit * regions[reg].unit;
  for (int32_t& q : shifted)
    if (nfa_->region_of(q) == reg) q -= delta;
  std::sort(shifted.begin(), shifted.end());
  int32_t c = intern_state(std::move(shifted));
  State& st2 = state_(id);  // (no reallocation: chunked storage) same object as st
  st2.canon.state = c;
  st2.canon.shift = min_unit;
}

int32_t Lexer::shift_state(int32_t state, int32_t region, int32_t units) {
  std::lock_guard<std::mutex> lock(mu_);
  const RepeatRegion& r = nfa_->regions()[region];
  std::vector<int32_t> shifted = state_(state).nfa_states;
  for (int32_t& q : shifted) {
    if (nfa_->region_of(q) != region) continue;
    int32_t u = (q - r.begin) / r.unit + units;
    if (u < 0 || u >= r.units) throw std::logic_error("shift_state out of its region");
    q += units * r.unit;
  }
  std::sort(shifted.begin(), shifted.end());
  return intern_state(std::move(shifted));
}

int32_t Lexer::compute_next(int32_t state, uint8_t byte) {
  std::lock_guard<std::mutex> lock(mu_);
  State& st = state_(state);
  const uint8_t cls = byte_class_[byte];
  int32_t t = row(state)[cls].load(std::memory_order_acquire);
  if (t != kUnknown) return t;
  if (st.stops) {  // a lazy lexeme has matched: the lexeme ends here
    row(state)[cls].store(kDead, std::memory_order_release);
    return kDead;
  }
  std::vector<int32_t> next;
  int64_t edges = 0;
  for (int32_t q : st.nfa_states) {
    const auto es = nfa_->edges(q);
    edges += es.e - es.b;
    for (const NfaEdge& e : es)
      if (e.lo <= byte && byte <= e.hi) {
        const auto& c = nfa_->closure(e.to);
        next.insert(next.end(), c.begin(), c.end());
      }
  }
  // before the sort (n log n), so that a huge set is refused before it is sorted
  charge_work(int64_t(st.nfa_states.size()) + edges + 2 * int64_t(next.size()),
              "building lexer DFA transitions");
  std::sort(next.begin(), next.end());
  next.erase(std::unique(next.begin(), next.end()), next.end());
  t = next.empty() ? kDead : intern_state(std::move(next));
  row(state)[cls].store(t, std::memory_order_release);
  return t;
}

int64_t Lexer::memory_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t n = num_states_.load(std::memory_order_relaxed);
  // each state's set is held twice (its record and the interning map's key)
  return nfa_->memory_bytes() + entries_ * 8 + n * (int64_t(num_classes_) * 4 + int64_t(sizeof(State)) + 96);
}

bool Lexer::can_extend(int32_t state) {
  State& st = state_(state);
  int8_t v = st.extends.load(std::memory_order_acquire);
  if (v >= 0) return v;
  bool any = false;
  for (int b = 0; b < 256 && !any; ++b)
    if (b == 0 || byte_class_[b] != byte_class_[b - 1]) any = next(state, static_cast<uint8_t>(b)) != kDead;
  st.extends.store(any ? 1 : 0, std::memory_order_release);
  return any;
}

int32_t Lexer::dist_to_accept(int32_t state, int32_t lexeme) const {
  int32_t best = INT32_MAX;
  for (int32_t q : state_(state).nfa_states)
    if (nfa_->lexeme_of(q) == lexeme) best = std::min(best, nfa_->dist_to_accept(q));
  return best;
}

}  // namespace decoder
