#include "regex.h"

#include <algorithm>
#include <climits>
#include <deque>
#include <map>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "budget.h"
#include "errors.h"
#include "ir_format.h"

namespace decoder {
namespace {

using namespace wire;  // the opcodes (ir_format.h)
constexpr int kMaxNesting = 2000;

int utf8_len(int32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

void utf8_encode(int32_t cp, uint8_t* out) {
  switch (utf8_len(cp)) {
    case 1: out[0] = cp; break;
    case 2:
      out[0] = 0xC0 | (cp >> 6);
      out[1] = 0x80 | (cp & 0x3F);
      break;
    case 3:
      out[0] = 0xE0 | (cp >> 12);
      out[1] = 0x80 | ((cp >> 6) & 0x3F);
      out[2] = 0x80 | (cp & 0x3F);
      break;
    default:
      out[0] = 0xF0 | (cp >> 18);
      out[1] = 0x80 | ((cp >> 12) & 0x3F);
      out[2] = 0x80 | ((cp >> 6) & 0x3F);
      out[3] = 0x80 | (cp & 0x3F);
  }
}

// Splits [lo, hi] into ranges whose UTF-8 encodings are products of byte ranges
// (the classic construction used by RE2 and Rust's utf8-ranges).
void utf8_sequences(int32_t lo, int32_t hi, std::vector<Utf8Seq>& out) {
  static const int32_t kBounds[] = {0x7F, 0x7FF, 0xFFFF};
  for (int32_t b : kBounds) {
    if (lo <= b && hi > b) {
      utf8_sequences(lo, b, out);
      utf8_sequences(b + 1, hi, out);
      return;
    }
  }
  int n = utf8_len(lo);
  for (int i = 1; i < n; ++i) {
    int32_t m = (1 << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        utf8_sequences(lo, lo | m, out);
        utf8_sequences((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        utf8_sequences(lo, (hi & ~m) - 1, out);
        utf8_sequences(hi & ~m, hi, out);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  utf8_encode(lo, a);
  utf8_encode(hi, b);
  Utf8Seq seq;
  seq.n = n;
  for (int i = 0; i < n; ++i) seq.r[i] = {a[i], b[i]};
  out.push_back(seq);
}

// utf8_sequences of [lo, hi], remembered per thread: grammars repeat a few classes (a JSON
// string character, its escapes, digits) in every lexeme, and the automaton's size estimate
// and its construction both ask. The reference is valid until the next call.
const std::vector<Utf8Seq>& utf8_sequences_of(int32_t lo, int32_t hi) {
  constexpr size_t kMaxRanges = 4096;
  thread_local std::unordered_map<uint64_t, std::vector<Utf8Seq>> memo;
  const uint64_t key = (uint64_t(uint32_t(lo)) << 32) | uint32_t(hi);
  auto it = memo.find(key);
  if (it != memo.end()) return it->second;
  if (memo.size() >= kMaxRanges) memo.clear();
  std::vector<Utf8Seq> seqs;
  utf8_sequences(lo, hi, seqs);
  return memo.emplace(key, std::move(seqs)).first->second;
}

}  // namespace

int32_t Nfa::new_state(int32_t lexeme) {
  if (static_cast<int64_t>(lexeme_of_.size()) >= max_states_)
    throw LimitError("regex automaton exceeds the limit of " + std::to_string(max_states_) +
                         " NFA states (max_nfa_states; a very large repetition bound or a huge grammar)",
                     "max_nfa_states");
  if ((lexeme_of_.size() & 1023) == 0) charge_work(4096, "building the regex automaton");
  lexeme_of_.push_back(lexeme);
  accept_of_.push_back(-1);
  return static_cast<int32_t>(lexeme_of_.size()) - 1;
}

void Nfa::add_lexeme(const int32_t* w, size_t n, size_t& pos, int32_t lexeme) {
  if (static_cast<int32_t>(starts_.size()) != lexeme) throw GrammarError("lexemes must be added in order");
  // Bound the expanded size before building anything: nested counted repetitions multiply
  // (((a{1,100}){1,100}){1,100} is 10^6 states), and building them first to find out
  // would cost seconds and gigabytes.
  size_t end = pos;
  {
    const int64_t need = estimate(w, n, end, 0) + 2;
    if (need > max_states_ - num_states())
      throw LimitError("regex automaton would need about " + std::to_string(need) +
                           " NFA states (nested counted repetitions multiply), over the limit of " +
                           std::to_string(max_states_) + " (max_nfa_states)" +
                           (num_states() > 0 ? " with the " + std::to_string(num_states()) +
                                                   " states of the lexemes before it"
                                             : std::string()),
                       "max_nfa_states");
  }
  // A lexeme whose words equal an earlier one's (a grammar's KEY and "KEY (distinct)" are
  // the same regex, ~40% of a median JSON Schema grammar's lexeme words) is replayed from
  // that one's states, shifted: what building it would give, without decoding it again.
  // The key is the length and the first and last words; equal keys are compared in full.
  const size_t len = end - pos;
  uint64_t key = len;
  for (size_t i = 0; i < 4 && i < len; ++i) {
    key = (key ^ uint32_t(w[pos + i])) * 0x9E3779B97F4A7C15ull;
    key = (key ^ uint32_t(w[end - 1 - i])) * 0xC2B2AE3D27D4EB4Full;
  }
  for (auto [it, last] = built_.equal_range(key); it != last; ++it) {
    const LexemeBuild& b = it->second;
    if (b.words == w && b.end - b.pos == len && std::equal(w + pos, w + end, w + b.pos)) {
      replay_lexeme(b, lexeme);
      pos = end;
      return;
    }
  }
  LexemeBuild t{w,
                pos,
                end,
                lexeme,
                num_states(),
                0,
                raw_edges_.size(),
                0,
                raw_eps_.size(),
                0,
                regions_.size(),
                0,
                raw_ticks_.size(),
                0,
                raw_gates_.size(),
                0,
                counted_.size(),
                0};
  int32_t s = new_state(lexeme);
  int32_t f = new_state(lexeme);
  accept_of_[f] = lexeme;
  starts_.push_back(s);
  build(w, n, pos, s, f, lexeme, 0);
  t.states = num_states() - t.base;
  t.e1 = raw_edges_.size();
  t.p1 = raw_eps_.size();
  t.r1 = regions_.size();
  t.k1 = raw_ticks_.size();
  t.g1 = raw_gates_.size();
  t.c1 = counted_.size();
  if (pos == end) built_.emplace(key, t);
}

void Nfa::replay_lexeme(const LexemeBuild& t, int32_t lexeme) {
  // Every state, edge and region of a lexeme's build lies in its own states [base, base +
  // states) (it runs from its start to its accepting state, base + 1), so the copy is the
  // same lists shifted by the distance between the two bases.
  const int32_t base = num_states();
  const int32_t d = base - t.base;
  for (int32_t k = 0; k < t.states; ++k) new_state(lexeme);
  accept_of_[base + 1] = lexeme;
  starts_.push_back(base);
  raw_edges_.reserve(raw_edges_.size() + (t.e1 - t.e0));
  for (size_t i = t.e0; i < t.e1; ++i) {
    const RawEdge r = raw_edges_[i];
    add_edge(r.from + d, r.e.lo, r.e.hi, r.e.to + d);
  }
  for (size_t i = t.p0; i < t.p1; ++i) {
    const auto pr = raw_eps_[i];
    add_eps(pr.first + d, pr.second + d);
  }
  for (size_t i = t.k0; i < t.k1; ++i) {
    const auto pr = raw_ticks_[i];
    raw_ticks_.push_back({pr.first + d, pr.second + d});
  }
  for (size_t i = t.g0; i < t.g1; ++i) {
    const auto pr = raw_gates_[i];
    raw_gates_.push_back({pr.first + d, pr.second + d});
  }
  for (size_t i = t.r0; i < t.r1; ++i) {
    RepeatRegion r = regions_[i];
    r.begin += d;
    regions_.push_back(r);
  }
  for (size_t i = t.c0; i < t.c1; ++i) {
    CountedRegion c = counted_[i];
    c.begin += d;
    c.end += d;
    counted_.push_back(c);
  }
  if (has_automaton(t.lexeme)) {
    if (automaton_.size() <= static_cast<size_t>(lexeme)) automaton_.resize(lexeme + 1, 0);
    automaton_[lexeme] = 1;
  }
}

int32_t Nfa::add_prefixed(const int32_t* w, size_t n, size_t pos, int32_t lexeme) {
  int32_t s = new_state(lexeme);
  build(w, n, pos, s, starts_[lexeme], lexeme, 0);
  return s;
}

void Nfa::set_prefixed(int32_t ignore, int32_t lexeme, int32_t state) {
  prefixed_[(int64_t(ignore) << 32) | uint32_t(lexeme)] = state;
}

int32_t Nfa::prefixed_start(int32_t ignore, int32_t lexeme) const {
  auto it = prefixed_.find((int64_t(ignore) << 32) | uint32_t(lexeme));
  return it == prefixed_.end() ? -1 : it->second;
}

namespace {
// AUTOMATON n_states n_final final... then per state: k (lo hi to)*k  (code point ranges).
// Returns the position after it; validates every field.
size_t automaton_end(const int32_t* w, size_t n, size_t pos) {
  auto need = [&](size_t k) {
    if (pos + k > n) throw GrammarError("truncated automaton regex");
  };
  need(2);
  const int32_t states = w[pos], finals = w[pos + 1];
  if (states <= 0 || finals < 0 || finals > states) throw GrammarError("bad automaton regex header");
  pos += 2;
  need(size_t(finals));
  for (int32_t i = 0; i < finals; ++i)
    if (w[pos + i] < 0 || w[pos + i] >= states) throw GrammarError("bad automaton final state");
  pos += size_t(finals);
  for (int32_t s = 0; s < states; ++s) {
    need(1);
    const int32_t k = w[pos++];
    if (k < 0) throw GrammarError("bad automaton edge count");
    need(3 * size_t(k));
    for (int32_t i = 0; i < k; ++i) {
      const int32_t lo = w[pos + 3 * i], hi = w[pos + 3 * i + 1], to = w[pos + 3 * i + 2];
      if (lo < 0 || hi > 0x10FFFF || lo > hi) throw GrammarError("bad automaton code point range");
      if (to < 0 || to >= states) throw GrammarError("bad automaton edge target");
    }
    pos += 3 * size_t(k);
  }
  return pos;
}
}  // namespace

size_t Nfa::skip(const int32_t* w, size_t n, size_t pos, int depth) const {
  if (depth > kMaxNesting) throw GrammarError("regex nested too deeply");
  if (pos >= n) throw GrammarError("truncated regex");
  switch (w[pos]) {
    case kEmpty:
    case kNever: return pos + 1;
    case kBytes: return pos + 2 + w[pos + 1];
    case kCps:
    case kByteset: return pos + 2 + 2 * w[pos + 1];
    case kCat:
    case kAlt: {
      int32_t k = w[pos + 1];
      pos += 2;
      for (int32_t i = 0; i < k; ++i) pos = skip(w, n, pos, depth + 1);
      return pos;
    }
    case kRep:
    case kCount: return skip(w, n, pos + 3, depth + 1);
    case kUnit: return skip(w, n, pos + 1, depth + 1);
    case kAutomaton: return automaton_end(w, n, pos + 1);
    default: throw GrammarError("unknown regex opcode " + std::to_string(w[pos]));
  }
}

int64_t Nfa::estimate(const int32_t* w, size_t n, size_t& pos, int depth) const {
  // The states build() allocates for the regex at w[pos] (pos is advanced), saturating.
  constexpr int64_t kBig = int64_t(1) << 50;
  if (depth > kMaxNesting) throw GrammarError("regex nested too deeply");
  if (pos >= n) throw GrammarError("truncated regex");
  const int32_t op = w[pos++];
  switch (op) {
    case kEmpty:
    case kNever: return 0;
    case kBytes: {
      if (pos >= n) throw GrammarError("truncated regex bytes");
      const int32_t len = w[pos++];
      if (len < 0 || pos + len > n) throw GrammarError("truncated regex bytes");
      pos += len;
      return len > 1 ? len - 1 : 0;
    }
    case kByteset:
    case kCps: {
      if (pos >= n) throw GrammarError("truncated character class");
      const int32_t k = w[pos++];
      if (k < 0 || pos + 2 * static_cast<size_t>(k) > n) throw GrammarError("truncated character class");
      int64_t total = 0;
      if (op == kCps) {
        auto middles = [](int32_t a, int32_t b) {
          if (b < 0x80) return int64_t(0);  // ASCII: one byte
          int64_t t = 0;
          for (const Utf8Seq& s : utf8_sequences_of(a, b)) t += static_cast<int64_t>(s.size()) - 1;
          return t;
        };
        for (int32_t i = 0; i < k; ++i) {
          int32_t lo = w[pos + 2 * i], hi = w[pos + 2 * i + 1];
          if (lo < 0 || hi > 0x10FFFF || lo > hi) throw GrammarError("bad code point range");
          if (lo < 0xD800 && hi >= 0xD800) {
            total += middles(lo, 0xD7FF);
            lo = 0xD800;
          }
          if (lo <= 0xDFFF && hi >= 0xD800) lo = 0xE000;
          if (lo <= hi) total += middles(lo, hi);
        }
      }
      pos += 2 * static_cast<size_t>(k);
      return total;
    }
    case kCat:
    case kAlt: {
      if (pos >= n) throw GrammarError("truncated regex");
      const int32_t k = w[pos++];
      int64_t total = op == kCat && k > 1 ? k - 1 : 0;
      for (int32_t i = 0; i < k; ++i) total = std::min(kBig, total + estimate(w, n, pos, depth + 1));
      return total;
    }
    case kRep: {
      if (pos + 2 > n) throw GrammarError("truncated regex");
      const int32_t lo = w[pos], hi = w[pos + 1];
      pos += 2;
      if (lo < 0 || (hi >= 0 && hi < lo)) throw GrammarError("bad repetition bounds");
      const int64_t body = estimate(w, n, pos, depth + 1) + 1;
      const int64_t copies = static_cast<int64_t>(lo) + (hi < 0 ? 1 : hi - lo) + 1;
      return body >= kBig / copies ? kBig : body * copies;
    }
    case kCount: {  // the body once, plus its entry and gate states
      if (pos + 2 > n) throw GrammarError("truncated regex");
      pos += 2;
      return std::min(kBig, estimate(w, n, pos, depth + 1) + 2);
    }
    case kUnit: return std::min(kBig, estimate(w, n, pos, depth + 1) + 1);
    case kAutomaton: {
      const size_t end = automaton_end(w, n, pos);
      const int64_t total = int64_t(w[pos]) + 4 * int64_t(end - pos);  // states + UTF-8 middles
      pos = end;
      return total;
    }
    default: throw GrammarError("unknown regex opcode " + std::to_string(op));
  }
}

bool Nfa::nullable(const int32_t* w, size_t n, size_t pos, int depth) const {
  if (depth > kMaxNesting || pos >= n) throw GrammarError("regex nested too deeply");
  switch (w[pos]) {
    case kEmpty: return true;
    case kNever: return false;
    case kBytes: return w[pos + 1] == 0;
    case kCps:
    case kByteset: return false;
    case kCat:
    case kAlt: {
      int32_t k = w[pos + 1];
      bool all = true, any = false;
      size_t p = pos + 2;
      for (int32_t i = 0; i < k; ++i) {
        bool b = nullable(w, n, p, depth + 1);
        all &= b;
        any |= b;
        p = skip(w, n, p, depth + 1);
      }
      return w[pos] == kCat ? all : any;
    }
    case kRep: return w[pos + 1] == 0 || nullable(w, n, pos + 3, depth + 1);
    case kCount: return w[pos + 1] == 0 && nullable(w, n, pos + 3, depth + 1);
    case kUnit: return false;  // (build() refuses a nullable unit)
    case kAutomaton: {
      automaton_end(w, n, pos + 1);
      for (int32_t i = 0; i < w[pos + 2]; ++i)
        if (w[pos + 3 + i] == 0) return true;
      return false;
    }
    default: throw GrammarError("unknown regex opcode");
  }
}

void Nfa::add_region(int32_t begin, const std::vector<int32_t>& sizes) {
  // sizes[i] = states allocated by copy i; keep the longest prefix of equal sizes
  constexpr size_t kMinUnits = 4;
  if (sizes.size() < kMinUnits || sizes[0] <= 0) return;
  size_t k = 1;
  while (k < sizes.size() && sizes[k] == sizes[0]) ++k;
  if (k < kMinUnits) return;
  regions_.push_back({begin, sizes[0], static_cast<int32_t>(k)});
}

int32_t Nfa::region_of(int32_t q) const {
  // regions_ is sorted by begin and disjoint
  size_t lo = 0, hi = regions_.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (regions_[mid].begin <= q)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return -1;
  const RepeatRegion& r = regions_[lo - 1];
  return q < r.begin + r.unit * r.units ? static_cast<int32_t>(lo - 1) : -1;
}

int32_t Nfa::counted_of(int32_t q) const {
  if (counted_.empty()) return -1;
  auto it = std::upper_bound(counted_.begin(), counted_.end(), q,
                             [](int32_t x, const CountedRegion& r) { return x < r.begin; });
  if (it == counted_.begin()) return -1;
  --it;
  return q < it->end ? static_cast<int32_t>(it - counted_.begin()) : -1;
}

void Nfa::add_codepoints(int32_t lo, int32_t hi, int32_t from, int32_t to, int32_t lexeme) {
  if (hi < 0x80) {  // ASCII: one byte range (what utf8_sequences_of gives, without the lookup)
    add_edge(from, static_cast<uint8_t>(lo), static_cast<uint8_t>(hi), to);
    return;
  }
  for (const Utf8Seq& seq : utf8_sequences_of(lo, hi)) {
    int32_t cur = from;
    for (size_t i = 0; i < seq.size(); ++i) {
      int32_t nxt = (i + 1 == seq.size()) ? to : new_state(lexeme);
      add_edge(cur, seq[i].first, seq[i].second, nxt);
      cur = nxt;
    }
  }
}

void Nfa::build(const int32_t* w, size_t n, size_t& pos, int32_t from, int32_t to, int32_t lexeme,
                int depth) {
  if (depth > kMaxNesting) throw GrammarError("regex nested too deeply");
  if (pos >= n) throw GrammarError("truncated regex");
  int32_t op = w[pos++];
  switch (op) {
    case kEmpty: add_eps(from, to); return;
    case kNever: return;
    case kBytes: {
      int32_t len = w[pos++];
      if (len < 0 || pos + len > n) throw GrammarError("truncated regex bytes");
      int32_t cur = from;
      for (int32_t i = 0; i < len; ++i) {
        int32_t nxt = (i + 1 == len) ? to : new_state(lexeme);
        uint8_t b = static_cast<uint8_t>(w[pos + i]);
        add_edge(cur, b, b, nxt);
        cur = nxt;
      }
      if (len == 0) add_eps(from, to);
      pos += len;
      return;
    }
    case kCps:
    case kByteset: {
      int32_t k = w[pos++];
      if (k < 0 || pos + 2 * k > n) throw GrammarError("truncated character class");
      for (int32_t i = 0; i < k; ++i) {
        int32_t lo = w[pos + 2 * i], hi = w[pos + 2 * i + 1];
        if (op == kByteset) {
          if (lo < 0 || hi > 255 || lo > hi) throw GrammarError("bad byte range");
          add_edge(from, static_cast<uint8_t>(lo), static_cast<uint8_t>(hi), to);
        } else {
          if (lo < 0 || hi > 0x10FFFF || lo > hi) throw GrammarError("bad code point range");
          // surrogates have no UTF-8 encoding: cut them out
          if (lo < 0xD800 && hi >= 0xD800) {
            add_codepoints(lo, 0xD7FF, from, to, lexeme);
            lo = 0xD800;
          }
          if (lo <= 0xDFFF && hi >= 0xD800) lo = 0xE000;
          if (lo <= hi) add_codepoints(lo, hi, from, to, lexeme);
        }
      }
      pos += 2 * k;
      return;
    }
    case kCat: {
      int32_t k = w[pos++];
      if (k == 0) {
        add_eps(from, to);
        return;
      }
      int32_t cur = from;
      for (int32_t i = 0; i < k; ++i) {
        int32_t nxt = (i + 1 == k) ? to : new_state(lexeme);
        build(w, n, pos, cur, nxt, lexeme, depth + 1);
        cur = nxt;
      }
      return;
    }
    case kAlt: {
      int32_t k = w[pos++];
      for (int32_t i = 0; i < k; ++i) build(w, n, pos, from, to, lexeme, depth + 1);
      return;
    }
    case kRep: {
      int32_t lo = w[pos], hi = w[pos + 1];
      pos += 2;
      if (lo < 0 || (hi >= 0 && hi < lo)) throw GrammarError("bad repetition bounds");
      size_t child = pos;
      size_t after = skip(w, n, pos, depth + 1);
      int64_t copies = static_cast<int64_t>(lo) + (hi < 0 ? 1 : hi - lo);
      if (copies * static_cast<int64_t>(after - child) > max_states_)
        throw LimitError("repetition {" + std::to_string(lo) + "," +
                             (hi < 0 ? std::string("") : std::to_string(hi)) +
                             "} (nested counted repetitions multiply) is too large for the regex automaton "
                             "limit max_nfa_states=" +
                             std::to_string(max_states_),
                         "max_nfa_states");
      // Each copy allocates its end state and then the body's states, so the copies of
      // a non-nullable body are congruent: recorded as a RepeatRegion.
      const bool body_nullable = nullable(w, n, child, depth + 1);
      // The first copy of the body is built from the wire format; every later copy replays
      // it with its states shifted: the same states, edges and regions in the same order as
      // building it again would give (so the automaton is identical), without decoding the
      // body and its UTF-8 sequences once per copy ("[^\"]{0,4096}" has 4096 copies).
      struct Copy {
        int32_t from, to, base, states;
        size_t e0, e1, p0, p1, r0, r1, k0, k1;
      };
      ++rep_depth_;
      bool have_copy = false;
      Copy tpl{};
      auto body = [&](int32_t a, int32_t b) {
        const int32_t base = num_states();
        if (!have_copy) {
          const size_t e0 = raw_edges_.size(), p0 = raw_eps_.size(), r0 = regions_.size();
          const size_t k0 = raw_ticks_.size();
          size_t p = child;
          build(w, n, p, a, b, lexeme, depth + 1);
          tpl = {a,    b,
                 base, num_states() - base,
                 e0,   raw_edges_.size(),
                 p0,   raw_eps_.size(),
                 r0,   regions_.size(),
                 k0,   raw_ticks_.size()};
          have_copy = a != b;  // (a loop body maps from and to alike: not replayed)
          return;
        }
        for (int32_t k = 0; k < tpl.states; ++k) new_state(lexeme);
        auto map = [&](int32_t x) {
          if (x == tpl.from) return a;
          if (x == tpl.to) return b;
          if (x >= tpl.base && x < tpl.base + tpl.states) return x - tpl.base + base;
          return x;
        };
        for (size_t i = tpl.e0; i < tpl.e1; ++i) {
          const RawEdge r = raw_edges_[i];
          add_edge(map(r.from), r.e.lo, r.e.hi, map(r.e.to));
        }
        for (size_t i = tpl.p0; i < tpl.p1; ++i) {
          const auto pr = raw_eps_[i];
          add_eps(map(pr.first), map(pr.second));
        }
        for (size_t i = tpl.k0; i < tpl.k1; ++i) {
          const auto pr = raw_ticks_[i];
          raw_ticks_.push_back({map(pr.first), map(pr.second)});
        }
        for (size_t i = tpl.r0; i < tpl.r1; ++i) {
          RepeatRegion r = regions_[i];
          r.begin = r.begin - tpl.base + base;
          regions_.push_back(r);
        }
      };
      std::vector<int32_t> sizes;
      int32_t cur = from;
      int32_t region_begin = num_states();
      for (int32_t i = 0; i < lo; ++i) {
        int32_t before = num_states();
        int32_t nxt = new_state(lexeme);
        body(cur, nxt);
        sizes.push_back(num_states() - before);
        cur = nxt;
      }
      if (!body_nullable) add_region(region_begin, sizes);
      sizes.clear();
      region_begin = num_states();
      if (hi < 0) {
        // cur -child-> cur (a loop through a fresh state so the loop has its own entry)
        int32_t loop = new_state(lexeme);
        add_eps(cur, loop);
        size_t p = child;
        build(w, n, p, loop, loop, lexeme, depth + 1);
        add_eps(loop, to);
      } else {
        for (int32_t i = lo; i < hi; ++i) {
          add_eps(cur, to);
          int32_t before = num_states();
          int32_t nxt = (i + 1 == hi) ? to : new_state(lexeme);
          body(cur, nxt);
          if (i + 1 < hi) sizes.push_back(num_states() - before);
          cur = nxt;
        }
        if (!body_nullable) add_region(region_begin, sizes);
        if (lo == hi) add_eps(cur, to);
      }
      --rep_depth_;
      pos = after;
      return;
    }
    case kCount: {
      if (pos + 2 > n) throw GrammarError("truncated regex");
      const int32_t lo = w[pos], hi = w[pos + 1];
      pos += 2;
      if (lo < 0 || (hi >= 0 && hi < lo) || hi < -1) throw GrammarError("bad counted repetition bounds");
      if (rep_depth_ > 0 || open_count_ >= 0)
        throw GrammarError("a counted repetition (COUNT) inside a repetition or another COUNT");
      const int32_t entry = new_state(lexeme);
      const int32_t gate = new_state(lexeme);
      open_count_ = static_cast<int32_t>(counted_.size());
      counted_.push_back({entry, entry, lo, hi});
      build(w, n, pos, entry, gate, lexeme, depth + 1);
      counted_.back().end = num_states();
      open_count_ = -1;
      add_eps(from, entry);
      raw_gates_.push_back({gate, to});
      return;
    }
    case kUnit: {
      if (open_count_ < 0) throw GrammarError("a counted unit (UNIT) outside a COUNT");
      if (nullable(w, n, pos, depth + 1))
        throw GrammarError("a counted unit (UNIT) that matches the empty string");
      const int32_t end = new_state(lexeme);
      build(w, n, pos, from, end, lexeme, depth + 1);
      raw_ticks_.push_back({end, to});
      return;
    }
    case kAutomaton: {
      // A deterministic automaton over code points (free text that must not contain some
      // strings, ended by a trigger): one NFA state per automaton state, UTF-8 byte
      // sequences for its code point edges, epsilon edges from final states to `to`.
      if (automaton_.size() <= static_cast<size_t>(lexeme)) automaton_.resize(lexeme + 1, 0);
      automaton_[lexeme] = 1;
      const size_t end = automaton_end(w, n, pos);
      const int32_t states = w[pos], finals = w[pos + 1];
      std::vector<int32_t> id(states);
      for (int32_t s = 0; s < states; ++s) id[s] = new_state(lexeme);
      add_eps(from, id[0]);  // (not `from` itself: edges back into state 0 must not reach
                             // whatever else leaves `from`)
      size_t p = pos + 2;
      for (int32_t i = 0; i < finals; ++i) add_eps(id[w[p + i]], to);
      p += size_t(finals);
      // The states inside a multi-byte character are shared by every automaton state with the
      // same rest of the byte sequence and the same target: a partial trigger and the start
      // state then reach the same DFA state after a character's lead byte, so a cold walk
      // from one can take the other's (CompiledGrammar::share_walk).
      using Seq = std::vector<std::pair<uint8_t, uint8_t>>;
      std::map<std::pair<Seq, int32_t>, int32_t> tails;
      auto tail = [&](const Utf8Seq& seq, int32_t to) {
        int32_t cur = to;
        for (size_t i = seq.size(); i-- > 1;) {
          auto key = std::make_pair(Seq(seq.begin() + static_cast<std::ptrdiff_t>(i), seq.end()), to);
          auto it = tails.find(key);
          if (it != tails.end()) {
            cur = it->second;
            continue;
          }
          const int32_t st = new_state(lexeme);
          add_edge(st, seq[i].first, seq[i].second, cur);
          tails.emplace(std::move(key), st);
          cur = st;
        }
        return cur;
      };
      auto add_range = [&](int32_t lo, int32_t hi, int32_t from, int32_t t) {
        if (hi < 0x80) {  // ASCII: one byte range, no tail
          add_edge(from, static_cast<uint8_t>(lo), static_cast<uint8_t>(hi), t);
          return;
        }
        for (const Utf8Seq& seq : utf8_sequences_of(lo, hi))
          add_edge(from, seq[0].first, seq[0].second, tail(seq, t));
      };
      for (int32_t s = 0; s < states; ++s) {
        const int32_t k = w[p++];
        for (int32_t i = 0; i < k; ++i, p += 3) {
          int32_t lo = w[p], hi = w[p + 1];
          const int32_t t = id[w[p + 2]];
          if (lo < 0xD800 && hi >= 0xD800) {
            add_range(lo, 0xD7FF, id[s], t);
            lo = 0xD800;
          }
          if (lo <= 0xDFFF && hi >= 0xD800) lo = 0xE000;
          if (lo <= hi) add_range(lo, hi, id[s], t);
        }
      }
      pos = end;
      return;
    }
    default: throw GrammarError("unknown regex opcode " + std::to_string(op));
  }
}

void Nfa::finish() {
  const int32_t N = num_states();
  // The flat lists are far below 2^31 entries (a state is ~10 bytes of wire words or more),
  // so the temporary CSR offsets are int32: half the memory traffic of int64 ones.
  if (raw_edges_.size() + raw_ticks_.size() + raw_gates_.size() >= size_t(INT32_MAX) ||
      raw_eps_.size() + raw_ticks_.size() + raw_gates_.size() >= size_t(INT32_MAX))
    throw LimitError("regex automaton has too many edges", "max_nfa_states");
  // Byte edges by source state (CSR; a counting sort keeps each state's edges in the
  // order they were added), epsilon edges by source, and both reversed. No per-state
  // vectors: with ~10^5 states their allocation was most of the compile time. The counts go
  // in off[key + 1]; after the prefix sum off[k] is where k's items start, each placement
  // advances it to the next k's start, and one shift restores the starts (no second array).
  // Only the items `keep` accepts are placed.
  auto bucket_if = [N](const auto& items, auto key, auto val, auto keep, auto& off, auto& data) {
    using Off = typename std::decay_t<decltype(off)>::value_type;
    off.assign(int64_t(N) + 1, 0);
    for (const auto& it : items)
      if (keep(it)) ++off[key(it) + 1];
    for (int32_t s = 0; s < N; ++s) off[s + 1] += off[s];
    data.resize(off[N]);
    for (const auto& it : items)
      if (keep(it)) data[off[key(it)]++] = val(it);
    for (int32_t s = N; s > 0; --s) off[s] = off[s - 1];
    off[0] = Off(0);
  };
  auto bucket = [&bucket_if](const auto& items, auto key, auto val, auto& off, auto& data) {
    bucket_if(items, key, val, [](const auto&) { return true; }, off, data);
  };
  std::vector<int32_t> eps_off, rev_off, reps_off;
  std::vector<int32_t> eps, rev, reps;
  using Eps = std::pair<int32_t, int32_t>;
  bucket(raw_eps_, [](const Eps& p) { return p.first; }, [](const Eps& p) { return p.second; }, eps_off, eps);
  // ticks and gates count as epsilon edges for the distance to acceptance (a lower bound
  // where a gate waits for lo units: Lexer::dist_to_accept adds what the count lacks)
  if (!counted_.empty()) {
    tick_to_.assign(N, -1);
    gate_to_.assign(N, -1);
    for (const auto& t : raw_ticks_) tick_to_[t.first] = t.second;
    for (const auto& g : raw_gates_) gate_to_[g.first] = g.second;
    raw_eps_.insert(raw_eps_.end(), raw_ticks_.begin(), raw_ticks_.end());
    raw_eps_.insert(raw_eps_.end(), raw_gates_.begin(), raw_gates_.end());
  }
  bucket(
      raw_eps_, [](const Eps& p) { return p.second; }, [](const Eps& p) { return p.first; }, reps_off, reps);
  // (the closures, from eps above, do not follow ticks and gates)
  std::vector<std::pair<int32_t, int32_t>>().swap(raw_ticks_);
  std::vector<std::pair<int32_t, int32_t>>().swap(raw_gates_);
  bucket(
      raw_edges_, [](const RawEdge& r) { return r.e.to; }, [](const RawEdge& r) { return r.from; }, rev_off,
      rev);
  std::vector<Eps>().swap(raw_eps_);
  std::unordered_multimap<uint64_t, LexemeBuild>().swap(built_);  // (ranges of the build lists)
  // Distance to acceptance (byte edges cost 1, epsilon edges 0), level by level: the states
  // at distance d are settled from a stack (epsilon predecessors join it at d), their byte
  // predecessors make level d + 1. The same distances as a 0-1 BFS, without a deque.
  dist_.assign(N, INT32_MAX);
  {
    std::vector<int32_t> level, next;
    for (int32_t s = 0; s < N; ++s)
      if (accept_of_[s] >= 0) {
        dist_[s] = 0;
        level.push_back(s);
      }
    for (int32_t d = 0; !level.empty(); ++d) {
      next.clear();
      while (!level.empty()) {
        const int32_t s = level.back();
        level.pop_back();
        if (dist_[s] != d) continue;  // (settled at a smaller distance after it was queued)
        for (int32_t i = reps_off[s]; i < reps_off[s + 1]; ++i) {
          const int32_t p = reps[i];
          if (dist_[p] > d) {
            dist_[p] = d;
            level.push_back(p);
          }
        }
        for (int32_t i = rev_off[s]; i < rev_off[s + 1]; ++i) {
          const int32_t p = rev[i];
          if (dist_[p] > d + 1) {
            dist_[p] = d + 1;
            next.push_back(p);
          }
        }
      }
      level.swap(next);
    }
  }
  alive_.assign(N, 0);
  for (int32_t s = 0; s < N; ++s) alive_[s] = dist_[s] != INT32_MAX;
  // Byte edges by source state (CSR; the counting sort keeps each state's edges in the
  // order they were added), those into dead states left out: bucketed once the distances
  // are known, not bucketed all and then compacted.
  bucket_if(
      raw_edges_, [](const RawEdge& r) { return r.from; }, [](const RawEdge& r) { return r.e; },
      [this](const RawEdge& r) { return alive_[r.e.to] != 0; }, edge_off_, edge_data_);
  std::vector<RawEdge>().swap(raw_edges_);
  // Epsilon closures restricted to alive states. A state with no byte edges and no
  // acceptance contributes nothing to a DFA state, so closures keep only "important"
  // states; that keeps equal DFA states equal.
  auto has_edges = [&](int32_t u) {
    return edge_off_[u] != edge_off_[u + 1] ||
           (!tick_to_.empty() &&
            ((tick_to_[u] >= 0 && alive_[tick_to_[u]]) || (gate_to_[u] >= 0 && alive_[gate_to_[u]])));
  };
  closure_off_.assign(int64_t(N) + 1, 0);
  closure_data_.clear();
  closure_data_.reserve(N);
  std::vector<int32_t> mark(N, -1);
  std::vector<int32_t> stack;
  int64_t steps = 0;  // closure steps not yet charged to the work budget
  for (int32_t s = 0; s < N; ++s) {
    closure_off_[s] = static_cast<int64_t>(closure_data_.size());
    if (steps >= 4096) {
      charge_work(steps, "computing the regex automaton's epsilon closures");
      steps = 0;
    }
    if (!alive_[s]) continue;
    const size_t first = closure_data_.size();
    if (eps_off[s] == eps_off[s + 1]) {  // the common case: the closure is the state itself
      if (has_edges(s) || accept_of_[s] >= 0) closure_data_.push_back(s);
      continue;
    }
    stack.assign(1, s);
    mark[s] = s;
    while (!stack.empty()) {
      int32_t u = stack.back();
      stack.pop_back();
      if (has_edges(u) || accept_of_[u] >= 0) closure_data_.push_back(u);
      steps += 1 + (eps_off[u + 1] - eps_off[u]);
      for (int64_t i = eps_off[u]; i < eps_off[u + 1]; ++i) {
        int32_t v = eps[i];
        if (alive_[v] && mark[v] != s) {
          mark[v] = s;
          stack.push_back(v);
        }
      }
    }
    std::sort(closure_data_.begin() + first, closure_data_.end());
    steps += 4 * static_cast<int64_t>(closure_data_.size() - first);  // the sort
  }
  charge_work(steps, "computing the regex automaton's epsilon closures");
  closure_off_[N] = static_cast<int64_t>(closure_data_.size());
  if (!counted_.empty()) count_ticks(eps_off, eps);
  // Keep innermost regions only: an inner repetition is recorded once per outer copy, and
  // those records are disjoint.
  std::sort(regions_.begin(), regions_.end(),
            [](const RepeatRegion& a, const RepeatRegion& b) { return a.begin < b.begin; });
  std::vector<RepeatRegion> leaves;
  for (size_t i = 0; i < regions_.size(); ++i) {
    const RepeatRegion& r = regions_[i];
    int64_t end = int64_t(r.begin) + int64_t(r.unit) * r.units;
    bool contains_other = false;
    for (size_t j = i + 1; j < regions_.size() && regions_[j].begin < end; ++j) contains_other = true;
    if (!contains_other) leaves.push_back(r);
  }
  // an outer region recorded before its inner ones has a smaller begin; a region that is
  // inside a kept one cannot exist (kept ones contain none), so leaves are disjoint
  regions_ = std::move(leaves);
}

void Nfa::count_ticks(const std::vector<int32_t>& eps_off, const std::vector<int32_t>& eps) {
  // Per counted region, over its alive states: successors by byte edges and epsilon edges
  // (0 units) and the tick edge (1 unit); the gate state is the sink. Fewest units: a
  // Bellman-Ford-free 0-1 BFS backwards. Most units: Kahn's order backwards from the gate;
  // a state never finished lies on or before a cycle (every cycle holds a byte, so a unit):
  // unbounded.
  const int32_t N = num_states();
  min_ticks_.assign(N, kManyTicks);
  max_ticks_.assign(N, kManyTicks);
  for (CountedRegion& reg : counted_) {
    const int32_t b = reg.begin, n = reg.end - reg.begin;
    // predecessors (from, units) of each state, in CSR form (a vector per state was most of
    // the engine's compile of a grammar with a large counted region: malloc and free)
    std::vector<int32_t> outdeg(n, 0);
    std::vector<int64_t> pred_off(int64_t(n) + 1, 0);
    std::vector<std::pair<int32_t, int32_t>> pred_data;
    auto for_links = [&](auto&& link) {
      for (int32_t u = b; u < reg.end; ++u) {
        if (!alive_[u]) continue;
        for (const NfaEdge& e : edges(u)) link(u, e.to, 0);
        for (int32_t i = eps_off[u]; i < eps_off[u + 1]; ++i) link(u, eps[i], 0);
        if (tick_to_[u] >= 0) link(u, tick_to_[u], 1);
      }
    };
    auto inside = [&](int32_t v) { return v >= b && v < reg.end && alive_[v]; };
    for_links([&](int32_t u, int32_t v, int32_t) {
      if (!inside(v)) return;
      ++pred_off[v - b + 1];
      ++outdeg[u - b];
    });
    for (int32_t i = 0; i < n; ++i) pred_off[i + 1] += pred_off[i];
    pred_data.resize(pred_off[n]);
    {
      std::vector<int64_t> fill(pred_off.begin(), pred_off.end() - 1);
      for_links([&](int32_t u, int32_t v, int32_t w) {
        if (inside(v)) pred_data[fill[v - b]++] = {u, w};
      });
    }
    auto pred = [&](int32_t v) {
      return std::make_pair(pred_data.data() + pred_off[v - b], pred_data.data() + pred_off[v - b + 1]);
    };
    charge_work(4 * int64_t(n), "counting the units of a counted repetition");
    std::deque<int32_t> dq;
    std::vector<int32_t> order;
    for (int32_t u = b; u < reg.end; ++u)
      if (gate_to_[u] >= 0 && alive_[u]) {
        min_ticks_[u] = 0;
        dq.push_back(u);
      }
    while (!dq.empty()) {
      const int32_t v = dq.front();
      dq.pop_front();
      for (auto [p, e] = pred(v); p != e; ++p) {
        const auto [u, w] = *p;
        if (min_ticks_[u] > min_ticks_[v] + w) {
          min_ticks_[u] = min_ticks_[v] + w;
          w ? dq.push_back(u) : dq.push_front(u);
        }
      }
    }
    for (int32_t u = b; u < reg.end; ++u)
      if (alive_[u] && outdeg[u - b] == 0) {
        max_ticks_[u] = 0;
        order.push_back(u);
      }
    for (size_t k = 0; k < order.size(); ++k) {
      const int32_t v = order[k];
      for (auto [p, e] = pred(v); p != e; ++p) {
        const auto [u, w] = *p;
        const int32_t m =
            max_ticks_[u] == kManyTicks ? max_ticks_[v] + w : std::max(max_ticks_[u], max_ticks_[v] + w);
        max_ticks_[u] = m;
        if (--outdeg[u - b] == 0) order.push_back(u);
      }
    }
    for (int32_t u = b; u < reg.end; ++u)
      if (alive_[u] && outdeg[u - b] != 0) max_ticks_[u] = kManyTicks;
    reg.after_gate = INT32_MAX;
    for (int32_t u = b; u < reg.end; ++u)
      if (gate_to_[u] >= 0 && alive_[u]) reg.after_gate = std::min(reg.after_gate, dist_[gate_to_[u]]);
    for (int32_t u = b; u < reg.end; ++u) {
      if (!alive_[u]) continue;
      if (min_ticks_[u] != kManyTicks) reg.most_min = std::max(reg.most_min, min_ticks_[u]);
      if (max_ticks_[u] != kManyTicks) reg.most_max = std::max(reg.most_max, max_ticks_[u]);
    }
  }
}

bool Nfa::matches_empty(int32_t lexeme) const {
  for (int32_t s : closure(starts_[lexeme]))
    if (accept_of_[s] == lexeme) return true;
  return false;
}

}  // namespace decoder
