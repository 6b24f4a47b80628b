// matcher_distinct.cc — the Matcher's distinct-item checks (see distinct.h): an item lexeme
// whose decoded value equals an earlier item of its scope is not scanned.
//
// Where an item can close during a step, and how each place knows the item's value:
//  - commit (feed/step): the committed bytes of the lexeme (bytes_ from lex_begin_);
//  - a token that ends exactly on the closing quote of the current lexeme: it is in the
//    cached `inside` bits, which only depend on the lexer state, so find_duplicate_closes
//    follows, for each value of the open scope, the trie paths that spell its remaining
//    bytes (any JSON spelling) and then a quote, and clears the tokens there;
//  - a token that runs past that quote: its exit's parent node is one of those paths
//    (dup_nodes_), and the exit scans without the item lexemes;
//  - an item that begins and closes inside a token (below an exit): walk_distinct knows the
//    path bytes, and keeps the items the token closed itself (a token may close two) and the
//    scopes it opened and closed (`}, "a"` closes an inner object, then a key of the outer).
#include <algorithm>

#include "budget.h"
#include "matcher.h"

namespace decoder {

Matcher::ItemClose Matcher::item_close(int32_t s) const {
  if (s < 0) return kNoItem;
  const auto& acc = lexer_->accepting(s);
  size_t items = 0;
  for (int32_t lx : acc) items += extras_->distinct[lx] == kDistinctItem;
  if (items == 0) return kNoItem;
  return items == acc.size() ? kAll : kSome;
}

bool Matcher::opens_list(int32_t s) const {
  if (s < 0) return false;
  for (int32_t lx : lexer_->accepting(s))
    if (extras_->distinct[lx] == kDistinctOpener || extras_->distinct[lx] == kDistinctValueList) return true;
  return false;
}

bool Matcher::opens_value_list(int32_t s) const {
  if (s < 0 || !has_value_lists_) return false;
  for (int32_t lx : lexer_->accepting(s))
    if (extras_->distinct[lx] == kDistinctValueList) return true;
  return false;
}

int64_t Matcher::list_of(uint32_t sc) const {
  if (!has_value_lists_) return -1;
  const uint32_t committed = static_cast<uint32_t>(scopes_.size());
  uint32_t parent;
  if (sc >= committed) {
    parent = walk_scopes_[sc - committed];
  } else {
    if (sc == 0) return -1;  // the root
    parent = scopes_[sc].parent;
  }
  const bool values =
      parent >= committed ? walk_scope_values_[parent - committed] != 0 : scopes_[parent].values;
  return values ? int64_t(parent) : -1;
}

std::string Matcher::scope_value(uint32_t sc, uint16_t d) {
  if (path_pending_ >= 0) {
    fill_path(static_cast<uint32_t>(path_pending_));
    path_pending_ = -1;
  }
  const uint32_t committed = static_cast<uint32_t>(scopes_.size());
  if (sc >= committed) {
    const uint32_t b = walk_scope_begin_[sc - committed];
    return canonical_json(std::string_view(path_).substr(b, d - b));
  }
  std::string raw = bytes_.substr(scopes_[sc].begin);
  raw.append(path_, 0, d);
  return canonical_json(raw);
}

void Matcher::fill_path(uint32_t node) {
  const TokenTrie& t = *trie_;
  for (uint32_t cur = 0; t.depth(cur) + 1 < t.depth(node);) {
    uint32_t c = cur + 1;
    while (t.subtree_end(c) <= node) c = t.subtree_end(c);
    path_[t.depth(c) - 1] = static_cast<char>(t.byte(c));
    cur = c;
  }
}

void Matcher::find_duplicate_closer(uint32_t* out) {
  closer_item_ = closer_dup_ = false;
  const int64_t list = list_of(scope_);
  if (list < 0) return;
  const char open = bytes_[scopes_[scope_].begin];
  const char close = open == '{' ? '}' : ']';
  closer_item_ = true;
  closer_val_ = canonical_json(bytes_.substr(scopes_[scope_].begin) + close);
  closer_dup_ = seen_in_scope(static_cast<uint32_t>(list), closer_val_);
  if (!closer_dup_) return;
  // the tokens that end on the closer (JSON whitespace, then the bracket) from here
  const TokenTrie& t = *trie_;
  std::vector<std::pair<uint32_t, int32_t>> stack{{0, lex_state_}};
  while (!stack.empty()) {
    const auto [node, state] = stack.back();
    stack.pop_back();
    for (uint32_t c = node + 1, end = t.subtree_end(node); c < end; c = t.subtree_end(c)) {
      const uint8_t b = t.byte(c);
      const bool space = b == ' ' || b == '\t' || b == '\n' || b == '\r';
      if (!space && b != static_cast<uint8_t>(close)) continue;
      const int32_t q = lexer_->next(state, b);
      if (q == kDead) continue;
      if (space) {
        stack.push_back({c, q});
      } else if (closes_list(q)) {
        for (const int32_t* id = t.tokens_begin(c); id != t.tokens_end(c); ++id)
          out[*id >> 5] &= ~(1u << (*id & 31));
      }
    }
  }
}

bool Matcher::closes_list(int32_t s) const {
  if (s < 0) return false;
  for (int32_t lx : lexer_->accepting(s))
    if (extras_->distinct[lx] == kDistinctCloser) return true;
  return false;
}

bool Matcher::seen_in_scope(uint32_t sc, const std::string& v) const {
  for (size_t k = scopes_[sc].first; k < seen_.size(); ++k)
    if (seen_scope_[k] == sc && seen_[k] == v) return true;
  return false;
}

bool Matcher::live_item(int32_t s) const {
  if (s < 0) return false;
  for (int32_t lx : lexer_->live_lexemes(s))
    if (extras_->distinct[lx] == kDistinctItem) return true;
  return false;
}

bool Matcher::end_committed(int32_t s, bool record, bool* dup_out) {
  if (!distinct_) return end_lexeme(s);
  std::string v;
  bool dup = false;
  const bool item = item_close(s) != kNoItem;
  int64_t list = -1;  // a value list whose item this closer closes
  if (item) {
    v = decode_json_string(std::string_view(bytes_).substr(lex_begin_));
    dup = seen_in_scope(scope_, v);
  } else if (has_value_lists_ && closes_list(s) && (list = list_of(scope_)) >= 0) {
    v = canonical_json(std::string_view(bytes_).substr(scopes_[scope_].begin));
    if (seen_in_scope(static_cast<uint32_t>(list), v)) {
      if (dup_out != nullptr) *dup_out = true;
      return false;  // only a closer takes a closing bracket
    }
  }
  if (dup_out != nullptr) *dup_out = dup;
  if (!end_lexeme(s, dup)) return false;
  if (record) {
    if (item && !dup) {
      seen_.push_back(std::move(v));
      seen_scope_.push_back(scope_);
      ++live_items_;
    } else if (opens_list(s)) {
      const uint32_t begin = static_cast<uint32_t>(bytes_.empty() ? 0 : bytes_.size() - 1);
      scopes_.push_back(Scope{scope_, static_cast<uint32_t>(seen_.size()), begin, opens_value_list(s)});
      scope_ = static_cast<uint32_t>(scopes_.size() - 1);
    } else if (closes_list(s)) {
      for (size_t k = scopes_[scope_].first; k < seen_.size(); ++k) live_items_ -= seen_scope_[k] == scope_;
      scope_ = scopes_[scope_].parent;
      if (list >= 0) {  // the item of a value list: recorded in the list
        seen_.push_back(std::move(v));
        seen_scope_.push_back(scope_);
        ++live_items_;
      }
    }
    ++seen_gen_;
  }
  return true;
}

void Matcher::find_duplicate_closes(uint32_t* out) {
  dup_nodes_.clear();
  dead_nodes_.clear();
  if (seen_.size() == scopes_[scope_].first || !live_item(lex_state_)) return;
  const TokenTrie& t = *trie_;
  JsonStringDecoder d0;
  std::string p0;
  for (size_t k = lex_begin_; k < bytes_.size(); ++k)
    if (!d0.feed(static_cast<uint8_t>(bytes_[k]), p0)) return;
  if (d0.closed()) return;
  // The values of the open scope, sorted: those that start with a given decoded prefix are a
  // range, so one walk follows all of them (the trie paths that spell a prefix of some value).
  if (sorted_gen_ != seen_gen_) {
    sorted_.clear();
    for (size_t k = scopes_[scope_].first; k < seen_.size(); ++k)
      if (seen_scope_[k] == scope_) sorted_.push_back(static_cast<uint32_t>(k));
    std::sort(sorted_.begin(), sorted_.end(), [&](uint32_t a, uint32_t b) { return seen_[a] < seen_[b]; });
    sorted_gen_ = seen_gen_;
  }
  // narrows [lo, hi) (sorted_ indices) to the values with `piece` at `pos`
  auto narrow = [&](uint32_t& lo, uint32_t& hi, size_t pos, const std::string& piece) {
    auto cmp_lo = [&](uint32_t a, int) { return seen_[a].compare(pos, piece.size(), piece) < 0; };
    auto cmp_hi = [&](int, uint32_t a) { return seen_[a].compare(pos, piece.size(), piece) > 0; };
    // values shorter than pos + |piece| compare as shorter (less) when their tail is a prefix
    const auto b = sorted_.begin();
    lo = static_cast<uint32_t>(std::lower_bound(b + lo, b + hi, 0, cmp_lo) - b);
    hi = static_cast<uint32_t>(std::upper_bound(b + lo, b + hi, 0, cmp_hi) - b);
  };
  if (sorted_.empty()) return;
  uint32_t lo0 = 0, hi0 = static_cast<uint32_t>(sorted_.size());
  // values shorter than p0 sort before those that start with it: compare on p0's length
  narrow(lo0, hi0, 0, p0);
  if (lo0 == hi0) return;
  struct Item {
    uint32_t node;
    int32_t state;
    JsonStringDecoder d;
    uint32_t pos, lo, hi;
  };
  std::vector<Item> stack{{0, lex_state_, d0, static_cast<uint32_t>(p0.size()), lo0, hi0}};
  std::string tmp;
  int64_t visited = 0;
  while (!stack.empty()) {
    const Item it = stack.back();
    stack.pop_back();
    for (uint32_t c = it.node + 1, end = t.subtree_end(it.node); c < end; c = t.subtree_end(c)) {
      ++visited;
      const uint8_t b = t.byte(c);
      const int32_t q = lexer_->next(it.state, b);
      if (q == kDead) continue;  // the lexeme ends before: an exit, walked with its value
      JsonStringDecoder d = it.d;
      tmp.clear();
      if (!d.feed(b, tmp)) continue;
      uint32_t lo = it.lo, hi = it.hi;
      if (!tmp.empty()) narrow(lo, hi, it.pos, tmp);
      if (lo == hi) continue;
      const uint32_t pos = it.pos + static_cast<uint32_t>(tmp.size());
      if (!d.closed()) {
        if (has_finite_items_ && finite_live(q) && may_run_out(q, d, hi - lo)) {
          // a prefix whose every completion may have been used
          used_scratch_.clear();
          for (uint32_t k = lo; k < hi; ++k) used_scratch_.push_back(&seen_[sorted_[k]]);
          if (dead_key(q, d, pos, used_scratch_)) {
            // the tokens below that stay inside the lexeme (the inside bits; those that leave
            // it are exits, skipped below dead_nodes_)
            std::vector<std::pair<uint32_t, int32_t>> below{{c, q}};
            while (!below.empty()) {
              const auto [n, sn] = below.back();
              below.pop_back();
              for (const int32_t* id = t.tokens_begin(n); id != t.tokens_end(n); ++id)
                out[*id >> 5] &= ~(1u << (*id & 31));
              for (uint32_t k = n + 1, e = t.subtree_end(n); k < e; k = t.subtree_end(k)) {
                ++visited;
                const int32_t sk = lexer_->next(sn, t.byte(k));
                if (sk != kDead) below.push_back({k, sk});
              }
            }
            dead_nodes_.push_back(c);
            continue;
          }
        }
        stack.push_back({c, q, d, pos, lo, hi});
        continue;
      }
      // the string closes here: a duplicate if some value in the range is exactly this long
      bool exact = false;
      for (uint32_t k = lo; k < hi && !exact; ++k) exact = seen_[sorted_[k]].size() == pos;
      if (!exact) continue;
      const ItemClose ic = item_close(q);
      if (ic == kNoItem) continue;
      dup_nodes_.push_back(c);
      // a token ending here closes a duplicate, unless another lexeme takes the same text
      if (ic == kAll && !lexer_->can_extend(q))
        for (const int32_t* id = t.tokens_begin(c); id != t.tokens_end(c); ++id)
          out[*id >> 5] &= ~(1u << (*id & 31));
    }
  }
  std::sort(dup_nodes_.begin(), dup_nodes_.end());
  std::sort(dead_nodes_.begin(), dead_nodes_.end());
  charge_work(visited, "finding the tokens that would repeat a list item");
}

bool Matcher::under_dup_node(uint32_t node) const {
  const TokenTrie& t = *trie_;
  auto it = std::lower_bound(dup_nodes_.begin(), dup_nodes_.end(), node);
  while (it != dup_nodes_.begin()) {
    const uint32_t p = *--it;
    if (node < t.subtree_end(p) && t.depth(node) == t.depth(p) + 1) return true;
  }
  return false;
}

uint32_t Matcher::scope_after(int32_t s, const DistinctFrame& f, DistinctFrame& nd, uint32_t begin) {
  const uint32_t committed = static_cast<uint32_t>(scopes_.size());
  if (opens_list(s)) {
    const uint32_t k = f.nscopes, parent = f.scope;  // (nd may be f)
    walk_scopes_.resize(k);
    walk_scopes_.push_back(parent);
    if (has_value_lists_) {
      walk_scope_begin_.resize(k);
      walk_scope_begin_.push_back(begin);
      walk_scope_values_.resize(k);
      walk_scope_values_.push_back(opens_value_list(s));
    }
    nd.nscopes = k + 1;
    return committed + k;
  }
  if (closes_list(s))
    return f.scope >= committed ? walk_scopes_[f.scope - committed] : scopes_[f.scope].parent;
  return f.scope;
}

bool Matcher::seen_in_walk(const std::string& v, const DistinctFrame& f) {
  for (uint32_t k = 0; k < f.nvals; ++k)
    if (walk_val_scope_[k] == f.scope && walk_vals_[k] == v) return true;
  if (f.scope >= scopes_.size()) return false;  // a scope the token opened
  if (seen_in_scope(f.scope, v)) return true;
  if (f.scope != scope_) return false;  // the exit's item (below) is one of scope_
  const std::string* b = walk_base_item();
  return b != nullptr && *b == v;
}

const std::string* Matcher::walk_base_item() {
  if (base_item_node_ >= 0) {
    // the item the exit's parent path closed: the committed part of the lexeme, then the
    // bytes from the trie root down to that parent
    const TokenTrie& t = *trie_;
    const uint32_t n = static_cast<uint32_t>(base_item_node_);
    std::string raw = bytes_.substr(lex_begin_);
    for (uint32_t cur = 0; t.depth(cur) + 1 < t.depth(n);) {
      uint32_t c = cur + 1;
      while (t.subtree_end(c) <= n) c = t.subtree_end(c);
      raw.push_back(static_cast<char>(t.byte(c)));
      cur = c;
    }
    base_item_ = decode_json_string(raw);
    base_item_node_ = -2;
  }
  return base_item_node_ == -2 ? &base_item_ : nullptr;
}

void Matcher::compute_mask_exits_distinct(const std::vector<MaskCacheEntry::Exit>& exits, uint32_t* out) {
  const TokenTrie& t = *trie_;
  const size_t rows = parser_.num_rows();
  for (size_t a = 0; a < exits.size();) {
    size_t b = a;
    while (b < exits.size() && exits[b].parent == exits[a].parent) ++b;
    const int32_t parent = exits[a].parent;
    // the scope the exits' walks start in (the parent's lexeme may open or close one)
    DistinctFrame f0{0, false, 0, 0, scope_};
    // a closer of a value list's item at the parent: a repeat ends nothing; another item is
    // recorded for the walks (its value does not depend on the path: whitespace, a bracket)
    const bool closes_item = closer_item_ && closes_list(parent);
    if (closes_item && closer_dup_) {
      a = b;
      continue;
    }
    f0.scope = scope_after(parent, f0, f0, 0);  // (the bracket's place: by exit, below)
    if (closes_item) {
      walk_vals_.resize(1);
      walk_val_scope_.resize(1);
      walk_vals_[0] = closer_val_;
      walk_val_scope_[0] = f0.scope;
      f0.nvals = 1;
    }
    // An item that closes at the parent: its value depends on the path there (a repeat
    // below dup_nodes_, scanned without the item lexeme; the others are the walk's base
    // item). The parser row depends only on whether it is a repeat: one end per kind.
    const bool item = item_close(parent) != kNoItem;
    for (const bool dup : {false, true}) {
      if (dup && (!item || dup_nodes_.empty())) break;
      if (end_lexeme(parent, dup)) {
        const int32_t s0 = lexer_->start_state(parser_.top().lexset);
        for (size_t k = a; s0 != kDead && k < b; ++k) {
          const uint32_t node = exits[k].node;
          if (lexer_->next(s0, t.byte(node)) == kDead || (item && under_dup_node(node) != dup)) continue;
          if (!dead_nodes_.empty() && under_dead_node(node)) continue;
          const uint16_t base = t.depth(node) - 1;
          dframes_[base] = f0;
          dframes_[base].lex_start = base;
          if (has_value_lists_) {
            path_pending_ = node;
            if (f0.nscopes == 1) walk_scope_begin_[0] = base > 0 ? base - 1 : 0;  // the parent's bracket
          }
          base_item_node_ = item && !dup ? static_cast<int64_t>(node) : -1;
          walk<true>(node, t.subtree_end(node), s0, out);
        }
      }
      parser_.truncate(rows);
    }
    a = b;
  }
  base_item_node_ = -1;
  path_pending_ = -1;
}

bool Matcher::distinct_step(uint16_t d, bool ended, int32_t prev, int32_t q) {
  const DistinctFrame& df = dframes_[d - 1];
  DistinctFrame& nd = dframes_[d];
  nd = df;
  if (ended) {  // the lexeme of lexer state `prev` ended before this byte
    nd.lex_start = d - 1;
    nd.dup = false;
    if (!df.dup && item_close(prev) != kNoItem) {
      walk_vals_.resize(df.nvals);
      walk_val_scope_.resize(df.nvals);
      walk_vals_.push_back(close_val_[d - 1]);
      walk_val_scope_.push_back(df.scope);
      nd.nvals = df.nvals + 1;
    } else {
      const int64_t list = df.dup || !closes_list(prev) ? -1 : list_of(df.scope);
      nd.scope = scope_after(prev, df, nd, d >= 2 ? d - 2 : 0);
      if (list >= 0) {  // an item of a value list closed before this byte (close_val_[d - 1])
        walk_vals_.resize(nd.nvals);
        walk_val_scope_.resize(nd.nvals);
        walk_vals_.push_back(close_val_[d - 1]);
        walk_val_scope_.push_back(static_cast<uint32_t>(list));
        nd.nvals += 1;
      }
    }
  }
  if (has_value_lists_ && (path_[d - 1] == '}' || path_[d - 1] == ']') && closes_list(q)) {
    const int64_t list = list_of(nd.scope);
    if (list >= 0) {  // the bracket closes an item of a value list: refused if a repeat
      close_val_[d] = scope_value(nd.scope, d);
      DistinctFrame lf = nd;
      lf.scope = static_cast<uint32_t>(list);
      if (seen_in_walk(close_val_[d], lf)) return false;
    }
  }
  if (path_[d - 1] == '"' && item_close(q) != kNoItem) {
    close_val_[d] = decode_json_string(std::string_view(path_).substr(nd.lex_start, d - nd.lex_start));
    nd.dup = seen_in_walk(close_val_[d], nd);
    if (nd.dup && item_close(q) == kAll && !lexer_->can_extend(q)) return false;
  }
  // a key prefix whose every completion was used (matcher_dead_keys.cc)
  if (has_finite_items_ && finite_live(q) &&
      dead_key_raw(q, std::string_view(path_).substr(nd.lex_start, d - nd.lex_start), &nd))
    return false;
  return true;
}

}  // namespace decoder
