// matcher.h — the constraint state of one sequence, and the token mask it allows.
//
// CompiledGrammar binds a Grammar (lexemes + rules) to a TokenTrie (a vocabulary) and
// owns the per-lexer-state mask cache. It is immutable from the outside and safe to share
// between threads; Matchers are cheap and each belongs to one sequence (one thread at a
// time).
//
// Mask algorithm: one walk of the token trie. Going down a node feeds its byte to the
// lexer; a dead lexer state skips the whole subtree. The Earley parser is consulted only
// when a lexeme ends (the byte cannot extend it and it accepts), and the rows it pushes
// are popped on the way back up. Everything a token can do without ending the current
// lexeme depends on the lexer state alone, so that part of the walk is cached per lexer
// state (a bitmask of "tokens that stay inside" plus the list of trie nodes where the
// lexeme ends): a mask is a copy of the cached bits plus short walks below those nodes.
//
//   auto cg = std::make_shared<CompiledGrammar>(grammar, trie);
//   Matcher m(cg);
//   m.compute_mask(bits);          // bits: uint32[trie.mask_words()]
//   m.commit(token_id);            // false (no change) if the token is not allowed
//   m.rollback(1);                 // undo it
#pragma once
#include <array>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache_budget.h"
#include "distinct.h"
#include "earley.h"
#include "grammar.h"
#include "token_trie.h"

namespace decoder {

struct MaskCacheEntry {
  std::vector<uint32_t> inside;  // tokens whose bytes all stay inside the current lexeme
  struct Exit {
    uint32_t node;   // trie node whose byte cannot extend the lexeme
    int32_t parent;  // lexer state before that byte (it accepts some lexeme)
  };
  std::vector<Exit> exits;  // sorted by parent state
  // Only for states with repetition-region NFA states (shift canonical ones), so that
  // shifted states can reuse the walk down to kShallowDepth (see CompiledGrammar):
  std::vector<uint32_t> shallow_inside;  // `inside` restricted to tokens of <= kShallowDepth bytes
  std::vector<Exit> frontier;            // alive nodes at depth kShallowDepth + 1, with parents
  int32_t state = -1;                    // the lexer state it was built for (a count class's own)
};

// What the walks below a cache entry's exits allowed under some parser rows (the exit-walk
// memo, matcher_memo.cc): the token ids, or the whole mask after them when that is shorter.
struct ExitWalk {
  std::vector<int32_t> ids;
  std::vector<uint32_t> mask;
  size_t bytes() const { return (ids.size() + mask.size()) * 4 + 64; }
};

// Interned Earley rows (matcher_memo.cc): a row's id names its items, each as (dot, the id of
// its origin row, or 0 for the row itself), and its banned ignore lexeme; equal ids, equal
// parses from there on, whatever the rows' positions or matchers. Ids are never reused; when
// the table is full, new rows get none (-1).
class RowInterner {
 public:
  int32_t intern(const std::vector<int32_t>& key);
  int64_t bytes();
  static constexpr size_t kMaxInts = size_t(1) << 20;

