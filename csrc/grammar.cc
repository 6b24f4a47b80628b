#include "grammar.h"

#include <algorithm>
#include <climits>

#include "budget.h"
#include "errors.h"
#include "ir_format.h"

namespace decoder {

std::string Names::at(int32_t i) const {
  size_t b = 0;
  for (int32_t k = 0; k < i && b != std::string::npos; ++k) {
    b = blob.find('\0', b);
    if (b != std::string::npos) ++b;
  }
  if (i < 0 || i >= count || b == std::string::npos) return "#" + std::to_string(i);
  const size_t e = blob.find('\0', b);
  return blob.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

Grammar::Grammar(const int32_t* w, size_t n, Names lexeme_names, Names nonterminal_names,
                 const Limits& limits, const CancelFlag* cancel)
    : lexeme_names_(std::move(lexeme_names)), nt_names_(std::move(nonterminal_names)), limits_(limits) {
  WorkScope work(limits_.max_compile_work, "max_compile_work", "compiling the grammar", cancel);
  charge_work(1, "starting");  // a compile cancelled before it began stops here
  size_t pos = 0;
  auto need = [&](size_t k) {
    if (pos + k > n) throw GrammarError("truncated grammar");
  };
  need(wire::kHeaderWords);
  if (w[pos++] != wire::kMagic) throw GrammarError("not a serialised decoder grammar");
  int32_t n_lex = w[pos++], n_nt = w[pos++], n_rules = w[pos++], start = w[pos++], n_ign = w[pos++];
  if (n_lex < 0 || n_nt <= 0 || n_rules < 0 || start < 0 || start >= n_nt || n_ign < 0 ||
      n_lex != lexeme_names_.count || n_nt != nt_names_.count)
    throw GrammarError("inconsistent grammar header");
  if (n_rules > limits_.max_rules)
    throw LimitError("grammar has " + std::to_string(n_rules) + " rules, over the limit of " +
                         std::to_string(limits_.max_rules) + " (max_rules)",
                     "max_rules");
  is_ignore_.assign(n_lex, 0);
  need(n_ign);
  for (int32_t i = 0; i < n_ign; ++i) {
    int32_t j = w[pos++];
    if (j < 0 || j >= n_lex) throw GrammarError("ignore lexeme out of range");
    if (!is_ignore_[j]) ignore_.push_back(j);
    is_ignore_[j] = 1;
  }
  auto nfa = std::make_unique<Nfa>(limits_.max_nfa_states);
  std::vector<size_t> regex_pos(n_lex);
  std::vector<int32_t> lexeme_states(n_lex);
  for (int32_t j = 0; j < n_lex; ++j) {
    regex_pos[j] = pos;
    lexeme_states[j] = nfa->num_states();
    try {
      nfa->add_lexeme(w, n, pos, j);
    } catch (const LimitError& e) {
      throw LimitError(std::string(e.what()) + " (in lexeme " + lexeme_name(j) + ")", e.limit);
    } catch (const GrammarError& e) {
      throw GrammarError(std::string(e.what()) + " (in lexeme " + lexeme_name(j) + ")");
    }
    lexeme_states[j] = nfa->num_states() - lexeme_states[j];
  }
  // Fold each ignored lexeme into the front of every other lexeme (see Nfa::add_prefixed)
  // when that stays small; otherwise ignored lexemes reach the parser as ignore rows, which
  // is equally exact, only slower.
  if (!ignore_.empty()) {
    const int64_t budget = std::min<int64_t>(limits_.max_nfa_states / 4, 400000);
    int64_t n_plain = 0;
    for (int32_t j = 0; j < n_lex; ++j) n_plain += !is_ignore_[j];
    int64_t total = 0;
    for (int32_t i : ignore_) total += int64_t(lexeme_states[i]) * n_plain;
    if (total <= budget)
      for (int32_t i : ignore_)
        for (int32_t j = 0; j < n_lex; ++j)
          if (!is_ignore_[j]) nfa->set_prefixed(i, j, nfa->add_prefixed(w, n, regex_pos[i], j));
  }
  nfa->finish();

  // Rules, with an augmented start rule S' -> start appended as nonterminal n_nt.
  // A rule's body is read in place from the words (a vector per rule was an allocation each).
  std::vector<int32_t> lhs;
  std::vector<IdSpan> rhs;
  lhs.reserve(size_t(n_rules) + 1);
  rhs.reserve(size_t(n_rules) + 1);
  for (int32_t r = 0; r < n_rules; ++r) {
    need(2);
    int32_t l = w[pos++], len = w[pos++];
    if (l < 0 || l >= n_nt || len < 0) throw GrammarError("bad rule header");
    need(len);
    const IdSpan body{w + pos, w + pos + len};
    pos += len;
    for (int32_t s : body)
      if (s >= n_nt || (s < 0 && -s - 1 >= n_lex)) throw GrammarError("rule symbol out of range");
    lhs.push_back(l);
    rhs.push_back(body);
  }
  if (pos < n) {  // the optional lazy-lexeme section
    need(2);
    if (w[pos++] != wire::kLazyTag) throw GrammarError("trailing data after grammar");
    int32_t k = w[pos++];
    if (k < 0) throw GrammarError("bad lazy lexeme count");
    need(k);
    for (int32_t i = 0; i < k; ++i) {
      int32_t j = w[pos++];
      if (j < 0 || j >= n_lex) throw GrammarError("lazy lexeme out of range");
      nfa->set_lazy(j);
    }
  }
  if (pos != n) throw GrammarError("trailing data after grammar");
  augmented_nt_ = n_nt;
  const int32_t start_body[1] = {start};
  lhs.push_back(n_nt);
  rhs.push_back({start_body, start_body + 1});
  const int32_t NT = n_nt + 1;

  // Lexemes: none may match the empty string (a zero-width lexeme would loop the lexer).
  std::vector<int64_t> lex_min(n_lex);
  for (int32_t j = 0; j < n_lex; ++j) {
    if (nfa->alive(nfa->start(j)) && nfa->matches_empty(j))
      throw GrammarError("lexeme " + lexeme_name(j) + " matches the empty string");
    int32_t d = nfa->lexeme_min_len(j);
    lex_min[j] = d == INT32_MAX ? kInfLen : d;
  }
  // Shortest derivation of each nonterminal (Knuth's fixpoint); kInfLen = unproductive.
  std::vector<int64_t> nt_min(NT, kInfLen);
  auto sym_min = [&](int32_t s) { return s >= 0 ? nt_min[s] : lex_min[-s - 1]; };
  int64_t rule_symbols = 0;
  for (const auto& b : rhs) rule_symbols += static_cast<int64_t>(b.size()) + 1;
  for (bool changed = true; changed;) {
    changed = false;
    charge_work(rule_symbols, "computing the shortest derivation of each rule");
    for (size_t r = 0; r < lhs.size(); ++r) {
      int64_t t = 0;
      for (int32_t s : rhs[r]) t = std::min(kInfLen, t + sym_min(s));
      if (t < nt_min[lhs[r]]) {
        nt_min[lhs[r]] = t;
        changed = true;
      }
    }
  }
  if (nt_min[n_nt] >= kInfLen)
    throw GrammarError("the grammar's language is empty: start symbol " + nonterminal_name(start) +
                       " derives no string");
  nullable_.assign(NT, 0);
  for (int32_t i = 0; i < NT; ++i) nullable_[i] = nt_min[i] == 0;
  // Note nt_min == 0 iff nullable, because no lexeme matches the empty string.

  first_dots_.assign(NT, {});
  dot_sym_.reserve(size_t(rule_symbols));
  dot_lhs_.reserve(size_t(rule_symbols));
  dot_min_rest_.reserve(size_t(rule_symbols));
  std::vector<int64_t> rests;
  for (size_t r = 0; r < lhs.size(); ++r) {
    bool productive = true;
    for (int32_t s : rhs[r]) productive &= sym_min(s) < kInfLen;
    if (!productive) continue;  // drop rules that can never complete
    int32_t first = static_cast<int32_t>(dot_sym_.size());
    first_dots_[lhs[r]].push_back(first);
    const int32_t* body = rhs[r].b;
    rests.assign(rhs[r].size() + 1, 0);
    for (size_t k = rhs[r].size(); k-- > 0;) rests[k] = rests[k + 1] + sym_min(body[k]);
    for (size_t k = 0; k <= rhs[r].size(); ++k) {
      dot_sym_.push_back(k < rhs[r].size() ? body[k] : kEnd);
      dot_lhs_.push_back(lhs[r]);
      dot_min_rest_.push_back(rests[k]);
    }
    if (static_cast<int32_t>(r) == n_rules) start_dot_ = first;
  }
  lexer_ = std::make_unique<Lexer>(std::move(nfa), n_lex, limits_.max_dfa_states, limits_.max_dfa_bytes);
}

}  // namespace decoder
