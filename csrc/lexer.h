// lexer.h — a lazily built DFA over the union of all lexemes of a grammar.
//
// A DFA state is a set of (alive) NFA states, each belonging to one lexeme. The parser
// decides which lexemes may come next (a "lexeme set"); the DFA start state for that set
// is the union of their NFA start closures. From there each byte moves to the next set;
// the empty set is the dead state kDead. Because dead NFA states were pruned, a non-dead
// DFA state always has a way to finish one of its lexemes. States and transitions are
// created on first use and never change afterwards, so reads are lock-free and only the
// creation of a new transition takes a mutex: several matchers (threads) may share a
// Lexer.
//
//   int32_t s = lexer.start_state(lexset_id);
//   s = lexer.next(s, byte);                 // kDead when no allowed lexeme continues
//   for (int32_t lx : lexer.accepting(s)) ...
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "regex.h"
#include "support/chunked_array.h"

namespace decoder {

constexpr int32_t kDead = -1;

struct VecHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    uint64_t h = 1469598103934665603ull;
    for (int32_t x : v) {
      h ^= static_cast<uint32_t>(x);
      h *= 1099511628211ull;
    }
    return static_cast<size_t>(h);
  }
};

class Lexer {
 public:
  Lexer(std::unique_ptr<Nfa> nfa, int32_t num_lexemes, int64_t max_dfa_states,
        int64_t max_dfa_bytes = int64_t(64) << 20);

  int32_t num_lexemes() const { return num_lexemes_; }
  const Nfa& nfa() const { return *nfa_; }

  // Interns a lexeme set (sorted lexeme ids) and returns its id.
  int32_t intern_lexset(const std::vector<int32_t>& lexemes);
  const std::vector<int32_t>& lexset(int32_t id) const;
  int32_t start_state(int32_t lexset_id);

  // The transition row of a state, for walks that step many bytes from the same state:
  // entries are kNotComputed until next() computes them.
  static constexpr int32_t kNotComputed = -2;
  // Rows are indexed by byte class (byte_class(b)), not by byte.
  const std::atomic<int32_t>* transitions(int32_t state) const { return row(state); }
  // Bytes that no lexeme distinguishes share a class; rows have num_byte_classes() entries,
  // so a row is usually one or two cache lines instead of a kilobyte.
  const uint8_t* byte_classes() const { return byte_class_; }
  uint8_t byte_class(uint8_t b) const { return byte_class_[b]; }
  int32_t num_byte_classes() const { return num_classes_; }
  // Entries per row: the byte classes, then (counted grammars) count_floor's two slots.
  int32_t row_stride() const { return stride_; }

  int32_t next(int32_t state, uint8_t byte) {
    int32_t t = row(state)[byte_class_[byte]].load(std::memory_order_acquire);
    return t != kUnknown ? t : compute_next(state, byte);
  }
  // False when no byte continues any lexeme from this state (e.g. after "," or a closing
  // quote): the lexeme has certainly ended.
  bool can_extend(int32_t state);
  // Lexemes that accept in this state (sorted).
  const std::vector<int32_t>& accepting(int32_t state) const { return state_(state).accepting; }
  // Interned id of accepting(state): states that accept the same lexemes share it, so a
  // lexeme end scanned from one of them is the same parser row as from any other.
  int32_t accept_id(int32_t state) const { return state_(state).accept_id; }
  // Lexemes with some NFA state in this state (sorted): those that may still complete.
  const std::vector<int32_t>& live_lexemes(int32_t state) const { return state_(state).lexemes; }
  // The NFA states of a DFA state (sorted).
  const std::vector<int32_t>& nfa_states(int32_t state) const { return state_(state).nfa_states; }
  // Fewest further bytes to finish `lexeme` from this state (INT32_MAX if it cannot).
  int32_t dist_to_accept(int32_t state, int32_t lexeme) const;
  int32_t num_states() const { return num_states_.load(std::memory_order_acquire); }
  // Approximate heap bytes of the automaton: the NFA, the DFA states built so far (their
  // NFA-state sets, transition rows, records and hash-map nodes).
  int64_t memory_bytes();

  // Counted repetitions (Nfa's CountedRegion): a state is a set of NFA states and, for each
  // counted region with states in the set, how many units of it have completed (sorted by
  // region). Two states with the same set and other counts are different states.
  using Counts = std::vector<std::pair<int32_t, int32_t>>;  // (region, count)
  const Counts& counts(int32_t state) const { return state_(state).counts; }
  // The state with the same NFA states and these counts (same regions, in order).
  int32_t with_counts(int32_t state, const Counts& counts);
  // The state of this NFA-state set (sorted, unique; no counted region states): the state a
  // walk reaches with that set (shared_entries.h maps another grammar's exits to it).
  int32_t state_of(std::vector<int32_t> nfa_states);

  // The count floor of a state: the same NFA states with every count lowered to its region's
  // lo. When every count is at lo or past it and `bytes` more units still leave the fewest
  // units to the gate within hi (count + bytes + most_min <= hi), both states read every
  // string of at most `bytes` bytes alike: the same NFA states after each byte (no tick passes
  // hi, no state is dropped for the units it still needs, every gate open) and so the same
  // lexemes accepting; only the counts differ. Then the floor is returned, else `state`. A walk
  // that steps floors instead of states builds one DFA state per NFA-state set instead of
  // one per (set, count) (CompiledGrammar::lexer_walk).
  // Only for a grammar with counted regions (Nfa::has_counters): the floor and its reach sit
  // in two slots after the state's row (row_stride()), in the cache lines a walk reads anyway.
  int32_t count_floor(int32_t state, int32_t bytes) {
    const std::atomic<int32_t>* r = row(state) + num_classes_;
    int32_t f = r[0].load(std::memory_order_acquire);
    if (f == kUnknown) f = compute_floor(state);
    return bytes <= r[1].load(std::memory_order_relaxed) ? f : state;
  }
  // How many bytes the state and its count floor read alike (-1: none; INT32_MAX: no count).
  int32_t count_reach(int32_t state) {
    count_floor(state, 0);
    return row(state)[num_classes_ + 1].load(std::memory_order_relaxed);
  }

