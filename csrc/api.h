// api.h — the few entry points the Python binding calls (decoder/_engine.pyx).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "matcher.h"

namespace decoder {

inline std::shared_ptr<CompiledGrammar> compile_grammar(
    const int32_t* words, size_t n_words, std::vector<std::string> lexeme_names,
    std::vector<std::string> nonterminal_names, const Limits& limits,
    std::shared_ptr<const TokenTrie> trie) {
  auto g = std::make_shared<Grammar>(words, n_words, std::move(lexeme_names),
                                     std::move(nonterminal_names), limits);
  return std::make_shared<CompiledGrammar>(std::move(g), std::move(trie));
}

inline std::shared_ptr<const TokenTrie> make_trie(const std::vector<std::string>& tokens,
                                                  int32_t mask_width,
                                                  const std::vector<int32_t>& eos_ids,
                                                  const std::vector<int32_t>& excluded) {
  return std::make_shared<const TokenTrie>(tokens, mask_width, eos_ids, excluded);
}

}  // namespace decoder
