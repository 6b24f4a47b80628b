// api.h — the few entry points the Python binding calls (decoder/_engine.pyx).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "matcher.h"

namespace decoder {

inline std::shared_ptr<CompiledGrammar> compile_grammar(const int32_t* words, size_t n_words,
                                                        Names lexeme_names, Names nonterminal_names,
                                                        const Limits& limits,
                                                        std::shared_ptr<const TokenTrie> trie,
                                                        const CancelFlag* cancel = nullptr) {
  auto g = std::make_shared<Grammar>(words, n_words, std::move(lexeme_names), std::move(nonterminal_names),
                                     limits, cancel);
  return std::make_shared<CompiledGrammar>(std::move(g), std::move(trie));
}

// Drops a compiled grammar's reference. When it is the last one, the grammar (its automaton,
// mask cache and Earley tables: ~0.05 ms for a median grammar, and the malloc_trim that
// every 32 MiB of destroyed grammars runs, ~27 ms in a process holding a tokenizer) is
// destroyed on a background thread instead of the caller's, which is the compile that
// evicts it from a cache. At most kMaxPendingReleases grammars wait; past that, or in a
// forked child, or if no thread can be started, the caller destroys it as before.
void release_grammar(std::shared_ptr<CompiledGrammar>& g);
// Waits until the grammars handed to release_grammar are destroyed (so that the budget's
// counts describe the grammars alive).
void drain_releases();

inline std::shared_ptr<const TokenTrie> make_trie(const char* blob, size_t blob_size, const uint32_t* offsets,
                                                  size_t n_offsets, int32_t mask_width,
                                                  const std::vector<int32_t>& eos_ids,
                                                  const std::vector<int32_t>& excluded) {
  return std::make_shared<const TokenTrie>(std::string(blob, blob_size),
                                           std::vector<uint32_t>(offsets, offsets + n_offsets), mask_width,
                                           eos_ids, excluded);
}

}  // namespace decoder
