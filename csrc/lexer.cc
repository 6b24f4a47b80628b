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
      row_chunks_(
          new std::unique_ptr<std::atomic<int32_t>[]>[(max_states_ + kRowChunkMask) >> kRowChunkBits]),
      states_(max_states_),
      lexsets_(kMaxLexsets) {
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
  stride_ = num_classes_ + (nfa_->has_counters() ? 2 : 0);
}

int32_t Lexer::intern_lexset(const std::vector<int32_t>& lexemes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = lexset_ids_.find(lexemes);
  if (it != lexset_ids_.end()) return it->second;
  if (lexsets_.size() >= lexsets_.capacity())
    throw LimitError("too many distinct lexeme sets (" + std::to_string(lexsets_.capacity()) + ")");
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
  Counts counts;
  if (nfa_->has_counters()) {
    for (int32_t q : set) {  // every region here was just entered: count 0
      const int32_t r = nfa_->counted_of(q);
      if (r >= 0 && (counts.empty() || counts.back().first != r)) counts.emplace_back(r, 0);
    }
    settle(set, counts);
  }
  s = set.empty() ? kDead : intern_state(set, counts);
  ls.start.store(s, std::memory_order_release);
  return s;
}

namespace {
int32_t count_of(const Lexer::Counts& counts, int32_t region) {
  for (const auto& p : counts)
    if (p.first == region) return p.second;
  return -1;
}
}  // namespace

