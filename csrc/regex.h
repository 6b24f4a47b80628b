// regex.h — regex IR → byte-level NFA (Thompson construction), UTF-8 aware.
//
// The Python front ends produce regexes as a tree (see decoder/grammar/ir.py), written in
// prefix form as int32 words: the layout and opcodes are in ir_format.h.
//
// All lexemes of a grammar share one Nfa; lexeme j starts at start(j) and accepts in
// accept(j). Code point classes are compiled to UTF-8 byte-range sequences, so the
// automaton runs on bytes and a token that ends inside a character is handled exactly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

namespace decoder {

struct NfaEdge {
  uint8_t lo, hi;
  int32_t to;
};

// A run of congruent copies of a repetition body: copy i owns the states
// [begin + i*unit, begin + (i+1)*unit), and copy i+1 is copy i shifted by `unit` ids with
// identical edges (shifted too). Lexer states that differ only by such a shift behave the
// same for as long as the copies last, which lets the mask cache share work between the
// positions of a bounded repetition ("[^\"]{0,200}" has 200 lexer states but one shape).
struct RepeatRegion {
  int32_t begin;
  int32_t unit;   // states per copy
  int32_t units;  // number of congruent copies
};

// A counted repetition (wire op COUNT, see ir_format.h): the NFA states [begin, end) are
// its body, built once; the lexer state carries how many UNITs of it have completed (its
// count), so a bound of 65,535 costs no states. Two kinds of special epsilon edges, not
// in the static closures: a tick (the end of a UNIT: the count goes up by one, allowed
// only while count < hi) and a gate (the end of the body: allowed only when lo <= count).
// Lexer::settle applies them with the counts of the lexer state.
struct CountedRegion {
  int32_t begin, end;
  int32_t lo, hi;  // hi = -1: unbounded
  // the largest finite Nfa::min_ticks / max_ticks over the region's states (how far from a
  // bound the count must be for the bound to be out of a token's reach)
  int32_t most_min = 0, most_max = 0;
  int32_t after_gate = 0;  // fewest bytes from a gate's target to acceptance (Lexer::dist_to_accept)
};

// One UTF-8 byte-range sequence of a code point range: a byte range per byte of the
// encoding (1 to 4), held inline (a vector per sequence was an allocation per range of every
// character class the automaton is built from).
struct Utf8Seq {
  std::pair<uint8_t, uint8_t> r[4];
  int n = 0;
  size_t size() const { return static_cast<size_t>(n); }
  const std::pair<uint8_t, uint8_t>& operator[](size_t i) const { return r[i]; }
  const std::pair<uint8_t, uint8_t>* begin() const { return r; }
  const std::pair<uint8_t, uint8_t>* end() const { return r + n; }
};

// A read-only run of int32 values inside a flat array (a closure, in CSR form).
struct IdSpan {
  const int32_t* b;
  const int32_t* e;
  const int32_t* begin() const { return b; }
  const int32_t* end() const { return e; }
  size_t size() const { return static_cast<size_t>(e - b); }
};

class Nfa {
 public:
  explicit Nfa(int64_t max_states) : max_states_(max_states) {}

  // Parses one serialised regex starting at words[pos] (pos is advanced) and adds it as
  // lexeme number `lexeme`. Throws GrammarError on malformed input, LimitError on size.
  void add_lexeme(const int32_t* words, size_t n_words, size_t& pos, int32_t lexeme);

  // Adds a copy of the regex at words[pos] (an ignored lexeme, e.g. whitespace) that leads
  // into lexeme `lexeme`'s start and is owned by it: the lexer then reads "ignored text
  // then lexeme" as one lexeme, so the parser never hears of the whitespace and the mask
  // cache covers tokens like ' "' and '\n  {'. Returns the copy's start state.
  int32_t add_prefixed(const int32_t* words, size_t n_words, size_t pos, int32_t lexeme);
  // prefixed_start(i, j): start of ignore lexeme i's copy leading into lexeme j, or -1.
  int32_t prefixed_start(int32_t ignore, int32_t lexeme) const;
  void set_prefixed(int32_t ignore, int32_t lexeme, int32_t state);

