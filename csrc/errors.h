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

// A configured resource limit was hit (DFA states, NFA size, Earley items, ...).
struct LimitError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace decoder
