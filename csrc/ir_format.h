// ir_format.h — the grammar IR's wire format, defined once.
//
// The Python front ends build a GrammarIR (decoder/grammar/ir.py); decoder/grammar/_wire.pyx
// writes it as flat int32 words (it reads the opcodes below with `cdef extern`), and
// Grammar (grammar.cc) with Nfa::add_lexeme (regex.cc) read them back. Nothing else knows
// the layout.
//
//   kMagic n_lexemes n_nonterminals n_rules start n_ignore  ignore_id...
//   regex(lexeme 0) ... regex(lexeme n_lexemes-1)
//   (lhs len sym...) for every rule     sym >= 0: nonterminal, sym < 0: lexeme ~sym
//   [kLazyTag k lexeme_id...]           optional: the lazy lexemes (see below)
//
// A lazy lexeme ends at the first byte where it matches: a lexer state in which a lazy
// lexeme accepts has no transitions, so no lexeme allowed there (itself included) goes on,
// and only the lazy lexemes end there (llguidance's `lazy`; shortest match, and it wins).
//
// A regex is written in prefix form, one opcode then its operands:
//
//   EMPTY                 0
//   NEVER                 1
//   BYTES   n b0..bn-1    2   the n bytes in sequence
//   CPS     k lo hi ...   3   one code point in k inclusive ranges, matched as UTF-8
//   BYTESET k lo hi ...   4   one byte in k inclusive ranges
//   CAT     k child...    5
//   ALT     k child...    6
//   REP     min max child 7   max = -1 for unbounded; bounds fit in int32
//   DFA     n f final... (k (lo hi to)...)*n
//                         8   an automaton over code points: n states (0 starts), f final
//                             states, then per state k transitions on code point ranges
//   COUNT   lo hi child   9   child, read while the lexer counts the UNITs it completes:
//                             a UNIT may start only while count < hi (hi = -1: unbounded)
//                             and COUNT ends only when lo <= count. The count lives in the
//                             lexer state, not in copies of NFA states (see regex.h,
//                             CountedRegion). Not inside REP or another COUNT.
//   UNIT    child        10   child (not matching ""), counted once by the enclosing COUNT
//                             when it completes (a JSON string's encoded code point: `é`,
//                             `\u00e9` and a surrogate pair are one unit each). Only inside
//                             COUNT; the units must form a prefix code (each byte string
//                             splits into units one way), else the lexer raises GrammarError.
//
// Invariants the reader checks (a violation is a GrammarError, never undefined behaviour):
// every count is non-negative and within the words given, ranges have lo <= hi, lexeme and
// nonterminal ids are in range, and the start symbol is a nonterminal.
#pragma once
#include <cstdint>

namespace decoder {
namespace wire {

constexpr int32_t kMagic = 0x44454301;    // "DEC\x01"
constexpr int32_t kHeaderWords = 6;       // magic .. n_ignore
constexpr int32_t kUnbounded = -1;        // REP's max when there is none
constexpr int32_t kLazyTag = 0x4C415A59;  // "LAZY": the optional section after the rules

enum Op : int32_t {
  kEmpty = 0,
  kNever = 1,
  kBytes = 2,
  kCps = 3,
  kByteset = 4,
  kCat = 5,
  kAlt = 6,
  kRep = 7,
  kAutomaton = 8,
  kCount = 9,
  kUnit = 10,
};

}  // namespace wire
}  // namespace decoder
