// shared_entries.h — free text's cold mask entries, shared between the grammars of one vocabulary.
//
// A mask cache entry (matcher.h, MaskCacheEntry: the tokens that stay inside the lexeme, and
// the exits with their parent lexer states) depends only on the lexer automaton reachable from
// its state. Grammars compiled per request (tool calls, structural tags) repeat the same free
// text lexeme (text until `<tool_call>`, text without some strings) with other lexemes around
// it, so each fresh grammar used to walk the same free-text states again (33-123 µs each).
//
// The key of a lexer state is the part of the NFA reachable from its NFA states, numbered in
// the order a breadth-first search meets them (the state's own NFA states first): per NFA
// state its lexeme and accepting lexeme (numbered by first appearance), whether that lexeme
// is lazy, and its byte edges with the closures they lead to. Equal keys mean the same
// automaton up to the numbering, so the entry's inside bits are equal and its exits' parents
// are the same NFA-state sets under the numbering: a hit maps them back through the new
// grammar's own numbering and interns them in its lexer. Exact by construction: the keys are
// compared whole (no hash is trusted). States that reach a counted region are not shared
// (their DFA states carry counts, which the NFA's edges do not show); nor are states of a
// repetition region (the caller's test: their entries hold the shifted twins' extra parts).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lexer.h"

namespace decoder {

// A shareable entry, in the key's numbering.
struct SharedEntry {
  std::vector<uint32_t> inside;
  std::vector<std::vector<int32_t>> parents;        // exit parents: NFA-state sets, local ids
  std::vector<std::pair<uint32_t, int32_t>> exits;  // (trie node, index into parents)
  int64_t bytes() const;
};

// The key of lexer state s (see above) into *key, and the NFA state of each local id into
// *order. False when s is not shared: no NFA state of an automaton lexeme that reads at least
// 64 bytes (free text), a counted region reachable, more than 16 lexemes or kMaxStates NFA
// states reachable.
bool shared_key(const Lexer& lx, int32_t s, std::vector<int32_t>* key, std::vector<int32_t>* order);

// Per vocabulary (held by its TokenTrie): key -> entry, up to kMaxBytes in all (then nothing
// more is stored; what is there stays, as the class slices do).
class SharedEntries {
 public:
  static constexpr int32_t kMaxStates = 1024;
  static constexpr int64_t kMaxBytes = int64_t(64) << 20;
  static size_t hash(const std::vector<int32_t>& key);  // (4 lanes: a key is 1-4k ints)
  // `h`: hash(key), computed once per key
  std::shared_ptr<const SharedEntry> find(const std::vector<int32_t>& key, size_t h) const;
  void put(std::vector<int32_t>&& key, size_t h, std::shared_ptr<const SharedEntry> entry);
  // Whether a key with this hash was offered before (remembers it if not): an entry is
  // stored at its key's second build, so a grammar whose free text is its own (a trigger
  // named per request) costs its key only, not a copy of its entry. A hash collision only
  // stores an entry earlier.
  bool seen_before(size_t h);
  int64_t bytes() const;
  int64_t hits() const { return hits_.load(std::memory_order_relaxed); }  // find()s that found one

 private:
  mutable std::atomic<int64_t> hits_{0};
  mutable std::mutex mu_;
  // by hash; the keys compared whole
  std::unordered_map<size_t, std::vector<std::pair<std::vector<int32_t>, std::shared_ptr<const SharedEntry>>>>
      map_;
  int64_t bytes_ = 0;
  std::unordered_set<size_t> seen_;  // hashes of keys built once (at most kMaxSeen)
  static constexpr size_t kMaxSeen = size_t(1) << 16;
};

}  // namespace decoder
