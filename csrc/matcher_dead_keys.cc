// matcher_dead_keys.cc — dead key prefixes of finite items (distinct.h, kDistinctFiniteItem).
//
// A key language with finitely many names from some lexer state (`propertyNames` with
// `maxLength`, `^x.$`, an enum of many names) can run out below a prefix: with "ab" used
// and keys of at most two characters, the prefix "ab" has one completion, the closing
// quote, which would repeat a key. Masking only that quote would leave the key with no way
// on (a dead end), so the prefix itself is refused: a state s inside the key, with decoded
// prefix p, is dead when every lexeme live in s is a finite item and each has as many
// completions from s (distinct decoded strings) as there are keys of the scope that start
// with p and that lexeme accepts from s (those are completions too, so "as many" means
// every completion was used). A token is then masked when its bytes reach a dead state
// (every longer prefix is dead too, and a quote there closes a used key).
//
// Counting (key_completions): decoded strings, not spellings (`"\u00e9"` and `"é"` are one
// key), so one spelling per code point is counted: raw UTF-8 (by byte class: bytes of a class
// move every lexeme alike), `\"`, `\\`, and `\u00xx` for a control; from inside an escape,
// its completions with lowercase hex digits. Memoized per (lexeme, lexer state, escape
// state); a cycle means infinitely many (saturated). The compiler gives the role only to
// languages of at most 256 DFA states (the walk is as deep as the longest key), and only
// where the object never asks for a key of a language whose every name was used
// (json_schema/distinct_keys.py), so the state before a key's opening quote is never dead.
#include <algorithm>

#include "budget.h"
#include "matcher.h"

namespace decoder {
namespace {

constexpr uint64_t kInfCount = uint64_t(1) << 62;
constexpr uint64_t kOnPath = ~uint64_t(0);
constexpr char kHexLower[] = "0123456789abcdef";

uint64_t sat_add(uint64_t a, uint64_t b) { return std::min(kInfCount, a + b); }  // a, b <= 2^62
uint64_t sat_mul(uint64_t a, uint64_t n) {
  if (a == 0 || n == 0) return 0;
  return a >= kInfCount / n ? kInfCount : a * n;
}

bool in_string(const JsonStringDecoder& d) {
  return d.phase == JsonStringDecoder::kIn || d.phase == JsonStringDecoder::kEscape ||
         d.phase == JsonStringDecoder::kHex;
}

// The decoder's state as far as the completions depend on it beside the lexer state (0:
// between code points). Not the hex digits typed: the lexer state tells what they allow, and
// each canonical completion (lowercase digits) is a distinct code point whatever they were.
uint64_t phase_key(const JsonStringDecoder& d) {
  if (d.phase == JsonStringDecoder::kIn && d.high == 0) return 0;
  const uint64_t digits = d.phase == JsonStringDecoder::kHex ? d.hex_digits : 0;
  return 1 + uint64_t(d.phase) + (digits << 4) + (uint64_t(d.high != 0) << 8);
}

void hex4(uint32_t u, std::string& o) {
  for (int k = 3; k >= 0; --k) o.push_back(kHexLower[(u >> (4 * k)) & 15]);
}

// The code point of generalised UTF-8 at s[i] (advances i)
uint32_t next_cp(std::string_view s, size_t& i) {
  const uint8_t b = static_cast<uint8_t>(s[i++]);
  int more = b < 0x80 ? 0 : b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
  uint32_t cp = more == 0 ? b : more == 1 ? (b & 0x1F) : more == 2 ? (b & 0x0F) : (b & 0x07);
  for (; more > 0 && i < s.size(); --more) cp = (cp << 6) | (static_cast<uint8_t>(s[i++]) & 0x3F);
  return cp;
}

// The code point of short escape letter b ('"', '\\', '/', 'b', 'f', 'n', 'r', 't')
uint32_t short_escape_cp(char b) {
  switch (b) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return static_cast<uint8_t>(b);
  }
}

// The escapes of a code point below 0x80, the short one (if any) first, then "\u00xx"
std::vector<std::string> escapes_of(uint32_t cp) {
  std::vector<std::string> out;
  const char* shorts = "\"\\/bfnrt";
  for (const char* p = shorts; *p; ++p)
    if (short_escape_cp(*p) == cp) out.push_back(std::string("\\") + *p);
  std::string u = "\\u00";
  u.push_back(kHexLower[cp >> 4]);
  u.push_back(kHexLower[cp & 15]);
  out.push_back(u);
  return out;
}

bool accepts(Lexer& lx, int32_t s, int32_t lexeme) {
  const auto& acc = lx.accepting(s);
  return std::binary_search(acc.begin(), acc.end(), lexeme);
}

}  // namespace

bool Matcher::finite_live(int32_t s) {
  if (s < 0) return false;
  if (static_cast<size_t>(s) >= finite_live_.size()) finite_live_.resize(s + 1024, -1);
  int8_t& v = finite_live_[s];
  if (v < 0) {
    v = 0;
    for (int32_t lx : lexer_->live_lexemes(s))
      if (extras_->finite_items[lx]) v = 1;
  }
  return v == 1;
}

