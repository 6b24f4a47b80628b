// token_trie.h — all token byte strings of a vocabulary in one flat trie.
//
// Nodes are stored in depth-first order; node i's subtree is [i, subtree_end[i]).
// A mask walk visits nodes in order and, when the constraint rejects a node's byte,
// jumps to subtree_end to skip every token that starts with that prefix. Node 0 is
// the root (no byte, depth 0). Tokens with no bytes (special/control tokens) and
// padding ids are not in the trie: no walk can ever allow them.
//
//   TokenTrie trie(token_bytes, /*vocab width*/ 151936, eos_ids, excluded_ids);
//   for (uint32_t i = 1; i < trie.size(); ++i) ... trie.byte(i), trie.depth(i) ...
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared_entries.h"

namespace decoder {

class TokenTrie {
 public:
  // Token id i has the bytes blob[offsets[i], offsets[i+1]); ids >= offsets.size()-1 up to
  // mask_width are padding. Excluded ids (special tokens) are left out of the trie. EOS ids
  // are kept aside: the matcher allows them exactly when the grammar accepts.
  TokenTrie(std::string blob, std::vector<uint32_t> offsets, int32_t mask_width,
            const std::vector<int32_t>& eos_ids, const std::vector<int32_t>& excluded_ids);

  uint32_t size() const { return static_cast<uint32_t>(nodes_.size()); }
  uint8_t byte(uint32_t n) const { return nodes_[n].byte; }
  uint16_t depth(uint32_t n) const { return nodes_[n].depth; }
  uint32_t subtree_end(uint32_t n) const { return nodes_[n].end; }
  // token ids whose bytes end exactly at node n (most nodes have none, few have several)
  const int32_t* tokens_begin(uint32_t n) const { return ids_.data() + nodes_[n].tok_begin; }
  const int32_t* tokens_end(uint32_t n) const {
    return ids_.data() + nodes_[n].tok_begin + nodes_[n].tok_count;
  }
  bool has_tokens(uint32_t n) const { return nodes_[n].tok_count != 0; }

  // One 16-byte record per node, so a walk touches one cache line per node it visits.
  struct Node {
    uint32_t end;        // one past the last node of this subtree
    uint32_t tok_begin;  // into ids()
    uint16_t depth;
    uint8_t byte;
    uint8_t tok_count;  // tokens with exactly these bytes (duplicates are rare)
    uint16_t deepest;   // the depth of the deepest node of this subtree (the longest token below)
    uint16_t pad;
  };
  // Raw access for hot loops.
  const Node* nodes() const { return nodes_.data(); }
  const int32_t* ids() const { return ids_.data(); }

  int32_t mask_width() const { return mask_width_; }  // bits in a mask row (model vocab)
  int32_t mask_words() const { return (mask_width_ + 31) / 32; }
  int32_t vocab_size() const { return static_cast<int32_t>(offsets_.size()) - 1; }
  uint16_t max_depth() const { return max_depth_; }
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }
  bool is_eos(int32_t id) const;
  // The bytes of a token id (empty for padding ids).
  std::string_view token_bytes(int32_t id) const;
  bool is_excluded(int32_t id) const { return id < 0 || id >= vocab_size() || excluded_[id]; }
  // Token ids (not excluded) with three or more '"' bytes: the only ones that can close two
  // JSON strings themselves (GrammarExtras::quote_tokens), found once per vocabulary.
  const std::vector<int32_t>& quote_tokens() const { return quote_tokens_; }
  // Token ids (not excluded) with two or more '"' bytes: with finite items, the only ones
  // that can close one item and begin another that runs out (GrammarExtras::two_quote_tokens).
  const std::vector<int32_t>& two_quote_tokens() const { return two_quote_tokens_; }
  // Token ids (not excluded) with two or more '}'/']' bytes: the only ones that can close two
  // items of a value list themselves (GrammarExtras::bracket_tokens).
  const std::vector<int32_t>& bracket_tokens() const { return bracket_tokens_; }

  // "Text" bytes: printable ASCII except '"' and '\\'. Inside a JSON string (and any lexer
  // state that loops on all of them) a token made of text bytes only is always allowed and
  // leaves the state unchanged, so a walk from such a state can take text_tokens() as is
  // and walk only below the text frontier (text_frontier_in): the nodes whose byte is not text but whose
  // ancestors' bytes all are (in node order).
  static bool is_text_byte(uint8_t b) { return b >= 0x20 && b <= 0x7E && b != '"' && b != '\\'; }
  const std::vector<uint32_t>& text_tokens() const { return text_tokens_; }
  // text_tokens() restricted to tokens whose first byte is b (a text byte), mask_words()
  // words: a walk whose first byte b leads into a text-looping state takes them as is.
  const uint32_t* text_tokens_from(uint8_t b) const {
    return text_by_first_.data() + size_t(text_slot_[b]) * mask_words();
  }
  // Text-only tokens by length (1..kTextLenCap), and the nodes a walk must still visit when
  // it takes those from the trie: frontier nodes down to depth kTextLenCap + 1 and text
  // nodes at depth kTextLenCap + 1 (whose subtrees are walked whole), in node order.
  static constexpr int kTextLenCap = 16;
  const uint32_t* text_tokens_of_len(int len) const {
    return text_by_len_.data() + size_t(len - 1) * mask_words();
  }
  const std::vector<uint32_t>& text_capped_frontier() const { return text_capped_; }
  // The text frontier nodes inside [first, last) (a contiguous slice: frontier is sorted).
  std::pair<const uint32_t*, const uint32_t*> text_frontier_in(uint32_t first, uint32_t last) const;