void Lexer::settle(std::vector<int32_t>& set, Counts& counts) {
  const Nfa& nfa = *nfa_;
  // per region (index into counts): 1 = a unit ended here (tick), 2 = states without one
  std::vector<uint8_t>& seen = seen_;
  seen.assign(counts.size(), 0);
  auto slot = [&](int32_t r) {
    for (size_t i = 0; i < counts.size(); ++i)
      if (counts[i].first == r) return i;
    throw std::logic_error("Lexer::settle: a counted region without a count");
  };
  std::vector<int32_t>&out = out_, &ticks = ticks_, &gates = gates_;
  out.clear();
  ticks.clear();
  gates.clear();
  auto classify = [&](int32_t q) {
    const int32_t r = nfa.counted_of(q);
    if (r < 0) {
      out.push_back(q);
      return;
    }
    if (nfa.tick_to(q) >= 0) {
      ticks.push_back(q);
      seen[slot(r)] |= 1;
      return;
    }
    seen[slot(r)] |= 2;
    (nfa.gate_to(q) >= 0 ? gates : out).push_back(q);
  };
  for (int32_t q : set) classify(q);
  for (uint8_t v : seen)
    if (v == 3)
      throw GrammarError(
          "a counted repetition whose units are not a prefix code (a unit ends on one path and not on "
          "another)");
  int64_t work = 0;
  // ticks: one more unit in their region, if the bound allows it
  std::vector<uint8_t>& bumped = bumped_;
  bumped.assign(counts.size(), 0);
  for (int32_t m : ticks) {
    const size_t i = slot(nfa.counted_of(m));
    const CountedRegion& reg = nfa.counted()[counts[i].first];
    if (!bumped[i]) {
      bumped[i] = 1;
      ++counts[i].second;
    }
    if (reg.hi >= 0 && counts[i].second > reg.hi) continue;  // past maxLength: this path ends
    const IdSpan c = nfa.closure(nfa.tick_to(m));
    work += int64_t(c.size());
    for (int32_t w : c) {
      if (nfa.tick_to(w) >= 0) throw GrammarError("a counted unit (UNIT) that matches the empty string");
      (nfa.gate_to(w) >= 0 ? gates : out).push_back(w);
    }
  }
  // gates: leave the region when its count has reached lo (a region entered behind a gate
  // starts at 0 and may have a gate of its own to try: a worklist)
  for (size_t k = 0; k < gates.size(); ++k) {
    const int32_t g = gates[k];
    const int32_t r = nfa.counted_of(g);
    if (count_of(counts, r) < nfa.counted()[r].lo) continue;
    const IdSpan c = nfa.closure(nfa.gate_to(g));
    work += int64_t(c.size());
    for (int32_t w : c) {
      const int32_t rw = nfa.counted_of(w);
      if (rw >= 0) {
        const int32_t have = count_of(counts, rw);
        if (have > 0 || (have == 0 && rw == r))
          throw GrammarError("a counted repetition entered again while it is being counted");
        if (have < 0) {
          counts.emplace_back(rw, 0);
          seen.push_back(2);
        }
        if (nfa.tick_to(w) >= 0) throw GrammarError("a counted unit (UNIT) that matches the empty string");
      }
      (rw >= 0 && nfa.gate_to(w) >= 0 ? gates : out).push_back(w);
    }
  }
  charge_work(work + int64_t(set.size()), "counting units in the lexer DFA");
  // a state whose paths to the gate cannot end with a count in [lo, hi] is a dead end
  out.erase(std::remove_if(out.begin(), out.end(),
                           [&](int32_t q) {
                             const int32_t r = nfa.counted_of(q);
                             if (r < 0) return false;
                             const CountedRegion& reg = nfa.counted()[r];
                             const int64_t c = count_of(counts, r);
                             const int32_t mx = nfa.max_ticks(q);
                             if (reg.hi >= 0 && c + nfa.min_ticks(q) > reg.hi) return true;
                             return mx != Nfa::kManyTicks && c + mx < reg.lo;
                           }),
            out.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  // the counts of the regions still present, by region
  Counts& kept = kept_;
  kept.clear();
  for (int32_t q : out) {
    const int32_t r = nfa.counted_of(q);
    if (r >= 0 && count_of(kept, r) < 0) kept.emplace_back(r, count_of(counts, r));
  }
  std::sort(kept.begin(), kept.end());
  set.swap(out);  // (swaps, not moves: both buffers stay for the next call)
  counts.swap(kept);
}

int32_t Lexer::with_counts(int32_t state, const Counts& counts) {
  std::lock_guard<std::mutex> lock(mu_);
  return intern_state(state_(state).nfa_states, counts);
}

int32_t Lexer::state_of(std::vector<int32_t> nfa_states) {
  std::lock_guard<std::mutex> lock(mu_);
  return intern_state(nfa_states);
}

int32_t Lexer::intern_state(const std::vector<int32_t>& nfa_states, const Counts& counts) {
  // The key: the set, then a (-2 - region, count) pair per counted region (none usually).
  std::vector<int32_t>& key = key_;
  if (!counts.empty()) {
    key.assign(nfa_states.begin(), nfa_states.end());
    for (const auto& p : counts) {
      key.push_back(-2 - p.first);
      key.push_back(p.second);
    }
  }
  const std::vector<int32_t>& k = counts.empty() ? nfa_states : key;
  auto it = state_ids_.find(k);
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
  static_assert(sizeof(std::atomic<int32_t>) == sizeof(int32_t) && std::atomic<int32_t>::is_always_lock_free,
                "rows are filled as plain int32");
  if ((id & ((1 << kRowChunkBits) - 1)) == 0)  // (uninitialised: a row is filled when its state is made)
    row_chunks_[id >> kRowChunkBits].reset(new std::atomic<int32_t>[int64_t(stride_) << kRowChunkBits]);
  // The new state's row only: most grammars make a few states, so filling the whole chunk
  // of 1,024 rows (~100-250 kB) up front was a sizeable part of a small grammar's compile.
  // Not visible to other threads yet (the id is published by the store of a transition or
  // start state that holds it): filled as plain ints, one vectorised fill.
  std::fill_n(reinterpret_cast<int32_t*>(row(id)), stride_, kUnknown);
  if (stride_ > num_classes_ && counts.empty()) {  // count_floor: no count, the state itself
    row(id)[num_classes_].store(id, std::memory_order_relaxed);
    row(id)[num_classes_ + 1].store(INT32_MAX, std::memory_order_relaxed);
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
  st.counts = counts;
  state_ids_.emplace(k, id);  // (k: the caller's set or key_, both read before compute_canon reuses key_)
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
  int32_t c = intern_state(shifted, st.counts);
  State& st2 = state_(id);  // (no reallocation: chunked storage) same object as st
  st2.canon.state = c;
  st2.canon.shift = min_unit;
}

int32_t Lexer::compute_floor(int32_t state) {
  std::lock_guard<std::mutex> lock(mu_);
  const State& st = state_(state);
  std::atomic<int32_t>* slots = row(state) + num_classes_;
  int32_t f = slots[0].load(std::memory_order_acquire);
  if (f != kUnknown) return f;
  int64_t reach = INT32_MAX;
  Counts lowered = st.counts;
  for (auto& p : lowered) {
    const CountedRegion& reg = nfa_->counted()[p.first];
    if (p.second < reg.lo) {
      reach = -1;  // a gate still closed: the count decides when it opens
      break;
    }
    if (reg.hi >= 0) reach = std::min<int64_t>(reach, int64_t(reg.hi) - p.second - reg.most_min);
    p.second = reg.lo;
  }
  f = state;
  if (reach >= 0 && lowered != st.counts) {
    f = intern_state(st.nfa_states, lowered);
  }
  slots = row(state) + num_classes_;  // (chunked storage: the same row)
  slots[1].store(static_cast<int32_t>(std::max<int64_t>(reach, -1)), std::memory_order_relaxed);
  slots[0].store(f, std::memory_order_release);
  return f;
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
  return intern_state(shifted, state_(state).counts);
}

int32_t Lexer::compute_next(int32_t state, uint8_t byte) {
  std::lock_guard<std::mutex> lock(mu_);
  State& st = state_(state);
  const uint8_t cls = byte_class_[byte];
  int32_t t = row(state)[cls].load(std::memory_order_acquire);
  if (t != kUnknown) return t;
  if (!st.dead_filled) {  // the state's first transition: its dead classes all at once
    fill_dead(state);
    t = row(state)[cls].load(std::memory_order_relaxed);
    if (t != kUnknown) return t;
  }
  std::vector<int32_t>& next = next_;
  next.clear();
  Counts& counts = counts_;  // per counted region reached: its count before this byte's ticks
  counts.clear();
  const bool counters = nfa_->has_counters();
  int64_t edges = 0;
  for (int32_t q : st.nfa_states) {
    const auto es = nfa_->edges(q);
    edges += es.e - es.b;
    const int32_t rq = counters ? nfa_->counted_of(q) : -1;
    for (const NfaEdge& e : es)
      if (e.lo <= byte && byte <= e.hi) {
        const auto& c = nfa_->closure(e.to);
        next.insert(next.end(), c.begin(), c.end());
        if (!counters) continue;
        for (int32_t w : c) {
          const int32_t r = nfa_->counted_of(w);
          if (r < 0) continue;
          const int32_t cnt = r == rq ? count_of(st.counts, r) : 0;  // else: entered now
          const int32_t have = count_of(counts, r);
          if (have < 0)
            counts.emplace_back(r, cnt);
          else if (have != cnt)
            throw GrammarError("a counted repetition reached with two different counts");
        }
      }
  }
  // before the sort (n log n), so that a huge set is refused before it is sorted
  charge_work(int64_t(st.nfa_states.size()) + edges + 2 * int64_t(next.size()),
              "building lexer DFA transitions");
  std::sort(next.begin(), next.end());
  next.erase(std::unique(next.begin(), next.end()), next.end());
  if (counters) settle(next, counts);
  t = next.empty() ? kDead : intern_state(next, counts);
  row(state)[cls].store(t, std::memory_order_release);
  return t;
}

void Lexer::fill_dead(int32_t state) {
  State& st = state_(state);
  st.dead_filled = true;
  // live[c]: some edge reads class c (byte classes are cut at every edge boundary, so an
  // edge [lo, hi] reads exactly the classes byte_class(lo) .. byte_class(hi))
  uint64_t live[4] = {0, 0, 0, 0};
  int64_t edges = 0;
  if (!st.stops)  // (a lazy lexeme has matched: the lexeme ends here, every class is dead)
    for (int32_t q : st.nfa_states) {
      const auto es = nfa_->edges(q);
      edges += es.e - es.b;
      for (const NfaEdge& e : es)
        for (int c = byte_class_[e.lo], ce = byte_class_[e.hi]; c <= ce;) {
          // the bits c .. min(ce, end of c's word) in one mask
          const int w = c >> 6, lo = c & 63, hi = std::min(ce - (w << 6), 63);
          live[w] |= (~uint64_t(0) >> (63 - hi)) & (~uint64_t(0) << lo);
          c = (w + 1) << 6;
        }
    }
  charge_work(int64_t(st.nfa_states.size()) + edges, "building lexer DFA transitions");
  std::atomic<int32_t>* r = row(state);
  for (int32_t c = 0; c < num_classes_; ++c)
    if (!((live[c >> 6] >> (c & 63)) & 1) && r[c].load(std::memory_order_relaxed) == kUnknown)
      r[c].store(kDead, std::memory_order_release);
}

int64_t Lexer::memory_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t n = num_states_.load(std::memory_order_relaxed);
  // each state's set is held twice (its record and the interning map's key)
  return nfa_->memory_bytes() + entries_ * 8 + n * (int64_t(stride_) * 4 + int64_t(sizeof(State)) + 96);
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
  const State& st = state_(state);
  for (int32_t q : st.nfa_states) {
    if (nfa_->lexeme_of(q) != lexeme) continue;
    int32_t d = nfa_->dist_to_accept(q);
    const int32_t r = st.counts.empty() ? -1 : nfa_->counted_of(q);
    if (r >= 0 && d != INT32_MAX) {
      // a lower bound (exact for strings of one-byte characters): each missing unit takes a
      // byte at least, then the fewest bytes after the gate
      const CountedRegion& reg = nfa_->counted()[r];
      const int64_t lack = int64_t(reg.lo) - count_of(st.counts, r);
      if (lack > 0 && reg.after_gate != INT32_MAX)
        d = static_cast<int32_t>(
            std::min<int64_t>(INT32_MAX - 1, std::max<int64_t>(d, lack + reg.after_gate)));
    }
    best = std::min(best, d);
  }
  return best;
}

}  // namespace decoder
