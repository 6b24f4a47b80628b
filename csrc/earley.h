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
};

class EarleyParser {
 public:
  explicit EarleyParser(Grammar* g);

  void reset();
  size_t num_rows() const { return rows_.size(); }
  const EarleyRow& top() const { return rows_.back(); }
  const EarleyRow& row(size_t k) const { return rows_[k]; }
  const EarleyItem* items(const EarleyRow& r) const { return items_.data() + r.begin; }
  void truncate(size_t n_rows) {
    if (n_rows < rows_.size()) {
      rows_.resize(n_rows);
      items_.resize(rows_.back().end);
    }
  }
  // Scans one lexeme-end: the sorted lexemes that matched the same text (the lexer gives
  // all of them; grammar ambiguity is resolved by Earley). Returns false, leaving the
  // parser unchanged, if no item could advance.
  bool scan(const std::vector<int32_t>& lexemes);
  // Records that an ignored lexeme was read.
  void scan_ignore(int32_t lexeme);

  // Fewest bytes needed to complete a sentence from the top row, if the next lexeme is
  // `lexeme` and `lexeme_rest` of its bytes are still to come (lexeme < 0: any next
  // lexeme, none in progress).
  int64_t min_completion(int32_t lexeme, int64_t lexeme_rest);

 private:
  void add(int32_t dot, int32_t origin);
  void close_row(int32_t k, int32_t banned_ignore);
  int32_t compute_lexset(uint32_t begin, uint32_t end, int32_t banned_ignore);
  int64_t completion_cost(int32_t origin, int32_t nt, std::vector<std::pair<uint64_t, int64_t>>& memo,
                          int depth);

  Grammar* g_;
  Lexer* lexer_;
  std::vector<EarleyItem> items_;
  std::vector<EarleyRow> rows_;
  // dedup of the row under construction: open addressing over (dot, origin)
  std::vector<uint64_t> seen_;
  std::vector<uint32_t> seen_gen_;
  uint32_t gen_ = 0;
  std::vector<int32_t> scratch_lexemes_;
  std::vector<uint32_t> lex_mark_;
  uint32_t lex_gen_ = 0;
};

}  // namespace decoder