 private:
  std::mutex mu_;
  std::unordered_map<std::vector<int32_t>, int32_t, VecHash> ids_;
  size_t ints_ = 0;
};

constexpr uint16_t kShallowDepth = 12;

// Special tokens as grammar terminals (see docs/optimizations.md, "Special-token
// terminals"). A special token has no text bytes; a grammar names one by a lexeme of its
// marker bytes: 0xFF (never in UTF-8 text) then its id in four 6-bit continuation bytes.
// Only the named ids can ever be allowed, only where the grammar's lexer takes their
// marker; ordinary tokens holding the byte 0xFF are never allowed by such a grammar, so
// the marker cannot be spelled with them.
constexpr uint8_t kSpecialMarker = 0xFF;
inline std::string special_marker_bytes(int32_t id) {
  std::string b(5, '\0');
  b[0] = static_cast<char>(kSpecialMarker);
  for (int i = 0; i < 4; ++i) b[1 + i] = static_cast<char>(0x80 | ((id >> (18 - 6 * i)) & 63));
  return b;
}

// Per-grammar extras beyond the words: named special tokens, and token budgets on lexemes
// (after `max_tokens` tokens inside the lexeme, the mask forces its shortest completion).
struct GrammarExtras {
  std::vector<int32_t> special_ids;
  std::vector<std::string> special_bytes;            // marker bytes, by position in special_ids
  std::vector<int32_t> marker_tokens;                // ordinary tokens holding the marker byte
  std::vector<std::pair<int32_t, int32_t>> budgets;  // (lexeme, max tokens)
  std::vector<uint8_t> distinct;                     // DistinctRole by lexeme (empty: no distinct items)
  std::vector<uint8_t> finite_items;                 // by lexeme: a kDistinctFiniteItem (empty: none)
  const std::vector<int32_t>* two_quote_tokens = nullptr;  // with finite items: TokenTrie::two_quote_tokens
  const std::vector<int32_t>* quote_tokens = nullptr;      // with distinct items: TokenTrie::quote_tokens
  const std::vector<int32_t>* bracket_tokens = nullptr;    // with value lists: TokenTrie::bracket_tokens
  bool empty() const { return special_ids.empty() && budgets.empty() && distinct.empty(); }
};

class CompiledGrammar {
 public:
  CompiledGrammar(std::shared_ptr<Grammar> grammar, std::shared_ptr<const TokenTrie> trie)
      : grammar_(std::move(grammar)), trie_(std::move(trie)) {
    MaskCacheBudget::instance().enroll(this);
  }
  ~CompiledGrammar();
  CompiledGrammar(const CompiledGrammar&) = delete;
  CompiledGrammar& operator=(const CompiledGrammar&) = delete;
  Grammar& grammar() const { return *grammar_; }
  const TokenTrie& trie() const { return *trie_; }
  // Named special tokens, lexeme token budgets and distinct-item roles (DistinctRole by
  // lexeme: (lexeme, role) pairs); set once, before any Matcher is made.
  void set_extras(const std::vector<int32_t>& special_ids,
                  const std::vector<std::pair<int32_t, int32_t>>& budgets,
                  const std::vector<std::pair<int32_t, int32_t>>& distinct = {});
  const GrammarExtras& extras() const { return extras_; }
  // Cached inside-bits and exits of a lexer state (built on first use; thread-safe).
  // *built (if given) is set to whether this call had to build the entry (a cold mask).
  std::shared_ptr<const MaskCacheEntry> cache_entry(int32_t lexer_state, bool* built = nullptr);
  size_t cache_bytes() const { return cache_bytes_; }
  // The exit-walk memo shared by this grammar's matchers (matcher_memo.cc): what the walks
  // below the exits of the entry built for lexer state `state` allowed under the parser rows of
  // interned id `row`. Counted in the cache's bytes; cleared whenever the budget evicts.
  std::shared_ptr<const ExitWalk> find_exit_walk(int32_t state, int32_t row);
  void store_exit_walk(int32_t state, int32_t row, std::shared_ptr<const ExitWalk> w);
  RowInterner& rows() { return rows_; }
  // Approximate heap bytes held by this compiled grammar: the lexer automaton (grows as
  // DFA states are built) and the mask cache (the trie is the vocabulary's, shared).
  int64_t memory_bytes();
  // For MaskCacheBudget::maybe_evict: (last use, state) of every cached entry, and the
  // eviction of one (if it was not used since). Lock the grammar's cache mutex.
  struct CacheVictim {
    uint64_t used;
    CompiledGrammar* grammar;
    int32_t state;
  };
  void collect_cache(std::vector<CacheVictim>& out);
  int64_t evict_cache(int32_t state, uint64_t used);