uint64_t Matcher::key_completions(int32_t lx, int32_t s, const JsonStringDecoder& d) {
  const auto key = std::make_pair((uint64_t(uint32_t(s)) << 32) | uint32_t(lx), phase_key(d));
  auto it = key_counts_.find(key);
  if (it != key_counts_.end()) return it->second == kOnPath ? kInfCount : it->second;
  key_counts_[key] = kOnPath;
  charge_work(64, "counting the completions of a key");
  uint64_t total = 0;
  std::string tmp;
  // one more step to state q with decoder dd, each of `mult` bytes leading there alike
  auto go = [&](int32_t q, const JsonStringDecoder& dd, uint64_t mult) {
    if (q == kDead || lexer_->dist_to_accept(q, lx) == INT32_MAX) return;
    total = sat_add(total, sat_mul(key_completions(lx, q, dd), mult));
  };
  // the state and decoder after bytes `b` from (s, d), or kDead
  auto run = [&](std::string_view b, JsonStringDecoder& dd) {
    int32_t q = s;
    for (char c : b) {
      q = lexer_->next(q, static_cast<uint8_t>(c));
      if (q == kDead || !dd.feed(static_cast<uint8_t>(c), tmp)) return int32_t(kDead);
    }
    return q;
  };
  if (d.phase == JsonStringDecoder::kIn && d.high == 0) {
    const int32_t q = lexer_->next(s, '"');  // the key closes here
    if (q != kDead && accepts(*lexer_, q, lx)) total = sat_add(total, 1);
    for (size_t c = 0; c < class_rep_.size(); ++c)  // a raw byte (never '"' or '\\')
      if (class_rep_[c] >= 0) go(lexer_->next(s, static_cast<uint8_t>(class_rep_[c])), d, class_n_[c]);
    // the code points spelled only by an escape: '"', '\\' and the controls, each once
    for (int c = 0; c < 0x20 + 2; ++c) {
      const uint32_t cp = c < 0x20 ? uint32_t(c) : c == 0x20 ? '"' : '\\';
      JsonStringDecoder dd = d;
      int32_t q = kDead;
      for (const std::string& e : escapes_of(cp)) {
        dd = d;
        q = run(e, dd);
        if (q != kDead && lexer_->dist_to_accept(q, lx) != INT32_MAX) break;
      }
      go(q, dd, 1);
    }
  } else if (d.phase == JsonStringDecoder::kIn) {  // a high surrogate: its low half follows
    JsonStringDecoder dd = d;
    go(run("\\", dd), dd, 1);
  } else if (d.phase == JsonStringDecoder::kEscape) {
    // every code point by its \u form, and those with a short form whose \u form is
    // refused by their short form ("\n" and "\u000a" are one code point)
    JsonStringDecoder du = d;
    go(run("u", du), du, 1);
    if (d.high == 0)
      for (const char* b : {"\"", "\\", "/", "b", "f", "n", "r", "t"}) {
        JsonStringDecoder ds = d, dl = d;
        const std::string& u = escapes_of(short_escape_cp(*b)).back();  // "\u00xx"
        const int32_t ql = run(std::string_view(u).substr(1), dl);
        if (ql != kDead && lexer_->dist_to_accept(ql, lx) != INT32_MAX) continue;  // counted
        go(run(b, ds), ds, 1);
      }
  } else if (d.phase == JsonStringDecoder::kHex) {
    for (int h = 0; h < 16; ++h) {
      JsonStringDecoder dd = d;
      go(run(std::string_view(kHexLower + h, 1), dd), dd, 1);
    }
  }
  key_counts_[key] = total;
  return total;
}

