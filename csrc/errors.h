// errors.h — the exceptions the engine throws; the Cython layer maps each kind to a
// Python exception class of decoder.errors.
#pragma once
#include <stdexcept>
#include <string>

namespace decoder {

// A grammar the engine cannot compile (bad regex IR, empty lexeme, unproductive start, ...).
struct GrammarError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A configured resource limit was hit (DFA states, NFA size, Earley items, work, ...).
// `limit` is the name of the option (Limits field) that raised it, "" when none; it
// becomes the Python exception's `limit` attribute.
struct LimitError : std::runtime_error {
  explicit LimitError(const std::string& what, std::string limit_name = "")
      : std::runtime_error(what), limit(std::move(limit_name)) {}
  std::string limit;
};

}  // namespace decoder
