#include "earley.h"

#include <algorithm>
#include <climits>

#include "budget.h"
#include "errors.h"

namespace decoder {
namespace {
inline uint64_t key(int32_t dot, int32_t origin) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(dot)) << 32) | static_cast<uint32_t>(origin);
}
inline uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}
}  // namespace

EarleyParser::EarleyParser(Grammar* g) : g_(g), lexer_(&g->lexer()) {
  seen_.assign(1024, 0);
  seen_gen_.assign(1024, 0);
  lex_mark_.assign(g->num_lexemes(), 0);
  reset();
}

void EarleyParser::reset() {
  nrows_ = 0;
  begin_row(-1);
  add(g_->start_dot(), 0);
  close_row(0, -1);
}

void EarleyParser::begin_row(int64_t scan_key) {
  uint64_t parent = nrows_ ? rows_[nrows_ - 1].serial : 0;
  uint32_t begin = items_end();
  EarleyRow r{begin, begin, -1, -1, false, next_serial_++, parent, scan_key};
  if (nrows_ < rows_.size())
    rows_[nrows_] = r;
  else
    rows_.push_back(r);
  ++nrows_;
  nitems_ = begin;
  // rows above the new one described items that are about to be overwritten
  if (rows_.size() > nrows_) rows_.resize(nrows_);
  ++gen_;
}

void EarleyParser::add(int32_t dot, int32_t origin) {
  // grow the table when half full
  const uint32_t row_begin = rows_[nrows_ - 1].begin;
  size_t row_items = nitems_ - row_begin;
  if (row_items * 2 >= seen_.size()) {
    size_t cap = seen_.size() * 2;
    seen_.assign(cap, 0);
    seen_gen_.assign(cap, 0);
    ++gen_;
    for (size_t i = row_begin; i < nitems_; ++i) {
      uint64_t k = key(items_[i].dot, items_[i].origin);
      size_t h = mix(k) & (cap - 1);
      while (seen_gen_[h] == gen_) h = (h + 1) & (cap - 1);
      seen_[h] = k;
      seen_gen_[h] = gen_;
    }
  }
  uint64_t k = key(dot, origin);
  size_t mask = seen_.size() - 1;
  size_t h = mix(k) & mask;
  while (seen_gen_[h] == gen_) {
    if (seen_[h] == k) return;
    h = (h + 1) & mask;
  }
  seen_[h] = k;
  seen_gen_[h] = gen_;
  if (static_cast<int64_t>(row_items) >= g_->limits().max_items_per_row)
    throw LimitError("Earley row exceeds the limit of " + std::to_string(g_->limits().max_items_per_row) +
                         " items (max_items_per_row)",
                     "max_items_per_row");
  if (nitems_ < items_.size())
    items_[nitems_] = {dot, origin};
  else
    items_.push_back({dot, origin});
  ++nitems_;
}

const std::vector<std::pair<int32_t, uint32_t>>& EarleyParser::index_of(int32_t row) {
  if (row_index_.size() <= static_cast<size_t>(row)) row_index_.resize(row + 1);
  RowIndex& ix = row_index_[row];
  const EarleyRow& r = rows_[row];
  if (ix.serial != r.serial) {
    ix.serial = r.serial;
    ix.by_sym.clear();
    for (uint32_t j = r.begin; j < r.end; ++j) ix.by_sym.emplace_back(g_->dot_sym(items_[j].dot), j);
    std::sort(ix.by_sym.begin(), ix.by_sym.end());
    charge_work(4 * static_cast<int64_t>(ix.by_sym.size()), "indexing Earley rows");
  }
  return ix.by_sym;
}

void EarleyParser::close_row(int32_t k, int32_t banned_ignore) {
  EarleyRow& row = rows_[k];
  int64_t work = 0;  // items processed and origin items scanned, not yet charged
  for (size_t i = row.begin; i < nitems_; ++i) {
    if (work >= 4096) {
      charge_work(work, "closing Earley rows");
      work = 0;
    }
    EarleyItem it = items_[i];
    int32_t sym = g_->dot_sym(it.dot);
    ++work;
    if (sym == kEnd) {
      if (it.origin == k) continue;  // empty derivation: handled when it was predicted
      int32_t lhs = g_->dot_lhs(it.dot);
      const EarleyRow& o = rows_[it.origin];
      if (o.end - o.begin < kIndexMinItems) {
        work += o.end - o.begin;
        for (uint32_t j = o.begin; j < o.end; ++j)
          if (g_->dot_sym(items_[j].dot) == lhs) add(items_[j].dot + 1, items_[j].origin);
      } else {
        const auto& ix = index_of(it.origin);
        auto lo = std::lower_bound(ix.begin(), ix.end(), std::make_pair(lhs, uint32_t(0)));
        for (auto p = lo; p != ix.end() && p->first == lhs; ++p) {
          ++work;
          add(items_[p->second].dot + 1, items_[p->second].origin);
        }
      }
    } else if (sym >= 0) {
      const auto& fd = g_->first_dots(sym);
      work += static_cast<int64_t>(fd.size());
      for (int32_t d : fd) add(d, k);
      if (g_->nullable(sym)) add(it.dot + 1, it.origin);
    }
  }
  charge_work(work + 8, "closing Earley rows");
  EarleyRow& r = rows_[k];
  r.end = static_cast<uint32_t>(nitems_);
  r.banned_ignore = banned_ignore;
  r.accepting = false;
  for (uint32_t j = r.begin; j < r.end; ++j)
    if (items_[j].dot == g_->accept_dot() && items_[j].origin == 0) {
      r.accepting = true;
      break;
    }
  r.lexset = compute_lexset(r.begin, r.end, banned_ignore);
}