  // The UTF-8 text class (a vocabulary-level token class, computed once per trie): byte strings
  // made of text characters — text bytes (is_text_byte) and well-formed UTF-8 multi-byte
  // characters (no overlongs, no surrogates, at most U+10FFFF) — optionally ending with the first
  // bytes of one such character (BPE vocabularies split characters across tokens). The language
  // is prefix-closed. utf8_step is its DFA: state 0 is a character boundary, kUtf8Reject means
  // the byte leaves the class.
  static constexpr int kUtf8States = 8;
  static constexpr int kUtf8Reject = -1;
  static int utf8_step(int state, uint8_t b);
  // A slice of the class: its tokens of at most `bound` bytes (mask_words() words), which a
  // lexer state alive on every class string of at most `bound` bytes allows, whatever it does
  // with them; and the nodes a walk from such a state must still visit, in node order: the
  // nodes to walk whole (tagged kSkeletonFrontier: the class frontier — nodes whose byte leaves
  // the class while their ancestors' bytes stay in it — down to depth bound + 1, and the class
  // nodes at depth bound + 1) and every ancestor of one (untagged: stepped only, to know the
  // lexer state there). full_class(): bound = the longest class path (3.6k of Llama-3's 275k
  // nodes to visit); short_class(): bound kShortClass, for strings of bounded length.
  static constexpr uint32_t kSkeletonFrontier = 1u << 31;
  static constexpr int kShortClass = 16;
  struct ClassSlice {
    int bound = 0;
    int cut = 0;     // class_slice's `bound` argument: 0 for a full slice
    int under = -1;  // class_slice's `under` argument: -1 for the whole trie
    // The class itself: the bytes it allows at a character boundary (bit b of lead[b >> 6]:
    // ASCII bytes, and UTF-8 lead bytes whose characters it holds, all well-formed ones past
    // the lead byte). id 0: the text class (full_class and short_class); others are
    // per-grammar classes (class_slice).
    int id = 0;
    uint64_t lead[4] = {0, 0, 0, 0};
    std::vector<uint32_t> tokens;
    std::vector<uint32_t> skeleton;
    // The byte and depth of each skeleton node, beside it: the walk reads the skeleton in
    // order instead of jumping through the node array (11.7k scattered 16-byte records for
    // Llama-3's short slice, a cache miss each).
    std::vector<uint8_t> bytes;
    std::vector<uint16_t> depths;
    // Per-grammar classes only (class_slice): the frontier split by where its byte leaves the
    // class. Boundary frontier nodes (the class path above them ends at a character boundary)
    // are gathered into `suffix`, the trie of the byte strings from each one down its subtree;
    // a state that every class string ending at a boundary leads back to (free text:
    // CompiledGrammar::loop_alive's one boundary pair) walks that trie once instead of every
    // frontier subtree (section 33 of docs/optimizations.md). `mid` is the skeleton of the
    // other frontier nodes (inside a UTF-8 character), as skeleton/bytes/depths above.
    struct Suffixes {
      // node 0 is the root; node i's subtree is [i, end[i]); its byte and depth (from 1)
      std::vector<uint32_t> end;
      std::vector<uint8_t> byte;
      std::vector<uint16_t> depth;
      // tokens whose bytes end at a trie node with this suffix: ids[tok[i], tok[i + 1]); the
      // trie nodes themselves (for a walk's exits): nodes[org[i], org[i + 1])
      std::vector<uint32_t> tok, org;
      std::vector<int32_t> ids;
      std::vector<uint32_t> nodes;
    };
    // Built by suffixes() at the kSuffixAfter-th walk that asks for them (not with the slice:
    // the build costs ~80 ns per node below the boundary frontier, 2-12 ms on Llama-3, which a
    // class met once would never win back); set (release) once built, never changed after.
    std::atomic<bool> has_suffixes{false};
    mutable std::atomic<int> suffix_asks{0};
    Suffixes suffix;
    std::vector<uint32_t> mid;
    std::vector<uint8_t> mid_bytes;
    std::vector<uint16_t> mid_depths;
  };
  const ClassSlice& full_class() const { return full_class_; }
  // The nodes, in node order, below a text-class path (the path above them is in the class)
  // whose subtree reaches past kShortClass bytes: all that CompiledGrammar::region_walk's pass
  // over the class nodes deeper than B (>= kShortClass) reads, without every child of the space.
  const std::vector<uint32_t>& deep_class() const { return deep_class_; }
  const ClassSlice& short_class() const { return short_class_; }
  // The class DFA of a slice's class: as utf8_step, but a byte at a character boundary is in
  // the class only when `lead` holds it.
  static int class_step(const uint64_t* lead, int state, uint8_t b) {
    if (state != 0) return utf8_step(state, b);
    if (!(lead[b >> 6] >> (b & 63) & 1)) return kUtf8Reject;
    return b < 0x80 ? 0 : utf8_step(0, b);
  }
  // The full slice (bound: the deepest class node) of the class whose boundary bytes are
  // `lead`, built on first use (one pass over the trie) and kept with the vocabulary, so every
  // grammar with the same class shares it: free text that must not contain some strings
  // loops on every character but their first ones (docs/optimizations.md section 20). Null
  // when kMaxClassSlices are built already. Thread-safe.
  // With `bound` > 0: the slice of the class's strings of at most `bound` bytes instead (the
  // skeleton then holds the class nodes at depth bound + 1, walked whole), kept apart. With
  // `under` a byte: the class strings that follow the root child of that byte (the tokens
  // `under` + a class string, skeleton nodes below that child only; depths stay the trie's).
  // A cut slice (bound > 0) whose class is the text class less some boundary bytes is derived
  // from the text class's slice with the same cut and `under` where the vocabulary built one
  // (cut_base(): the short slice, the cut at kRecordCut, and kShortClass below each root child
  // of a text byte with at least kLargeChild nodes): one merge of its skeleton instead of a
  // pass over the trie (docs/optimizations.md section 71). DECODER_CHECK_SLICES=1 compares
  // every derived slice with that pass (tests).
  static constexpr int kMaxClassSlices = 32;
  static constexpr int kRecordCut = 12;          // CompiledGrammar::record_class_walk's cut
  static constexpr uint32_t kLargeChild = 8192;  // split_class_walk's root children
  const ClassSlice* class_slice(const uint64_t lead[4], int bound = 0, int under = -1) const;
  // The suffix trie and mid skeleton of a class_slice() slice, built at the kSuffixAfter-th
  // call for it (once per process and class); false before (the caller walks the skeleton).
  // Thread-safe.
  static constexpr int kSuffixAfter = 4;
  bool suffixes(const ClassSlice& c) const;
  // Free text's cold mask entries, shared between the grammars of this vocabulary
  // (shared_entries.h). Thread-safe.
  SharedEntries& shared_entries() const { return shared_entries_; }