bool Matcher::key_reaches(int32_t lx, int32_t s, const JsonStringDecoder& d, std::string_view rest) {
  std::string sp;
  size_t i = 0;
  if (d.phase != JsonStringDecoder::kIn || d.high != 0) {
    if (rest.empty()) return false;  // an escape is pending: one more code point at least
    const uint32_t c = next_cp(rest, i);
    const bool pair = c > 0xFFFF;
    const uint32_t hi = pair ? 0xD800 + ((c - 0x10000) >> 10) : 0;
    const uint32_t lo = pair ? 0xDC00 + ((c - 0x10000) & 0x3FF) : 0;
    if (d.high != 0 && (!pair || hi != d.high)) return false;
    if (d.phase == JsonStringDecoder::kIn) {  // after a high surrogate
      sp += "\\u";
      hex4(lo, sp);
    } else if (d.phase == JsonStringDecoder::kEscape) {
      if (d.high != 0) {
        sp += "u";
        hex4(lo, sp);
      } else if (c == '"' || c == '\\' || c == '/') {
        sp.push_back(static_cast<char>(c));
      } else if (c < 0x20 && escapes_of(c).size() == 2) {  // its short form, else "\u00xx"
        const std::string e = escapes_of(c)[0].substr(1);
        const int32_t r = lexer_->next(s, static_cast<uint8_t>(e[0]));
        if (r != kDead && lexer_->dist_to_accept(r, lx) != INT32_MAX)
          sp += e;
        else
          sp += escapes_of(c)[1].substr(1);
      } else {
        sp += "u";
        hex4(pair ? hi : c, sp);
        if (pair) {
          sp += "\\u";
          hex4(lo, sp);
        }
      }
    } else {  // kHex: the unit's first hex_digits digits are typed
      const uint32_t unit = d.high != 0 ? lo : pair ? hi : c;
      const int left = 4 - d.hex_digits;
      if ((unit >> (4 * left)) != d.unit) return false;
      for (int k = left - 1; k >= 0; --k) sp.push_back(kHexLower[(unit >> (4 * k)) & 15]);
      if (d.high == 0 && pair) {
        sp += "\\u";
        hex4(lo, sp);
      }
    }
  }
  // the rest of a code point the prefix began (raw UTF-8)
  if (d.phase == JsonStringDecoder::kIn && d.high == 0)
    while (i < rest.size() && (static_cast<uint8_t>(rest[i]) & 0xC0) == 0x80) sp.push_back(rest[i++]);
  int32_t q = s;
  auto run = [&](int32_t from, std::string_view b) {
    for (char c : b) {
      from = lexer_->next(from, static_cast<uint8_t>(c));
      if (from == kDead) return from;
    }
    return from;
  };
  q = run(q, sp);
  while (i < rest.size() && q != kDead) {
    const size_t at = i;
    const uint32_t c = next_cp(rest, i);
    if (c == '"' || c == '\\' || c < 0x20) {  // the first escape lexeme lx takes
      int32_t r = kDead;
      for (const std::string& e : escapes_of(c)) {
        r = run(q, e);
        if (r != kDead && lexer_->dist_to_accept(r, lx) != INT32_MAX) break;
      }
      q = r;
    } else {
      q = run(q, rest.substr(at, i - at));
    }
  }
  if (q == kDead) return false;
  q = lexer_->next(q, '"');
  return q != kDead && accepts(*lexer_, q, lx);
}

bool Matcher::may_run_out(int32_t s, const JsonStringDecoder& d, size_t bound) {
  if (!in_string(d) || bound == 0) return false;
  for (int32_t lx : lexer_->live_lexemes(s)) {
    if (!extras_->finite_items[lx]) return false;
    if (lexer_->dist_to_accept(s, lx) != INT32_MAX && key_completions(lx, s, d) > bound) return false;
  }
  return true;
}

bool Matcher::dead_key(int32_t s, const JsonStringDecoder& d, size_t plen,
                       const std::vector<const std::string*>& used) {
  if (!in_string(d) || used.empty()) return false;
  const auto& live = lexer_->live_lexemes(s);
  bool any = false;
  for (int32_t lx : live)
    if (!extras_->finite_items[lx]) return false;  // a declared name, a key that never runs out
  for (int32_t lx : live) {
    if (lexer_->dist_to_accept(s, lx) == INT32_MAX) continue;
    any = true;
    const uint64_t n = key_completions(lx, s, d);
    if (n > used.size()) return false;
    uint64_t reached = 0;
    for (const std::string* u : used) reached += key_reaches(lx, s, d, std::string_view(*u).substr(plen));
    if (n > reached) return false;
  }
  return any;
}

bool Matcher::dead_key_raw(int32_t s, std::string_view raw, const DistinctFrame* f) {
  JsonStringDecoder d;
  std::string p;
  for (char c : raw)
    if (!d.feed(static_cast<uint8_t>(c), p)) return false;
  if (!in_string(d)) return false;
  used_scratch_.clear();
  auto add = [&](const std::string& u) {
    if (u.size() >= p.size() && u.compare(0, p.size(), p) == 0) used_scratch_.push_back(&u);
  };
  const uint32_t sc = f != nullptr ? f->scope : scope_;
  // the keys of the scope, at most (most prefixes have more completions: no list needed)
  size_t bound = (sc < scopes_.size() ? seen_.size() - scopes_[sc].first : 0) + 1;
  if (f != nullptr) bound += f->nvals;
  if (!may_run_out(s, d, bound)) return false;
  if (f != nullptr) {
    for (uint32_t k = 0; k < f->nvals; ++k)
      if (walk_val_scope_[k] == sc) add(walk_vals_[k]);
    if (sc == scope_)
      if (const std::string* b = walk_base_item()) add(*b);
  }
  if (sc < scopes_.size())
    for (size_t k = scopes_[sc].first; k < seen_.size(); ++k)
      if (seen_scope_[k] == sc) add(seen_[k]);
  return dead_key(s, d, p.size(), used_scratch_);
}

bool Matcher::under_dead_node(uint32_t node) const {
  auto it = std::upper_bound(dead_nodes_.begin(), dead_nodes_.end(), node);
  if (it == dead_nodes_.begin()) return false;
  const uint32_t p = *--it;
  return node < trie_->subtree_end(p);
}

}  // namespace decoder