int32_t EarleyParser::compute_lexset(uint32_t begin, uint32_t end, int32_t banned_ignore) {
  if (++lex_gen_ == 0) {
    std::fill(lex_mark_.begin(), lex_mark_.end(), 0);
    lex_gen_ = 1;
  }
  scratch_lexemes_.clear();
  for (uint32_t j = begin; j < end; ++j) {
    int32_t sym = g_->dot_sym(items_[j].dot);
    if (sym < 0 && sym != kEnd) {
      int32_t lx = -sym - 1;
      if (lex_mark_[lx] != lex_gen_) {
        lex_mark_[lx] = lex_gen_;
        scratch_lexemes_.push_back(lx);
      }
    }
  }
  for (int32_t lx : g_->ignore_lexemes())
    if (lx != banned_ignore && lex_mark_[lx] != lex_gen_) {
      lex_mark_[lx] = lex_gen_;
      scratch_lexemes_.push_back(lx);
    }
  std::sort(scratch_lexemes_.begin(), scratch_lexemes_.end());
  uint64_t h = scratch_lexemes_.size();
  for (int32_t lx : scratch_lexemes_)
    h = mix(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(lx)) + 0x9e3779b97f4a7c15ull));
  h |= 1;  // 0: an empty slot
  auto& slot = lexset_cache_[(h >> 7) % kLexsetCache];
  if (slot.first == h && lexer_->lexset(slot.second) == scratch_lexemes_) return slot.second;
  const int32_t id = lexer_->intern_lexset(scratch_lexemes_);
  slot = {h, id};
  return id;
}

bool EarleyParser::scan(const std::vector<int32_t>& lexemes, int64_t scan_key) {
  const EarleyRow prev = rows_[nrows_ - 1];
  int32_t k = static_cast<int32_t>(nrows_);
  begin_row(scan_key);
  try {
    for (uint32_t j = prev.begin; j < prev.end; ++j) {
      int32_t sym = g_->dot_sym(items_[j].dot);
      if (sym < 0 && sym != kEnd && std::binary_search(lexemes.begin(), lexemes.end(), -sym - 1))
        add(items_[j].dot + 1, items_[j].origin);
    }
    if (nitems_ == rows_[k].begin) {
      nrows_ = k;
      rows_.resize(k);
      return false;
    }
    close_row(k, -1);
  } catch (...) {  // a limit: drop the half-built row, so that revive() never finds it
    nrows_ = k;
    rows_.resize(k);
    throw;
  }
  return true;
}

void EarleyParser::scan_ignore(int32_t lexeme, int64_t scan_key) {
  EarleyRow prev = rows_[nrows_ - 1];
  begin_row(scan_key);
  EarleyRow& r = rows_[nrows_ - 1];
  // shares the items of the row below: same parse, one ignore lexeme later
  r.begin = prev.begin;
  r.end = prev.end;
  r.accepting = prev.accepting;
  r.banned_ignore = lexeme;
  r.lexset = compute_lexset(r.begin, r.end, lexeme);
}

int64_t EarleyParser::completion_cost(int32_t origin, int32_t nt,
                                      std::vector<std::pair<uint64_t, int64_t>>& memo, int depth) {
  // Cost to finish the sentence once `nt`, started at row `origin`, is complete.
  if (nt == g_->augmented_nt()) return 0;
  uint64_t k = key(nt, origin);
  for (auto& m : memo)
    if (m.first == k) return m.second;
  if (depth > 10000) return kInfLen;
  memo.emplace_back(k, kInfLen);  // guards against cycles through unit completions
  const EarleyRow& o = rows_[origin];
  int64_t best = kInfLen;
  for (uint32_t j = o.begin; j < o.end; ++j) {
    const EarleyItem& it = items_[j];
    if (g_->dot_sym(it.dot) != nt) continue;
    int64_t c = g_->dot_min_rest(it.dot + 1);
    if (c >= best) continue;
    c += completion_cost(it.origin, g_->dot_lhs(it.dot), memo, depth + 1);
    best = std::min(best, c);
  }
  for (auto& m : memo)
    if (m.first == k) m.second = best;
  return best;
}

int64_t EarleyParser::min_completion(int32_t lexeme, int64_t lexeme_rest) {
  std::vector<std::pair<uint64_t, int64_t>> memo;
  const EarleyRow& r = rows_[nrows_ - 1];
  int64_t best = kInfLen;
  for (uint32_t j = r.begin; j < r.end; ++j) {
    const EarleyItem& it = items_[j];
    int32_t sym = g_->dot_sym(it.dot);
    int64_t c;
    if (lexeme >= 0) {
      if (sym != -(lexeme + 1)) continue;
      c = lexeme_rest + g_->dot_min_rest(it.dot + 1);
    } else {
      c = g_->dot_min_rest(it.dot);
    }
    if (c >= best) continue;
    c += completion_cost(it.origin, g_->dot_lhs(it.dot), memo, 0);
    best = std::min(best, c);
  }
  if (lexeme >= 0 && g_->is_ignore(lexeme)) {
    int64_t rest = min_completion(-1, 0);
    best = std::min(best, rest >= kInfLen ? kInfLen : rest + lexeme_rest);
  }
  return best;
}

}  // namespace decoder