  // Shift canonical form of a state (see RepeatRegion): `state` is the same NFA-state set
  // with its region states moved `shift` copies back (shift 0: already canonical), and
  // `remaining` is how many bytes the original can read before its copies run out (each
  // byte advances at most one copy), so both behave alike on every path that long.
  struct Canon {
    int32_t state = -1;
    int32_t region = -1;  // -1: no region state in the set
    int32_t shift = 0;
    int32_t remaining = 0;
  };
  const Canon& canon(int32_t state) const { return state_(state).canon; }
  // The state whose region states are those of `state` moved `units` copies forward.
  int32_t shift_state(int32_t state, int32_t region, int32_t units);

 private:
  static constexpr int32_t kUnknown = kNotComputed;
  struct State {
    Canon canon;
    std::atomic<int8_t> extends{-1};  // can_extend(): -1 unknown, 0 no, 1 yes
    std::vector<int32_t> nfa_states;
    Counts counts;
    std::vector<int32_t> accepting;
    std::vector<int32_t> lexemes;
    int32_t accept_id = -1;
    bool stops = false;        // a lazy lexeme accepts here: no byte goes on (see ir_format.h)
    bool dead_filled = false;  // fill_dead has run (read and written under mu_)
  };
  State& state_(int32_t s) const { return const_cast<ChunkedArray<State>&>(states_)[s]; }
  // Transition rows live in chunks of kRowChunk states, apart from the State records, so a
  // walk touches only the rows (hot in cache) and one chunk pointer.

 public:
  // For hot loops: the row of state s is row_chunk(s >> kRowChunkBits) + (s & kRowChunkMask) * C,
  // C = row_stride().
  static constexpr int32_t kRowChunkBits = 10;
  static constexpr int32_t kMaxRowChunks = 1 << 14;
  static constexpr int32_t kRowChunkMask = (1 << kRowChunkBits) - 1;
  const std::unique_ptr<std::atomic<int32_t>[]>* row_chunks() const { return row_chunks_.get(); }

 private:
  std::atomic<int32_t>* row(int32_t s) const {
    return row_chunks_[s >> kRowChunkBits].get() + int64_t(s & ((1 << kRowChunkBits) - 1)) * stride_;
  }

  int32_t compute_next(int32_t state, uint8_t byte);
  // Stores kDead for every byte class that no edge of the state's NFA states reads (all of
  // them when a lazy lexeme stops there), in one pass over those edges: the first
  // compute_next of a state does it, so the walks never ask for a dead class again (caller
  // holds mu_).
  void fill_dead(int32_t state);
  int32_t compute_floor(int32_t state);
  // caller holds mu_; `counts` as in counts() (regions with states in the set only). The set
  // and counts are copied only when the state is new: compute_next passes its scratch.
  int32_t intern_state(const std::vector<int32_t>& nfa_states, const Counts& counts = {});
  // Applies the ticks and gates in a new NFA-state set (sorted, unique): `counts` holds each
  // region's count before them (from the source state, 0 for a region just entered). Ticks
  // add one (the units past hi are dropped), open gates (lo <= count) add their closures;
  // tick and gate states leave the set. On return `set` is sorted and unique and `counts`
  // lists the regions left in it.
  void settle(std::vector<int32_t>& set, Counts& counts);
  void compute_canon(int32_t id);  // caller holds mu_

  std::unique_ptr<Nfa> nfa_;
  uint8_t byte_class_[256];
  int32_t num_classes_ = 0;
  int32_t stride_ = 0;
  int32_t num_lexemes_;
  int64_t max_states_;
  int64_t max_entries_;  // limit on the NFA states held by all DFA states together
  int64_t entries_ = 0;
  std::unique_ptr<std::unique_ptr<std::atomic<int32_t>[]>[]> row_chunks_;
  std::mutex mu_;
  // Scratch of compute_next, settle and intern_state (used under mu_): a transition whose
  // successor is a known state (most of them) allocates nothing.
  std::vector<int32_t> next_, out_, ticks_, gates_, key_;
  std::vector<uint8_t> seen_, bumped_;
  Counts counts_, kept_;
  ChunkedArray<State> states_;
  std::atomic<int32_t> num_states_{0};
  std::unordered_map<std::vector<int32_t>, int32_t, VecHash> state_ids_;
  std::unordered_map<std::vector<int32_t>, int32_t, VecHash> accept_ids_;
  struct Lexset {
    std::vector<int32_t> lexemes;
    std::atomic<int32_t> start{kUnknown};
  };
  // (distinct parser expectations: a grammar needs a few hundred; the table of a larger
  // capacity was 128 kB to clear per grammar)
  static constexpr int64_t kMaxLexsets = int64_t(1) << 20;
  ChunkedArray<Lexset> lexsets_;
  std::unordered_map<std::vector<int32_t>, int32_t, VecHash> lexset_ids_;
};

}  // namespace decoder
