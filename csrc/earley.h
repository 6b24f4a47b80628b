// earley.h — an Earley parser over lexemes, as a stack of rows.
//
// Row k holds the Earley items (dotted rule, origin row) after k scanned lexemes, closed
// under prediction and completion (nullable nonterminals are handled by Aycock and
// Horspool's rule: predicting a nullable nonterminal also moves the dot over it). Scanning
// pushes one row; a trie walk or a rollback pops rows again, so the parser is a stack and
// fork/rollback cost is proportional to what changed. Each row also records the set of
// lexemes allowed next (interned in the Lexer) and whether the input so far is a sentence.
//
// An ignored lexeme (%ignore) pushes an "ignore row" that shares its items with the row
// below and only bans that same ignore lexeme from coming next, so whitespace between
// two lexemes is one bounded lexeme, never an unbounded run.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "grammar.h"

namespace decoder {

struct EarleyItem {
  int32_t dot;
  int32_t origin;
};

struct EarleyRow {
  uint32_t begin, end;     // items_[begin, end)
  int32_t lexset;          // allowed lexemes, interned in the Lexer
  int32_t banned_ignore;   // ignore lexeme that may not come next, or -1
  bool accepting;          // the lexemes so far form a sentence
  uint64_t serial;         // unique id of this row's contents
  uint64_t parent_serial;  // serial of the row below when this one was pushed
  int64_t scan_key;        // what was scanned to push it (see EarleyParser::push)
};

class EarleyParser {
 public:
  explicit EarleyParser(Grammar* g);

  void reset();
  size_t num_rows() const { return nrows_; }
  const EarleyRow& top() const { return rows_[nrows_ - 1]; }
  const EarleyRow& row(size_t k) const { return rows_[k]; }
  const EarleyItem& item(uint32_t j) const { return items_[j]; }  // rows' items: [begin, end)
  // Pops rows down to n_rows. Popped rows stay in storage: pushing the same scan on the
  // same row again revives them in O(1) (see revive()).
  void truncate(size_t n_rows) {
    if (n_rows < nrows_) nrows_ = n_rows;
  }
  // If the row that scanning `scan_key` on the current top would produce is still in
  // storage from an earlier push (a sibling in the trie walk, a rolled-back token), makes
  // it the top again and returns true.
  bool revive(int64_t scan_key) {
    if (nrows_ < rows_.size()) {
      const EarleyRow& r = rows_[nrows_];
      if (r.parent_serial == rows_[nrows_ - 1].serial && r.scan_key == scan_key) {
        ++nrows_;
        return true;
      }
    }
    return false;
  }
  // Scans one lexeme-end: the sorted lexemes that matched the same text (the lexer gives
  // all of them; grammar ambiguity is resolved by Earley). scan_key identifies the set for
  // revive(). Returns false, leaving the parser unchanged, if no item could advance.
  bool scan(const std::vector<int32_t>& lexemes, int64_t scan_key);
  // Records that an ignored lexeme was read.
  void scan_ignore(int32_t lexeme, int64_t scan_key);

  // Fewest bytes needed to complete a sentence from the top row, if the next lexeme is
  // `lexeme` and `lexeme_rest` of its bytes are still to come (lexeme < 0: any next
  // lexeme, none in progress).
  int64_t min_completion(int32_t lexeme, int64_t lexeme_rest);

 private:
  void add(int32_t dot, int32_t origin);
  void close_row(int32_t k, int32_t banned_ignore);
  uint32_t items_end() const { return nrows_ ? rows_[nrows_ - 1].end : 0; }
  void begin_row(int64_t scan_key);  // opens row nrows_ (storage reused) on top
  int32_t compute_lexset(uint32_t begin, uint32_t end, int32_t banned_ignore);
  int64_t completion_cost(int32_t origin, int32_t nt, std::vector<std::pair<uint64_t, int64_t>>& memo,
                          int depth);

  Grammar* g_;
  Lexer* lexer_;
  std::vector<EarleyItem> items_;  // physical storage; the live part ends at top().end
  std::vector<EarleyRow> rows_;    // physical storage; rows_[0, nrows_) are live
  size_t nrows_ = 0;
  size_t nitems_ = 0;  // items of the row under construction end here
  uint64_t next_serial_ = 1;
  // dedup of the row under construction: open addressing over (dot, origin)
  std::vector<uint64_t> seen_;
  std::vector<uint32_t> seen_gen_;
  uint32_t gen_ = 0;
  std::vector<int32_t> scratch_lexemes_;
  // Recent lexeme sets' interned ids, direct-mapped by a hash of the sorted set: a new row
  // (each scan of a commit or of a mask's walks) finds its set's id here, checked against the
  // lexer's copy, instead of taking the lexer's mutex and hashing the set into its map.
  // Ids are never reused, so an entry stays right; a plain array, copied with the parser.
  static constexpr size_t kLexsetCache = 64;
  std::array<std::pair<uint64_t, int32_t>, kLexsetCache> lexset_cache_{};
  std::vector<uint32_t> lex_mark_;
  uint32_t lex_gen_ = 0;
  // Completion looks up the items of the origin row whose dot is before the completed
  // nonterminal. A linear scan of a large row made long unit-rule chains quadratic, so rows
  // of at least kIndexMinItems items get an index (items sorted by the symbol after the
  // dot), built on first use and tied to the row's serial (storage is reused).
  static constexpr uint32_t kIndexMinItems = 64;
  struct RowIndex {
    uint64_t serial = 0;
    std::vector<std::pair<int32_t, uint32_t>> by_sym;  // (symbol after the dot, item index)
  };
  std::vector<RowIndex> row_index_;
  const std::vector<std::pair<int32_t, uint32_t>>& index_of(int32_t row);
};

}  // namespace decoder