  // After all lexemes are added: removes states that cannot reach an accepting state and
  // computes epsilon closures and distances to acceptance.
  void finish();

  int32_t num_states() const { return static_cast<int32_t>(lexeme_of_.size()); }
  int32_t start(int32_t lexeme) const { return starts_[lexeme]; }
  int32_t accept_lexeme(int32_t state) const { return accept_of_[state]; }  // -1 if none
  int32_t lexeme_of(int32_t state) const { return lexeme_of_[state]; }
  bool alive(int32_t state) const { return alive_[state]; }
  // Lazy lexemes end at their first match (see ir_format.h).
  void set_lazy(int32_t lexeme) {
    if (lazy_.size() <= static_cast<size_t>(lexeme)) lazy_.resize(lexeme + 1, 0);
    lazy_[lexeme] = 1;
  }
  bool is_lazy(int32_t lexeme) const { return static_cast<size_t>(lexeme) < lazy_.size() && lazy_[lexeme]; }
  // Lexemes that hold an automaton (wire op kAutomaton: free text with triggers or excluded
  // strings), whose cold mask entries are shared between grammars (shared_entries.h).
  bool has_automaton(int32_t lexeme) const {
    return static_cast<size_t>(lexeme) < automaton_.size() && automaton_[lexeme];
  }
  // Byte edges of a state (after finish(): edges into dead states removed).
  struct EdgeSpan {
    const NfaEdge* b;
    const NfaEdge* e;
    const NfaEdge* begin() const { return b; }
    const NfaEdge* end() const { return e; }
    bool empty() const { return b == e; }
  };
  EdgeSpan edges(int32_t state) const {
    const NfaEdge* d = edge_data_.data();
    return {d + edge_off_[state], d + edge_off_[state + 1]};
  }
  // Epsilon closure restricted to alive states, including `state` itself if alive.
  IdSpan closure(int32_t state) const {
    const int32_t* d = closure_data_.data();
    return {d + closure_off_[state], d + closure_off_[state + 1]};
  }
  // Fewest bytes from this state to acceptance of its lexeme (INT32_MAX if none).
  int32_t dist_to_accept(int32_t state) const { return dist_[state]; }
  int32_t lexeme_min_len(int32_t lexeme) const { return dist_[starts_[lexeme]]; }
  bool matches_empty(int32_t lexeme) const;
  // Innermost repetition regions, sorted by begin and disjoint.
  const std::vector<RepeatRegion>& regions() const { return regions_; }
  // Approximate heap bytes of the finished automaton.
  int64_t memory_bytes() const {
    return int64_t(tick_to_.capacity() + gate_to_.capacity() + min_ticks_.capacity() +
                   max_ticks_.capacity()) *
               4 +
           int64_t(edge_data_.capacity()) * int64_t(sizeof(NfaEdge)) +
           int64_t(closure_data_.capacity() + lexeme_of_.capacity() + accept_of_.capacity() +
                   dist_.capacity()) *
               4 +
           int64_t(edge_off_.capacity() + closure_off_.capacity()) * 8 + int64_t(alive_.capacity());
  }
  // The region containing NFA state q, or -1.
  int32_t region_of(int32_t q) const;