 private:
  mutable SharedEntries shared_entries_;
  std::vector<Node> nodes_;
  std::vector<int32_t> ids_;
  std::string blob_;
  std::vector<uint32_t> offsets_;
  std::vector<uint8_t> excluded_;
  std::vector<int32_t> eos_ids_;
  int32_t mask_width_;
  uint16_t max_depth_ = 0;
  std::vector<uint32_t> text_tokens_;  // mask_words() words
  std::vector<int32_t> quote_tokens_;
  std::vector<int32_t> two_quote_tokens_;
  std::vector<int32_t> bracket_tokens_;
  std::vector<uint32_t> text_frontier_;
  std::vector<uint32_t> text_by_first_;  // one mask per text byte, in text_slot_ order
  std::vector<uint32_t> text_by_len_;    // kTextLenCap masks
  std::vector<uint32_t> text_capped_;
  // Fills c for bound; returns the depth of the deepest class node within it.
  // [first, last) (last 0: the trie's end): the nodes below one node, whose depth + 1 is
  // first's (the class strings begin below it; bound and the result count from it).
  int build_class(ClassSlice& c, int bound, uint32_t first = 1, uint32_t last = 0) const;
  // Fills c (lead: a subset of the full class's) from the full class's slice, without a pass
  // over the trie (docs/optimizations.md section 49); false, with c untouched, where the
  // full pass is cheaper (many boundary nodes to leave out) or lead is no subset.
  bool derive_class(ClassSlice& c) const;
  // Fills c (c.cut > 0; c.lead a subset of base's, base the text class's slice with c's cut and
  // under) from base: its skeleton with the subtrees of the `out` tops (boundary nodes of a
  // byte base's class holds and c's does not, within the cut) left out and the tops made
  // frontier nodes, its tokens less theirs. False, with c untouched, where it does not apply.
  bool derive_cut(ClassSlice& c, const ClassSlice& base) const;
  // The text class's slice cut at `bound` below `under` (-1: the root) that the vocabulary
  // built, or null.
  const ClassSlice* cut_base(int bound, int under) const;
  std::vector<std::unique_ptr<ClassSlice>> cut_bases_;  // built in the constructor
  std::vector<uint32_t> parent_;                        // parent_[i]: node i's parent (node 0: 0)
  std::vector<uint32_t> boundary_by_byte_[256];         // full-class nodes at a character boundary, by byte
  // Fills c.suffix and c.mid from c's frontier (see ClassSlice::Suffixes).
  void build_suffixes(ClassSlice& c) const;
  ClassSlice full_class_, short_class_;
  std::vector<uint32_t> deep_class_;
  mutable std::mutex slices_mu_;
  mutable std::vector<std::unique_ptr<ClassSlice>> slices_;  // class_slice, ids 1, 2, ...
  uint8_t text_slot_[256] = {0};
};

}  // namespace decoder