 private:
  std::shared_ptr<const MaskCacheEntry> lookup(int32_t s);
  std::shared_ptr<const MaskCacheEntry> store(int32_t s, std::shared_ptr<const MaskCacheEntry> e);
  // Lexer-only walk of trie nodes [first, last) whose parent is in state `parent`.
  // Lexer-only walk of the whole trie from s (on two threads when that pays).
  void full_walk(int32_t s, MaskCacheEntry& e, bool record) const;
  // The cold walk from s, root child by root child: where the first byte leads into a
  // state that loops on text, the text-only tokens below it come from the trie
  // (TokenTrie::text_tokens_from) and only the subtrees below the text frontier are walked.
  void root_walk(int32_t s, MaskCacheEntry& e) const;
  // The state every text byte (TokenTrie::is_text_byte) leads to from s, kDead, or
  // Lexer::kNotComputed when text bytes do not all lead to the same state. s "loops on
  // text" when it is s itself.
  int32_t text_step(int32_t s) const;
  // The cold walk from a state where text bytes only count (a string of bounded length):
  // text-only tokens up to TokenTrie::kTextLenCap bytes come from the trie by length. False
  // (nothing done) when s is not such a state.
  bool chain_walk(int32_t s, MaskCacheEntry& e) const;
  // The cold walk from a state that is alive after every string of the trie's UTF-8 text class
  // (class_alive): the class tokens are allowed as a whole (TokenTrie::class_tokens), and only
  // the class skeleton is visited — ancestors of the class frontier stepped, frontier subtrees
  // walked. False (nothing done) when s is not such a state.
  bool class_walk(int32_t s, MaskCacheEntry& e);
  // Whether every string of the UTF-8 text class keeps the lexer alive from s: some lexeme's
  // part of s (its NFA states) stays non-empty on every class string (part_alive). Parts are
  // remembered by their NFA-state set, so the key trie of an object is explored once per
  // grammar, not once per key position (each position is another DFA state, but the same
  // extra-key part). False when the exploration exceeds its budget.
  // `lead`: the class (TokenTrie::ClassSlice::lead): the text class or another.
  bool class_alive(int32_t s, int bound, size_t budget, const uint64_t* lead);
  // A counterexample before any exploration: the depth (at most `bound`) at which a string of
  // one repeated ASCII class byte kills s (a counted string past its length, a format or a
  // pattern that refuses the byte there), or INT32_MAX when none of the probe bytes does.
  // A death is a proof that class_alive is false (the string is a class string of at most
  // `bound` bytes); no death proves nothing. The probes stop at a state that loops on the byte.
  int probe_dies(int32_t s, int bound, const uint64_t* lead);
  bool part_alive(const std::vector<int32_t>& nfa_states, int bound, size_t budget, const uint64_t* lead);
  // The same question asked of the DFA first, for states whose class strings lead to a few
  // (lexer state, class DFA state) pairs (free text, plain strings): the pairs reachable from
  // (s, 0) by class bytes, depth first. kLoopAlive: they close with none dead (alive on
  // every class string, of any length); kLoopDies: a class string of *dies_at bytes (not
  // always the shortest) kills s; kLoopUnknown: more than kMaxLoopPairs pairs (keys, counted strings):
  // part_alive decides. Exact either way, and no exploration of NFA sets.
  enum LoopAnswer { kLoopDies = 0, kLoopAlive = 1, kLoopUnknown = 2 };
  static constexpr size_t kMaxLoopPairs = 32;
  static constexpr int kMaxProbeDepth = 24;  // (probe_dies: a repeated byte, at most this deep)
  // An own class that leaves out at least this many ASCII text bytes: class_walk asks the text
  // class first (its skeleton is a small part of the trie, the own class's most of it).
  static constexpr int kWideOwnGap = 8;
  // *one_boundary (if given, on kLoopAlive): (s, 0) is the only pair at a character boundary,
  // so every class string that ends at one leads from s back to s.
  LoopAnswer loop_alive(int32_t s, const uint64_t* lead, int* dies_at, bool* one_boundary = nullptr);
  // The walk of a class slice's boundary frontier from s (s: loop_alive's one boundary pair):
  // the slice's suffix trie walked once from s stands for every boundary frontier subtree.
  void suffix_walk(int32_t s, const TokenTrie::ClassSlice& slice, MaskCacheEntry& e) const;
  // Whether s loops on at least 64 ASCII bytes but not on every text byte (free text, strings
  // with a negated-class pattern; not JSON string content, which the text class serves, nor key
  // positions): where the own class goes first and loop_alive is worth asking.
  bool loopy(int32_t s);
  // The class a state treats alike (the ASCII bytes it loops on, or those its usual successor
  // loops on, and the UTF-8 lead bytes that act as the others of their length there): the
  // class to try when the text class does not fit (class_walk). False: none worth a slice.
  bool own_class(int32_t s, uint64_t lead[4]);
  // The cold walk from a state that agrees with another, r, on most first bytes (a partial
  // trigger in free text and the text's own state: every byte but the trigger's next one
  // leads where it leads from r): r's entry (usually a class walk) serves the root children
  // where next(s, b) == next(r, b) (the same subtree walk below them), and only the others
  // are walked. False (nothing done) when no such r agrees on kMinShared first bytes.
  bool share_walk(int32_t s, MaskCacheEntry& e);
  // The cold walk of a canonical repetition state (Lexer::Canon, shift 0) that would otherwise
  // walk the whole trie with a record for its shifted twins (a word-count pattern under
  // maxLength: `^(?:\S+\s+){0,19}\S+$`): when s is alive on every string of its killer class
  // (kill_class) of at most kShallowDepth bytes, that class's slice of the same bound is taken
  // and its skeleton walked with the record (shallow_inside, frontier at kShallowDepth + 1), so
  // the shifted twins still reuse it. False (nothing done) otherwise.
  bool record_class_walk(int32_t s, MaskCacheEntry& e);
  // The text class less the characters that kill s at once: the ASCII text bytes s refuses,
  // and the UTF-8 lead bytes of which some well-formed character (every continuation tried,
  // one byte per lexer byte class) leads s to kDead (U+0085 and U+FEFF for `\s`/`\S` read as
  // ECMA-262 and Python agree). False: the class would leave out more than a few bytes.
  bool kill_class(int32_t s, uint64_t lead[4]);
  // The cold walk of a repetition state near the end of its copies (a word-count pattern's last
  // words: no record of section 5 applies and every 16-byte class dies on `a a a a `): the class
  // of the characters its usual successor keeps its NFA states on (a word's `\S` characters,
  // the killers and the `\s` ones left out: loop_class), cut at kShortClass bytes, when s is
  // alive on all of it; a large root child outside the class (the space) is walked as that
  // class's slice below it (TokenTrie::class_slice's `under`) from the state after its byte
  // when that state is alive on the class too (one word start, then a word). False (nothing
  // done) otherwise.
  bool split_class_walk(int32_t s, MaskCacheEntry& e);
  // The class of loop-modulo-count characters of w: those after which w's NFA states are w's
  // again (counts aside). False: fewer than 64 ASCII bytes.
  bool loop_class(int32_t w, uint64_t lead[4]);
  // Walks a slice's skeleton from st[base] (base: the depth above the slice's strings), with
  // count floors as lexer_walk; root-level frontier nodes for which `split` returns true are
  // left to it.
  template <class Split>
  void skeleton_walk(const TokenTrie::ClassSlice& slice, std::vector<int32_t>& st, MaskCacheEntry& e,
                     const Split& split);
  // Whether s is where share_walk goes first: s loops on few ASCII bytes, and the state most of
  // them lead to is loopy() with a class of its own (free text after a partial trigger, or at
  // its start; not a key position, whose usual successor loops on every text byte).
  bool partial_trigger(int32_t s);
  void sort_exits(MaskCacheEntry& e) const;  // the order compute_mask reads exits in
  // Offers a built entry to the vocabulary's shared entries (shared_entries.h) under `key`,
  // its state's key (`h` its hash, `order`: the NFA state of each local id).
  void share_entry(const MaskCacheEntry& e, std::vector<int32_t>& key, size_t h,
                   const std::vector<int32_t>& order) const;
  // The state whose cache entry serves s: s itself, or for a state with unit counts
  // (Lexer::counts) far enough from their bounds, the representative of its count class.
  int32_t count_class(int32_t s);
  // Whether every count of s is far enough from its bounds to be in a class (count_class).
  bool counts_far(int32_t s) const;
  std::unordered_map<int32_t, int32_t> count_class_;  // count_class memo (under mu_)
  // The cold walk from a state s with unit counts near a bound, from the entry of a state with
  // the same NFA states and other counts (a count twin): every string of at most K bytes does
  // the same from both (K: how far the nearer of the two counts is from its bounds), so the
  // twin's inside bits and exits within depth K are s's, and only the nodes deeper than K are
  // walked from s. False (nothing done) when no twin is cached or K is under kMinTwinDepth.
  bool twin_walk(int32_t s, MaskCacheEntry& e);
  void add_count_twin(int32_t s);  // s's entry is cached: a twin for later counts
  // Bytes every string of which does the same from two count twins (-1: not twins that way).
  int twin_depth(int32_t s, int32_t twin) const;
  static constexpr int kMinTwinDepth = 16;
  static constexpr size_t kMaxTwins = 64;  // twins remembered per NFA-state set
  // count twins by NFA-state set (under mu_)
  std::unordered_map<std::vector<int32_t>, std::vector<int32_t>, VecHash> count_twins_;
  template <bool kRecordShallow>
  void lexer_walk(uint32_t first, uint32_t last, int32_t parent, MaskCacheEntry& e) const;
  // kShift: each state of a repetition region (Lexer::Canon) is replaced by its canonical twin
  // when the two read the node's subtree alike (region_walk's walks only).
  template <bool kRecordShallow, bool kFloor, bool kShift = false>
  void lexer_walk_as(uint32_t first, uint32_t last, int32_t parent, MaskCacheEntry& e) const;
  // The cold walk of a state of a repetition region (a string under maxLength or minLength,
  // unrolled into copies) whose copies loop on the text class modulo their shift: alive on
  // every text-class string of up to B bytes (shift_alive), so the text class's tokens of up
  // to B bytes are allowed as a whole, its skeleton is walked with canonical twins for states
  // (no DFA state per copy), and only the class nodes deeper than B are walked from s. False
  // (nothing done) where it does not apply (B under kShortClass).
  bool region_walk(int32_t s, MaskCacheEntry& e);
  // B such that s is alive on every string of the class `lead` of up to B bytes, or -1 (no
  // region state met, too many pairs, or a death within kShortClass bytes): a search over
  // pairs (state, class DFA state), a successor with rem >= kShortClass replaced by its
  // canonical twin, the others (a string's start, the required copies before the optional
  // ones, a run's last copies) kept as they are, and B by shortest paths (see matcher.cc).
  int shift_alive(int32_t s, const uint64_t* lead);
  std::shared_ptr<Grammar> grammar_;
  std::shared_ptr<const TokenTrie> trie_;
  GrammarExtras extras_;
  std::mutex mu_;
  std::mutex univ_mu_;  // guards set_univ_
  struct PartMemo {
    int alive_to = -1;           // alive on every class string of at most this many bytes
    int dies_at = INT32_MAX;     // some class string of this many bytes kills it
    int too_big_at = INT32_MAX;  // the exploration to this depth exceeded its budget
  };
  std::unordered_map<std::vector<int32_t>, PartMemo, VecHash> set_univ_;  // part_alive memo
  // the same for the other classes (TokenTrie::class_slice), by their boundary bytes
  std::map<std::array<uint64_t, 4>, std::unordered_map<std::vector<int32_t>, PartMemo, VecHash>> class_univ_;
  // part_alive's scratch (under univ_mu_), kept between calls: the explored sets in one arena
  // (set i is arena[off[i] .. off[i + 1])) with an open-addressed table of their indices, and
  // per NFA state the stamp of the set expansion that last numbered it as an edge target
  struct PartScratch {
    std::vector<int32_t> arena;
    std::vector<uint32_t> off, depth, table;
    std::vector<uint64_t> hash;
    std::vector<uint32_t> stamp, dense;
    uint32_t epoch = 0;
  };
  PartScratch part_scratch_;
  struct CacheSlot {
    std::shared_ptr<const MaskCacheEntry> entry;
    size_t bytes;
    uint64_t used;  // MaskCacheBudget tick of the last hit
  };
  std::unordered_map<int32_t, CacheSlot> cache_;
  size_t cache_bytes_ = 0;
  // exit-walk memo (under mu_): (state << 32 | row id) -> walk; its bytes (in cache_bytes_)
  std::unordered_map<uint64_t, std::shared_ptr<const ExitWalk>> exit_walks_;
  size_t exit_walk_bytes_ = 0;
  int64_t clear_exit_walks();  // (under mu_) the bytes it freed
  RowInterner rows_;
};

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<CompiledGrammar> cg);
  Matcher(const Matcher&) = default;  // fork

  // Writes the allowed-token bitmask (mask_words() words; bit i of word i/32 = token i).
  // Invariant: bit i is set exactly when commit_token(i) would succeed. After EOS is
  // committed (terminated) only EOS is allowed, and committing it again changes nothing.
  void compute_mask(uint32_t* out);
  bool commit_token(int32_t token);
  bool commit_bytes(const uint8_t* data, size_t n);  // one step that rolls back as a unit
  void rollback(size_t n_steps);
  void reset();
  bool is_accepting();  // the output so far is a complete sentence
  bool is_terminated() const { return terminated_; }
  size_t num_steps() const { return history_.size(); }
  int64_t min_completion_bytes();  // -1 if no completion exists
  bool is_allowed(int32_t token);  // would commit_token(token) succeed?
  // The bytes every continuation starts with (at most max_len): empty when the output may
  // end here or two different next bytes are possible. The matcher is left unchanged.
  std::string forced_bytes(size_t max_len);
  const CompiledGrammar& compiled() const { return *cg_; }
  // Work done by the last compute_mask: trie nodes walked below lexeme ends, and the
  // number of such lexeme-end nodes (exits) taken from the cache entry.
  uint64_t last_walk_nodes() const { return walk_nodes_; }
  uint64_t last_exits() const { return exits_; }
  // Whether the last compute_mask built its lexer state's cache entry (the first mask in
  // that state for this compiled grammar: a "cold" mask) rather than finding it cached.
  bool last_cold() const { return cold_; }

 private:
  void compute_mask_exits(const std::vector<MaskCacheEntry::Exit>& exits, uint32_t* out);
  // The walks below a cache entry's exits, memoised (see docs/optimizations.md, "Exit-walk
  // memo"): what they allow depends only on the entry (its exits) and on the parser's rows,
  // and the top row's serial names every row of the stack (a serial is never reused within a
  // parser's history, and rows below a live row cannot change while it lives). Inside one
  // string (or any lexeme) no row is pushed, so every mask after the first finds its walks
  // here. Per matcher (no shared state); a fork copies the memos with the parser.
  // Across positions and matchers, the grammar's memo (CompiledGrammar::find_exit_walk) is
  // keyed by the interned id of the top row instead (RowInterner: the same parse from there).
  struct ExitMemo {
    std::shared_ptr<const MaskCacheEntry> entry;  // (held: its address cannot be reused)
    uint64_t serial = 0;
    std::shared_ptr<const ExitWalk> walk;
  };
  static constexpr size_t kExitMemos = 4;
  // Fills out (entry->inside plus the walks below its exits) from a memo; false: none.
  bool replay_exit_memo(const std::shared_ptr<const MaskCacheEntry>& entry, uint32_t* out);
  void store_exit_memo(const std::shared_ptr<const MaskCacheEntry>& entry, const uint32_t* out);
  void remember_exit_walk(const std::shared_ptr<const MaskCacheEntry>& entry,
                          std::shared_ptr<const ExitWalk> walk);
  // The interned id of the parser's top row (-1: the interner is full); row_ids_ caches the
  // ids of the rows below by (serial, id).
  int32_t top_row_id();
  std::vector<std::pair<uint64_t, int32_t>> row_ids_;
  std::vector<uint64_t> pairs_;
  std::vector<int32_t> row_key_;
  std::array<ExitMemo, kExitMemos> memo_;
  size_t memo_next_ = 0;
  std::vector<int32_t> memo_ids_;  // walk<false> appends the tokens it allows here when recording
  bool recording_ = false;
  struct Step {
    uint32_t rows;
    int32_t lex_state;
    bool fresh;
    bool terminated;
    int32_t lexeme_start;
    // distinct items (see below): sizes of bytes_, seen_ and scopes_, lex_begin_ and scope_
    uint32_t nbytes = 0, lex_begin = 0, nseen = 0, nscopes = 0, scope = 0, live_items = 0;
  };
  Step snapshot(bool terminated) const;
  void restore(const Step& s);
  // Extras (GrammarExtras): the special-token bits and the budget filter of compute_mask.
  void apply_extras(uint32_t* out, const MaskCacheEntry& entry);
  int32_t special_index(int32_t token) const;
  // The budgeted lexeme whose budget is spent in the current state (-1: none), and whether
  // commit_token may take `token` then (the same rule as the mask's budget filter).
  int32_t spent_budget_lexeme() const;
  bool budget_allows(int32_t token);
  // The shortest bytes that complete budgeted lexeme `lx` from the current lexer state.
  std::string completion_of(int32_t lx);
  // Feeds one byte from lexer state s; may push parser rows. Returns the new state or kDead.
  int32_t step(int32_t s, uint8_t b);
  // Ends the lexeme that lexer state s accepts: pushes the parser row(s). False if none.
  // drop_items: without the distinct item lexemes (the item would repeat an earlier one).
  bool end_lexeme(int32_t s, bool drop_items = false);
  // Distinct items (matcher_distinct.cc). The role of the lexemes state s accepts: whether
  // some is an item (kSome) or all are (kAll), and whether one opens (closes) a scope.
  enum ItemClose : uint8_t { kNoItem = 0, kSome = 1, kAll = 2 };
  ItemClose item_close(int32_t s) const;
  bool opens_list(int32_t s) const;
  bool closes_list(int32_t s) const;
  // Whether committed scope `sc` holds an item of value v.
  bool seen_in_scope(uint32_t sc, const std::string& v) const;
  bool live_item(int32_t s) const;  // some item lexeme is live in s
  // Ends the current lexeme of the committed bytes (lexer state s); an item equal to an
  // earlier one of its scope is not scanned (*dup), and with `record` a scanned item, opener
  // or closer is recorded in seen_/scopes_/scope_.
  bool end_committed(int32_t s, bool record, bool* dup = nullptr);
  // Before the exits of a mask: clears the tokens that end exactly where an item closes
  // equal to an earlier one, and lists those closing trie nodes (dup_nodes_, sorted).
  void find_duplicate_closes(uint32_t* out);
  bool under_dup_node(uint32_t node) const;  // node's parent is in dup_nodes_
  void compute_mask_exits_distinct(const std::vector<MaskCacheEntry::Exit>& exits, uint32_t* out);
  // walk<true>'s step at depth d (trie byte path_[d - 1], lexer state q after it; `ended`:
  // the lexeme of state `prev` ended before it): the items and scopes of dframes_[d]. False:
  // the byte closes an item equal to an earlier one of its scope (skip the subtree).
  bool distinct_step(uint16_t d, bool ended, int32_t prev, int32_t q);
  struct DistinctFrame;
  bool seen_in_walk(const std::string& v, const DistinctFrame& f);
  bool can_end();
  bool feed(const uint8_t* data, size_t n);
  // The trie walk below a lexeme end: nodes [first, last), whose parent is in lexer state
  // parent_state. kDistinct: also tracks the items closed inside the token (distinct_step).
  template <bool kDistinct>
  void walk(uint32_t first, uint32_t last, int32_t parent_state, uint32_t* out);
  void set_token_bits(uint32_t node, uint32_t* out) const;

  std::shared_ptr<CompiledGrammar> cg_;
  const TokenTrie* trie_;
  Grammar* g_;
  Lexer* lexer_;
  EarleyParser parser_;
  int32_t lex_state_;
  bool fresh_ = true;  // lex_state_ is the start state of the top row (no bytes yet)
  bool terminated_ = false;
  int32_t lexeme_start_ = -1;              // history index of the step that began the current lexeme
  const GrammarExtras* extras_ = nullptr;  // null when the grammar has none
  std::vector<Step> history_;
  struct WalkFrame {
    int32_t state;                          // lexer state after this node's byte
    const std::atomic<int32_t>* trans;      // its transition row
    uint32_t rows;                          // parser rows after this node's byte
    int32_t end_start;                      // lexer start state after ending its lexeme
    const std::atomic<int32_t>* end_trans;  // (kNotTried / kDead before / if impossible)
  };
  std::vector<WalkFrame> frames_;
  std::vector<int32_t> scratch_;
  // Distinct items, only when the grammar has some (extras().distinct): the committed bytes,
  // where the current lexeme began in them, the decoded values of the items closed so far
  // (seen_, with their scopes in seen_scope_), every scope opened so far (scopes_: its
  // parent, and seen_.size() when it opened; scope 0 is the root) and the innermost open
  // one. All append-only between rollbacks, so a Step restores them by sizes.
  bool distinct_ = false;
  std::string bytes_;
  uint32_t lex_begin_ = 0;
  std::vector<std::string> seen_;
  std::vector<uint32_t> seen_scope_;
  struct Scope {
    uint32_t parent;
    uint32_t first;       // seen_ index of its first possible item
    uint32_t begin = 0;   // bytes_ index of its opening bracket
    bool values = false;  // a value list (kDistinctValueList): its child scopes are its items
  };
  std::vector<Scope> scopes_;
  uint32_t scope_ = 0;
  // Items of scope_ and its ancestors. None: a token can close a repeat only by closing two
  // equal items itself, which takes three '"' bytes (GrammarExtras::quote_tokens), so the
  // mask is the plain one with those few tokens checked by commit (compute_mask).
  uint32_t live_items_ = 0;
  uint64_t seen_gen_ = 0;  // bumped whenever seen_ or scope_ changes
  // find_duplicate_closes: the items of scope_ sorted (seen_ indices), for the seen_gen_ it
  // was made at
  std::vector<uint32_t> sorted_;
  uint64_t sorted_gen_ = ~uint64_t(0);
  // walk_distinct's per-depth state: where the current lexeme began in path_, the items
  // closed inside the token (walk_vals_[0, nvals), their scopes in walk_val_scope_), the
  // scopes opened inside the token (walk_scopes_[0, nscopes): their parents; such a scope's
  // id is scopes_.size() + its index), the innermost open scope, and whether the lexeme
  // closed as a duplicate.
  struct DistinctFrame {
    uint16_t lex_start;
    bool dup;
    uint32_t nvals;
    uint32_t nscopes;
    uint32_t scope;
  };
  std::vector<DistinctFrame> dframes_;
  std::string path_;                    // bytes of the trie path being walked
  std::vector<std::string> close_val_;  // by depth: the value of the item closed there
  std::vector<std::string> walk_vals_;
  std::vector<uint32_t> walk_val_scope_;
  std::vector<uint32_t> walk_scopes_;
  // The scope a lexeme ending in lexer state s leads to from scope `sc` of frame f (an
  // opener pushes a walk scope: walk_scopes_ is cut to f.nscopes first).
  // `begin`: where a scope it opens begins (path_ index of its bracket).
  uint32_t scope_after(int32_t s, const DistinctFrame& f, DistinctFrame& nd, uint32_t begin);
  // Value lists (kDistinctValueList; distinct.h): whether the grammar has one, the walk
  // scopes' brackets (path_ index) and kinds, and, per mask, whether closing scope_ closes an
  // item of a value list (closer_item_) equal to an earlier one (closer_dup_), its value.
  bool has_value_lists_ = false;
  std::vector<uint32_t> walk_scope_begin_;
  std::vector<uint8_t> walk_scope_values_;
  bool closer_item_ = false, closer_dup_ = false;
  std::string closer_val_;
  bool opens_value_list(int32_t s) const;
  // The value list whose item scope `sc` of frame f is (its scope id), or -1: none.
  int64_t list_of(uint32_t sc) const;
  // The canonical value of scope sc, closed by the byte at path_[d - 1] (after committed bytes).
  std::string scope_value(uint32_t sc, uint16_t d);
  // Before the exits of a mask (value lists): closer_item_/closer_dup_/closer_val_, and the
  // tokens that end on a closer of a repeated item cleared.
  void find_duplicate_closer(uint32_t* out);
  void fill_path(uint32_t node);  // path_[0, depth(node) - 1): the bytes of node's ancestors
  // Dead key prefixes (matcher_dead_keys.cc): with finite items, a key prefix whose every
  // completion (decoded, as lexeme lx accepts it) is a key already used in its scope is
  // refused like a repeat: by commit (feed), by the mask from the committed prefix
  // (find_duplicate_closes: the tokens below a dead trie node, dead_nodes_, sorted and
  // disjoint) and inside a token (distinct_step).
  bool has_finite_items_ = false;
  std::vector<int8_t> finite_live_;  // by lexer state: some live lexeme is a finite item (-1: unknown)
  std::vector<int16_t> class_rep_;   // by byte class: a byte of it other than '"' and '\\' (-1: none)
  std::vector<uint16_t> class_n_;    // by byte class: how many such bytes it has
  struct PairHash {
    size_t operator()(const std::pair<uint64_t, uint64_t>& k) const {
      return std::hash<uint64_t>()(k.first * 0x9E3779B97F4A7C15ull ^ k.second);
    }
  };
  std::unordered_map<std::pair<uint64_t, uint64_t>, uint64_t, PairHash> key_counts_;  // key_completions' memo
  std::vector<uint32_t> dead_nodes_;
  std::vector<const std::string*> used_scratch_;
  bool finite_live(int32_t s);
  // How many distinct decoded strings complete finite item lx from lexer state s, the string
  // decoder being at d (the lexeme's bytes so far): saturated at 2^62 (also for infinitely many).
  uint64_t key_completions(int32_t lx, int32_t s, const JsonStringDecoder& d);
  // Whether lexeme lx accepts the key whose value is the prefix decoded so far, then `rest`.
  bool key_reaches(int32_t lx, int32_t s, const JsonStringDecoder& d, std::string_view rest);
  // Whether lexer state s inside a key (decoder d, decoded prefix of `plen` bytes) is dead:
  // every live lexeme is a finite item and every completion is in `used`, the used keys of
  // its scope that start with that prefix.
  bool dead_key(int32_t s, const JsonStringDecoder& d, size_t plen,
                const std::vector<const std::string*>& used);
  // A quick necessary condition: every live lexeme is a finite item with at most `bound`
  // completions from s (no list of the used keys needed).
  bool may_run_out(int32_t s, const JsonStringDecoder& d, size_t bound);
  // The same for a key whose raw bytes so far are `raw`, with the used keys of scope `sc`
  // of walk frame f (nullptr: the committed scope_).
  bool dead_key_raw(int32_t s, std::string_view raw, const DistinctFrame* f);
  bool under_dead_node(uint32_t node) const;
  const std::string* walk_base_item();  // the item the exit's parent path closed (or null)
  // the exit whose ancestors' bytes path_ still lacks (-1: none): filled only when an item's
  // value needs them (scope_value), which few walks do
  int64_t path_pending_ = -1;
  int64_t base_item_node_ = -1;  // an exit whose parent path closed an item not yet decoded
  std::string base_item_;
  std::vector<uint32_t> dup_nodes_;
  uint64_t walk_nodes_ = 0, exits_ = 0;
  bool cold_ = false;
};

// Fills rows of a [n, words] bitmask for n matchers on up to `threads` threads
// (a null matcher leaves its row all ones). The caller must not hold the GIL-protected
// objects' locks; matchers must be distinct.
void fill_masks(Matcher* const* matchers, size_t n, uint32_t* out, size_t row_stride_words, int threads);

}  // namespace decoder