  // Counted repetitions (CountedRegion), sorted by begin and disjoint.
  bool has_counters() const { return !counted_.empty(); }
  const std::vector<CountedRegion>& counted() const { return counted_; }
  int32_t counted_of(int32_t q) const;  // the counted region containing q, or -1
  // The target of q's tick / gate edge (a state has at most one such edge), or -1. Ticks
  // and gates are in closures (so the lexer sees them) but their edges are not followed.
  int32_t tick_to(int32_t q) const { return tick_to_.empty() ? -1 : tick_to_[q]; }
  int32_t gate_to(int32_t q) const { return gate_to_.empty() ? -1 : gate_to_[q]; }
  // For a state of a counted region: the fewest and the most units (ticks) on a path from it
  // to the region's gate (kManyTicks: unbounded, a loop). The lexer keeps a state with count
  // c only when [c + min, c + max] meets [lo, hi]: exact (no dead end) when the unit counts
  // of the paths have no gap wider than hi - lo, which the front end checks before it emits a
  // COUNT (decoder/grammar/json_schema/strings.py, counted_chars).
  static constexpr int32_t kManyTicks = INT32_MAX;
  int32_t min_ticks(int32_t q) const { return min_ticks_[q]; }
  int32_t max_ticks(int32_t q) const { return max_ticks_[q]; }

 private:
  int32_t new_state(int32_t lexeme);
  void build(const int32_t* w, size_t n, size_t& pos, int32_t from, int32_t to, int32_t lexeme, int depth);
  void add_codepoints(int32_t lo, int32_t hi, int32_t from, int32_t to, int32_t lexeme);
  size_t skip(const int32_t* w, size_t n, size_t pos, int depth) const;
  bool nullable(const int32_t* w, size_t n, size_t pos, int depth) const;
  int64_t estimate(const int32_t* w, size_t n, size_t& pos, int depth) const;
  void add_region(int32_t begin, const std::vector<int32_t>& sizes);
  // What add_lexeme built for a lexeme: its words, its states [base, base + states) and the
  // ranges of the build lists it appended to ([x0, x1) each), for replay_lexeme.
  struct LexemeBuild {
    const int32_t* words;
    size_t pos, end;
    int32_t lexeme, base, states;
    size_t e0, e1, p0, p1, r0, r1, k0, k1, g0, g1, c0, c1;
  };
  void replay_lexeme(const LexemeBuild& t, int32_t lexeme);
  std::unordered_multimap<uint64_t, LexemeBuild> built_;  // by length, first and last words

  int64_t max_states_;
  // While building, edges are appended to flat lists (one allocation for all states, not
  // one per state); finish() buckets them by source state into CSR arrays.
  struct RawEdge {
    int32_t from;
    NfaEdge e;
  };
  void add_edge(int32_t from, uint8_t lo, uint8_t hi, int32_t to) {
    raw_edges_.push_back({from, {lo, hi, to}});
  }
  void add_eps(int32_t from, int32_t to) { raw_eps_.push_back({from, to}); }
  std::vector<RawEdge> raw_edges_;
  std::vector<std::pair<int32_t, int32_t>> raw_eps_;
  std::vector<int64_t> edge_off_;
  std::vector<NfaEdge> edge_data_;
  std::vector<int32_t> lexeme_of_;
  std::vector<int32_t> accept_of_;
  std::vector<int32_t> starts_;
  std::vector<uint8_t> alive_;
  std::vector<uint8_t> lazy_;       // by lexeme; shorter than the lexeme count when the last are not
  std::vector<uint8_t> automaton_;  // by lexeme, as lazy_
  // closures in CSR form: state s has closure_data_[closure_off_[s] .. closure_off_[s+1])
  std::vector<int64_t> closure_off_;
  std::vector<int32_t> closure_data_;
  std::vector<int32_t> dist_;
  std::vector<RepeatRegion> regions_;
  std::unordered_map<int64_t, int32_t> prefixed_;
  std::vector<CountedRegion> counted_;
  std::vector<std::pair<int32_t, int32_t>> raw_ticks_, raw_gates_;  // (from, to) while building
  std::vector<int32_t> tick_to_, gate_to_;                          // per state after finish()
  std::vector<int32_t> min_ticks_, max_ticks_;                      // (counted regions only)
  void count_ticks(const std::vector<int32_t>& eps_off, const std::vector<int32_t>& eps);
  int32_t open_count_ = -1;  // the COUNT being built (UNIT needs one), else -1
  int rep_depth_ = 0;        // REP bodies being built (COUNT is not allowed inside one)
};

}  // namespace decoder
