// distinct.h — strings that must be distinct within their scope, compared by their decoded
// JSON value: the string items of a `uniqueItems` list, and the keys of an object (JSON
// objects never repeat a key: a parser keeps one copy and validates something else).
//
// The grammar marks lexemes (GrammarExtras::distinct): an *item* lexeme is a JSON string
// whose value must differ from every earlier item of the same scope; an *opener* lexeme
// ('[' or '{') opens a scope inside the current one and a *closer* (']' or '}') closes the
// innermost one. Scopes nest (an object inside an object, a list of distinct strings as a
// member's value), so the Matcher keeps a stack of them: the decoded values of the items
// closed so far, each with its scope, and refuses, at the step where an item's string
// closes, a value equal to an earlier one of the innermost open scope (docs/constraints.md,
// "uniqueItems"; docs/optimizations.md, "Distinct keys"). Openers and closers must balance:
// a grammar with one marks every bracket lexeme it has.
//
// A *value-list* opener (role 4, the '[' of a `uniqueItems` list whose items are objects or
// arrays) opens a scope whose direct child scopes are its items: the closer of such a child
// closes an item, compared by the canonical form of the whole value (canonical_json: JSON
// equality as `jsonschema` decides it) with the earlier items of the list, and refused when
// equal to one (the closer, not the lexemes inside the item, is what the mask withholds).
//
// Values are compared as JSON strings are: "a" and "\u0061" are equal, a surrogate pair
// escape equals the character it encodes, a lone surrogate escape is a value of its own
// (kept as its 3-byte generalised UTF-8 form, which no well-formed UTF-8 text contains).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace decoder {

enum DistinctRole : uint8_t {
  kNotDistinct = 0,
  kDistinctItem = 1,
  kDistinctOpener = 2,
  kDistinctCloser = 3,
  kDistinctValueList = 4,
  // an item whose language can run out from some lexer state (a key language with
  // finitely many names from there): stored as kDistinctItem, with
  // GrammarExtras::finite_items set; the matcher also refuses a key prefix whose every
  // completion was used in its scope (matcher_dead_keys.cc)
  kDistinctFiniteItem = 5
};

// Incremental decoder of a JSON string lexeme, from its first byte (JSON whitespace folded
// into its front is skipped, then the opening quote): feed() appends the
// value's bytes as soon as they are known (a high surrogate escape waits for its low half).
struct JsonStringDecoder {
  enum Phase : uint8_t { kBefore, kIn, kEscape, kHex, kClosed, kError };
  Phase phase = kBefore;
  uint8_t hex_digits = 0;  // digits of the \u escape read so far
  uint16_t unit = 0;       // the \u code unit being read
  uint16_t high = 0;       // a high surrogate waiting for a low one (0: none)
  // False (and kError) on a byte no JSON string takes here (the lexer never allows one).
  bool feed(uint8_t b, std::string& out);
  bool closed() const { return phase == kClosed; }
};

// The value of a JSON string lexeme's bytes (whole, or the part read so far).
std::string decode_json_string(std::string_view raw);

// A canonical form of one whole JSON value (its raw bytes, whitespace allowed; the grammar
// guarantees it is well formed): two values have the same form exactly when `jsonschema`
// (on Python's json.loads) finds them equal. Objects regardless of key order (keys by
// decoded value), strings by decoded value, true != 1, and numbers as Python compares what
// json.loads makes of them: an integer literal is an exact int, any other literal the double
// nearest it (1 == 1.0 == 1e0 == 10E-1, -0 == 0, 1e400 is inf), and an int equals a double
// only when their values are the same.
std::string canonical_json(std::string_view raw);

}  // namespace decoder
