// grammar.h — the grammar IR on the C++ side: rules over lexemes, plus the tables the
// Earley parser needs (dotted rules, nullable nonterminals, shortest derivations).
//
// Symbols: a nonterminal i is i (>= 0), a lexeme j is -(j + 1). A dotted rule ("dot") is
// one position inside one rule: dot_sym(d) is the symbol after the dot or kEnd.
// The grammar is augmented with a rule  S' -> start  whose first dot is start_dot().
// Invariant after construction: every rule left is productive (derives some byte string),
// so any Earley item the parser holds can still be completed.
#pragma once
#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "budget.h"
#include "lexer.h"

namespace decoder {

constexpr int32_t kEnd = INT32_MIN;
constexpr int64_t kInfLen = INT64_MAX / 4;  // "no derivation" for length computations

struct Limits {
  int64_t max_nfa_states = 2000000;
  int64_t max_dfa_states = 500000;
  int64_t max_dfa_bytes = 64ll << 20;  // NFA-state sets of all DFA states together
  int64_t max_rules = 2000000;
  int64_t max_items_per_row = 1000000;
  int64_t mask_cache_bytes = 256ll << 20;
  // Work budgets (see budget.h; a unit is ~10 ns): compiling the grammar (NFA states,
  // edges, epsilon-closure steps, grammar analysis) and one matcher step (compute_mask,
  // commit, is_accepting ...: lexer DFA states built, Earley items, trie nodes walked).
  int64_t max_compile_work = 100000000;
  int64_t max_step_work = 5000000;
};

// The names of a grammar's lexemes or nonterminals, as they cross from Python: one blob of
// the names joined by NUL bytes, and their count (a vector of strings was a list of encoded
// names and an allocation per name on every compile, for names read only by error messages).
struct Names {
  std::string blob;
  int32_t count = 0;
  // Name i (the i-th NUL-separated piece; "#i" when a name holding a NUL shifted the pieces).
  std::string at(int32_t i) const;
};

class Grammar {
 public:
  // Parses the serialised grammar (see decoder/grammar/serialize.py for the layout).
  Grammar(const int32_t* words, size_t n_words, Names lexeme_names, Names nonterminal_names,
          const Limits& limits, const CancelFlag* cancel = nullptr);

  int32_t num_lexemes() const { return lexeme_names_.count; }
  int32_t num_nonterminals() const { return static_cast<int32_t>(nullable_.size()); }
  int32_t dot_sym(int32_t d) const { return dot_sym_[d]; }
  int32_t dot_lhs(int32_t d) const { return dot_lhs_[d]; }
  // Shortest byte length of the rest of the rule after this dot.
  int64_t dot_min_rest(int32_t d) const { return dot_min_rest_[d]; }
  const std::vector<int32_t>& first_dots(int32_t nt) const { return first_dots_[nt]; }
  bool nullable(int32_t nt) const { return nullable_[nt]; }
  int32_t start_dot() const { return start_dot_; }
  int32_t accept_dot() const { return start_dot_ + 1; }
  int32_t augmented_nt() const { return augmented_nt_; }
  bool is_ignore(int32_t lexeme) const { return is_ignore_[lexeme]; }
  const std::vector<int32_t>& ignore_lexemes() const { return ignore_; }
  std::string lexeme_name(int32_t j) const { return lexeme_names_.at(j); }
  std::string nonterminal_name(int32_t i) const { return i == nt_names_.count ? "<start>" : nt_names_.at(i); }
  Lexer& lexer() { return *lexer_; }
  const Limits& limits() const { return limits_; }

 private:
  Names lexeme_names_, nt_names_;
  std::vector<int32_t> dot_sym_, dot_lhs_;
  std::vector<int64_t> dot_min_rest_;
  std::vector<std::vector<int32_t>> first_dots_;
  std::vector<uint8_t> nullable_;
  std::vector<uint8_t> is_ignore_;
  std::vector<int32_t> ignore_;
  int32_t start_dot_ = 0, augmented_nt_ = 0;
  std::unique_ptr<Lexer> lexer_;
  Limits limits_;
};

}  // namespace decoder
