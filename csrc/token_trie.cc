#include "token_trie.h"

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <stdexcept>

#include "errors.h"

namespace decoder {

TokenTrie::TokenTrie(std::string blob, std::vector<uint32_t> offsets, int32_t mask_width,
                     const std::vector<int32_t>& eos_ids, const std::vector<int32_t>& excluded_ids)
    : blob_(std::move(blob)), offsets_(std::move(offsets)), eos_ids_(eos_ids), mask_width_(mask_width) {
  if (offsets_.empty() || offsets_.front() != 0 || offsets_.back() != blob_.size())
    throw std::invalid_argument("token offsets do not describe the byte blob");
  for (size_t i = 1; i < offsets_.size(); ++i)
    if (offsets_[i] < offsets_[i - 1]) throw std::invalid_argument("token offsets must not decrease");
  const int32_t n_tokens = vocab_size();
  excluded_.assign(n_tokens, 0);
  if (mask_width < n_tokens) throw std::invalid_argument("mask width is smaller than the vocabulary");
  for (int32_t id : excluded_ids)
    if (id >= 0 && id < n_tokens) excluded_[id] = 1;
  for (int32_t id : eos_ids) {
    if (id < 0 || id >= mask_width) throw std::invalid_argument("eos id out of range");
    if (id < n_tokens) excluded_[id] = 1;
  }
  std::vector<std::string_view> tokens(n_tokens);
  for (int32_t i = 0; i < n_tokens; ++i) {
    tokens[i] = std::string_view(blob_.data() + offsets_[i], offsets_[i + 1] - offsets_[i]);
    const auto quotes = std::count(tokens[i].begin(), tokens[i].end(), '"');
    if (!excluded_[i] && quotes >= 2) two_quote_tokens_.push_back(i);
    if (!excluded_[i] && quotes >= 3) quote_tokens_.push_back(i);
    if (!excluded_[i] && std::count(tokens[i].begin(), tokens[i].end(), '}') +
                                 std::count(tokens[i].begin(), tokens[i].end(), ']') >=
                             2)
      bracket_tokens_.push_back(i);
  }
  // Sort the ids that go into the trie by their bytes (unsigned order); equal strings stay
  // adjacent and share one node.
  std::vector<int32_t> order;
  order.reserve(tokens.size());
  for (int32_t i = 0; i < static_cast<int32_t>(tokens.size()); ++i)
    if (!excluded_[i] && !tokens[i].empty()) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    std::string_view x = tokens[a], y = tokens[b];
    int c = x.compare(y);  // char_traits<char>::compare is memcmp: unsigned byte order
    return c != 0 ? c < 0 : a < b;
  });

  // Build the depth-first node array with a stack of open nodes (the path to the last token).
  nodes_.push_back({0, 0, 0, 0, 0, 0});
  parent_.push_back(0);
  std::vector<uint32_t> path{0};  // path[d] = node at depth d on the current path
  std::string_view prev;
  for (int32_t id : order) {
    std::string_view s = tokens[id];
    if (s.size() > 0xFFFF) throw std::invalid_argument("token longer than 65535 bytes");
    size_t common = 0;
    while (common < s.size() && common < prev.size() && s[common] == prev[common]) ++common;
    if (common == s.size() && s.size() == prev.size() && !path.empty() && path.size() == s.size() + 1) {
      // the same bytes as the previous token (a duplicate): one more id on that node
      Node& nd = nodes_[path.back()];
      if (nd.tok_count == 255) throw std::invalid_argument("more than 255 tokens with the same bytes");
      nd.tok_count++;
      ids_.push_back(id);
      continue;
    }
    // close nodes deeper than the common prefix
    while (path.size() > common + 1) {
      nodes_[path.back()].end = size();
      path.pop_back();
    }
    for (size_t d = common; d < s.size(); ++d) {
      nodes_.push_back({0, 0, static_cast<uint16_t>(d + 1), static_cast<uint8_t>(s[d]), 0, 0});
      parent_.push_back(path.back());
      path.push_back(size() - 1);
    }
    max_depth_ = std::max<uint16_t>(max_depth_, static_cast<uint16_t>(s.size()));
    // ids arrive in node order, so each node's ids are contiguous in ids_
    Node& nd = nodes_[path.back()];
    nd.tok_begin = static_cast<uint32_t>(ids_.size());
    nd.tok_count = 1;
    ids_.push_back(id);
    prev = s;
  }
  while (!path.empty()) {
    nodes_[path.back()].end = size();
    path.pop_back();
  }
  // deepest: children come after their parent, so a backward pass sees them first
  for (uint32_t i = size(); i-- > 0;) {
    Node& nd = nodes_[i];
    nd.deepest = nd.depth;
    for (uint32_t j = i + 1; j < nd.end; j = nodes_[j].end)
      nd.deepest = std::max(nd.deepest, nodes_[j].deepest);
  }
  // Text-only tokens and the text frontier (see text_tokens()); ok[d]: the path down to the
  // current node at depth d is all text bytes.
  int slots = 0;
  for (int b = 0; b < 256; ++b)
    if (is_text_byte(static_cast<uint8_t>(b))) text_slot_[b] = static_cast<uint8_t>(slots++);
  text_tokens_.assign(mask_words(), 0);
  text_by_first_.assign(size_t(slots) * mask_words(), 0);
  text_by_len_.assign(size_t(kTextLenCap) * mask_words(), 0);
  std::vector<uint8_t> ok(size_t(max_depth_) + 2, 0);
  ok[0] = 1;
  uint32_t* by_first = nullptr;  // the mask of the current root child's first byte
  auto set = [](uint32_t* m, int32_t id) { m[id >> 5] |= 1u << (id & 31); };
  for (uint32_t i = 1; i < size(); ++i) {
    const Node& nd = nodes_[i];
    if (!ok[nd.depth - 1]) {
      ok[nd.depth] = 0;
      continue;
    }
    ok[nd.depth] = is_text_byte(nd.byte);
    if (nd.depth == kTextLenCap + 1 || (!ok[nd.depth] && nd.depth <= kTextLenCap)) text_capped_.push_back(i);
    if (!ok[nd.depth]) {
      text_frontier_.push_back(i);
      continue;
    }
    if (nd.depth == 1) by_first = text_by_first_.data() + size_t(text_slot_[nd.byte]) * mask_words();
    for (uint32_t k = nd.tok_begin; k < nd.tok_begin + nd.tok_count; ++k) {
      set(text_tokens_.data(), ids_[k]);
      set(by_first, ids_[k]);
      if (nd.depth <= kTextLenCap) set(text_by_len_.data() + size_t(nd.depth - 1) * mask_words(), ids_[k]);
    }
  }
  // the full class: bound = the deepest class node (no node at bound + 1 is in the class)
  int deepest = 0;
  {
    std::vector<int> u(size_t(max_depth_) + 2, 0);
    for (uint32_t i = 1; i < size(); ++i) {
      const Node& nd = nodes_[i];
      u[nd.depth] = u[nd.depth - 1] == kUtf8Reject ? kUtf8Reject : utf8_step(u[nd.depth - 1], nd.byte);
      if (u[nd.depth] != kUtf8Reject) deepest = std::max<int>(deepest, nd.depth);
      if (u[nd.depth - 1] != kUtf8Reject && nd.deepest > kShortClass) deep_class_.push_back(i);
      // (a node after a boundary: where a class without (or with) this boundary byte leaves
      // (or enters) the full class)
      if (u[nd.depth - 1] == 0) boundary_by_byte_[nd.byte].push_back(i);
    }
  }
  for (int b = 0; b < 256; ++b)
    if (utf8_step(0, static_cast<uint8_t>(b)) != kUtf8Reject) {
      full_class_.lead[b >> 6] |= uint64_t(1) << (b & 63);
      short_class_.lead[b >> 6] |= uint64_t(1) << (b & 63);
    }
  build_class(full_class_, deepest);
  build_class(short_class_, std::min(deepest, kShortClass));
  // the text class's cuts that per-grammar cut slices are derived from (derive_cut)
  auto cut_base_of = [&](int bound, int under, uint32_t first, uint32_t last) {
    auto c = std::make_unique<ClassSlice>();
    std::copy(full_class_.lead, full_class_.lead + 4, c->lead);
    c->cut = bound;
    c->under = under;
    build_class(*c, bound, first, last);
    cut_bases_.push_back(std::move(c));
  };
  if (deepest > kRecordCut) cut_base_of(kRecordCut, -1, 1, size());
  for (uint32_t i = 1; i < size(); i = nodes_[i].end)
    if (nodes_[i].end - i >= kLargeChild && utf8_step(0, nodes_[i].byte) == 0 && i + 1 < nodes_[i].end)
      cut_base_of(kShortClass, nodes_[i].byte, i + 1, nodes_[i].end);
}

int TokenTrie::utf8_step(int d, uint8_t b) {
  // States: 0 boundary; 1, 2, 3: that many continuation bytes (80-BF) still due; 4: after E0
  // (A0-BF next); 5: after ED (80-9F next, no surrogates); 6: after F0 (90-BF next); 7: after
  // F4 (80-8F next, at most U+10FFFF).
  switch (d) {
    case 0:
      if (b < 0x80) return is_text_byte(b) ? 0 : kUtf8Reject;
      if (b >= 0xC2 && b <= 0xDF) return 1;
      if (b == 0xE0) return 4;
      if (b == 0xED) return 5;
      if (b >= 0xE1 && b <= 0xEF) return 2;
      if (b == 0xF0) return 6;
      if (b >= 0xF1 && b <= 0xF3) return 3;
      if (b == 0xF4) return 7;
      return kUtf8Reject;
    case 1:
    case 2:
    case 3: return (b >= 0x80 && b <= 0xBF) ? d - 1 : kUtf8Reject;
    case 4: return (b >= 0xA0 && b <= 0xBF) ? 1 : kUtf8Reject;
    case 5: return (b >= 0x80 && b <= 0x9F) ? 1 : kUtf8Reject;
    case 6: return (b >= 0x90 && b <= 0xBF) ? 2 : kUtf8Reject;
    case 7: return (b >= 0x80 && b <= 0x8F) ? 2 : kUtf8Reject;
  }
  return kUtf8Reject;
}

int TokenTrie::build_class(ClassSlice& c, int bound, uint32_t first, uint32_t last) const {
  // One pass in node order: u[d] is the class DFA state after the path to the current node at
  // depth d (kUtf8Reject once it left the class); path[d] the node itself, so that a node to
  // walk can mark its ancestors as skeleton (stopping at the first one already marked).
  // [first, last): the nodes below the node at depth `base` (the root: every node); the class
  // strings begin below it, and depths count from it.
  if (last == 0) last = size();
  const int base = first < last ? nodes_[first].depth - 1 : 0;
  c.bound = bound;
  c.tokens.assign(mask_words(), 0);
  c.skeleton.clear();
  c.bytes.clear();
  c.depths.clear();
  std::vector<int> u(size_t(max_depth_) + 2, 0);
  std::vector<uint32_t> path(size_t(max_depth_) + 2, 0);
  std::vector<uint8_t> mark(size(), 0);  // 1: skeleton ancestor, 2: walk whole
  int deepest = 0;
  u[base] = 0;
  for (uint32_t i = first; i < last; ++i) {
    const Node& nd = nodes_[i];
    path[nd.depth] = i;
    if (u[nd.depth - 1] == kUtf8Reject || nd.depth - base > bound + 1) {
      u[nd.depth] = kUtf8Reject;
      continue;
    }
    u[nd.depth] = class_step(c.lead, u[nd.depth - 1], nd.byte);
    if (u[nd.depth] == kUtf8Reject || nd.depth - base == bound + 1) {
      mark[i] = 2;
      for (int d = nd.depth - 1; d > base && mark[path[d]] == 0; --d) mark[path[d]] = 1;
      u[nd.depth] = kUtf8Reject;  // nothing below is the slice's
      continue;
    }
    deepest = std::max<int>(deepest, nd.depth - base);
    for (uint32_t k = nd.tok_begin; k < nd.tok_begin + nd.tok_count; ++k)
      c.tokens[ids_[k] >> 5] |= 1u << (ids_[k] & 31);
  }
  for (uint32_t i = first; i < last; ++i)
    if (mark[i]) {
      c.skeleton.push_back(mark[i] == 2 ? (i | kSkeletonFrontier) : i);
      c.bytes.push_back(nodes_[i].byte);
      c.depths.push_back(nodes_[i].depth);
    }
  return deepest;
}

void TokenTrie::build_suffixes(ClassSlice& c) const {
  // The frontier nodes of c's skeleton, by the class DFA state above them: 0 (a boundary) goes
  // to the suffix trie, others to the mid skeleton (with their ancestors, as build_class does).
  std::vector<uint8_t> mark(size(), 0);
  std::vector<uint32_t> boundary;
  {
    std::vector<int> u(size_t(max_depth_) + 2, 0);
    std::vector<uint32_t> path(size_t(max_depth_) + 2, 0);
    for (size_t k = 0; k < c.skeleton.size(); ++k) {
      const uint32_t x = c.skeleton[k];
      const uint32_t i = x & ~kSkeletonFrontier;
      const uint16_t d = c.depths[k];
      path[d] = i;
      if (!(x & kSkeletonFrontier)) {
        u[d] = class_step(c.lead, u[d - 1], c.bytes[k]);
        continue;
      }
      if (u[d - 1] == 0) {
        boundary.push_back(i);
        continue;
      }
      mark[i] = 2;
      for (int a = d - 1; a >= 1 && mark[path[a]] == 0; --a) mark[path[a]] = 1;
    }
  }
  for (uint32_t i = 1; i < size(); ++i)
    if (mark[i]) {
      c.mid.push_back(mark[i] == 2 ? (i | kSkeletonFrontier) : i);
      c.mid_bytes.push_back(nodes_[i].byte);
      c.mid_depths.push_back(nodes_[i].depth);
    }
  // Every node below a boundary frontier node f (f included), as its suffix (the bytes from f
  // down to it), sorted by suffix then node: equal suffixes become one node of the new trie.
  struct Entry {
    uint64_t head;  // the first 8 bytes, big-endian (zero-padded): most comparisons end here
    uint32_t off;   // into blob
    uint16_t len;
    uint32_t node;
  };
  std::string blob;
  std::vector<Entry> entries;
  std::string buf(size_t(max_depth_) + 1, '\0');
  for (uint32_t f : boundary) {
    const uint16_t base = nodes_[f].depth - 1;
    for (uint32_t k = f; k < nodes_[f].end; ++k) {
      const uint16_t len = nodes_[k].depth - base;
      buf[len - 1] = static_cast<char>(nodes_[k].byte);
      uint64_t head = 0;
      for (int j = 0; j < 8; ++j) head = head << 8 | (j < len ? static_cast<uint8_t>(buf[j]) : 0);
      entries.push_back({head, static_cast<uint32_t>(blob.size()), len, k});
      blob.append(buf, 0, len);
    }
  }
  auto view = [&](const Entry& x) { return std::string_view(blob.data() + x.off, x.len); };
  std::sort(entries.begin(), entries.end(), [&](const Entry& a, const Entry& b) {
    if (a.head != b.head) return a.head < b.head;  // (a zero pad sorts a prefix first)
    const int r = view(a).compare(view(b));
    return r != 0 ? r < 0 : a.node < b.node;
  });
  ClassSlice::Suffixes& t = c.suffix;
  t.end.assign(1, 0);
  t.byte.assign(1, 0);
  t.depth.assign(1, 0);
  t.tok.assign(1, 0);
  t.org.assign(1, 0);
  std::vector<uint32_t> path{0};
  std::string_view prev;
  for (const Entry& x : entries) {
    const std::string_view sfx = view(x);
    size_t common = 0;
    while (common < sfx.size() && common < prev.size() && sfx[common] == prev[common]) ++common;
    if (!(common == sfx.size() && sfx.size() == prev.size())) {
      while (path.size() > common + 1) {
        t.end[path.back()] = static_cast<uint32_t>(t.end.size());
        path.pop_back();
      }
      for (size_t d = common; d < sfx.size(); ++d) {
        path.push_back(static_cast<uint32_t>(t.end.size()));
        t.end.push_back(0);
        t.byte.push_back(static_cast<uint8_t>(sfx[d]));
        t.depth.push_back(static_cast<uint16_t>(d + 1));
        t.tok.push_back(static_cast<uint32_t>(t.ids.size()));
        t.org.push_back(static_cast<uint32_t>(t.nodes.size()));
      }
      prev = sfx;
    }
    // (entries arrive in node order of the new trie: each node's ids and nodes are contiguous)
    const Node& nd = nodes_[x.node];
    for (uint32_t k = nd.tok_begin; k < nd.tok_begin + nd.tok_count; ++k) t.ids.push_back(ids_[k]);
    t.nodes.push_back(x.node);
  }
  while (!path.empty()) {
    t.end[path.back()] = static_cast<uint32_t>(t.end.size());
    path.pop_back();
  }
  t.tok.push_back(static_cast<uint32_t>(t.ids.size()));
  t.org.push_back(static_cast<uint32_t>(t.nodes.size()));
  c.has_suffixes.store(true, std::memory_order_release);
}

bool TokenTrie::derive_class(ClassSlice& c) const {
  // c's class is the full class less the boundary bytes `out`, plus the ASCII boundary bytes
  // `in` (DEL: JSON strings need not escape it, text_tokens() leave it out). Its frontier, in
  // node order: the full class's outside the subtrees of the tops (the nodes where a string
  // first meets an `out` byte at a character boundary: boundary_by_byte_), the tops, and for
  // a full frontier node whose byte is `in` after a boundary, its subtree's frontier under c
  // (explored as build_class does); its tokens the full class's less the tops' subtrees', plus
  // those explored; its skeleton that frontier with its ancestors, through parent_.
  const ClassSlice& f = full_class_;
  uint64_t out[4], in[4];
  for (int w = 0; w < 4; ++w) {
    out[w] = f.lead[w] & ~c.lead[w];
    in[w] = c.lead[w] & ~f.lead[w];
  }
  in[2] = in[3] = 0;  // (a byte from 80 to FF is no character's first where the full class rejects it)
  auto has = [](const uint64_t* m, int b) { return (m[b >> 6] >> (b & 63) & 1) != 0; };
  size_t n_moved = 0;
  for (int b = 0; b < 256; ++b)
    if (has(out, b) || has(in, b)) n_moved += boundary_by_byte_[b].size();
  if (n_moved > size() / 8) return false;
  // the moved nodes, in node order: one bit per node, scanned
  std::vector<uint64_t> bits((size_t(size()) + 63) / 64, 0);
  for (int b = 0; b < 256; ++b)
    if (has(out, b) || has(in, b))
      for (uint32_t i : boundary_by_byte_[b]) bits[i >> 6] |= uint64_t(1) << (i & 63);
  c.tokens = f.tokens;
  c.skeleton.clear();
  c.bytes.clear();
  c.depths.clear();
  int deepest = f.bound;
  // last[d]: the last node put at depth d (an ancestor of the next node is put iff it is there)
  std::vector<uint32_t> last(size_t(max_depth_) + 2, 0), up(size_t(max_depth_) + 2, 0);
  std::vector<int> u(size_t(max_depth_) + 2, 0);
  auto put_frontier = [&](uint32_t i) {
    size_t m = 0;
    for (uint32_t a = parent_[i]; a != 0 && last[nodes_[a].depth] != a; a = parent_[a]) up[m++] = a;
    // (root side first, then i itself: up[0] = i)
    std::copy_backward(up.begin(), up.begin() + m, up.begin() + m + 1);
    for (up[0] = i, ++m; m > 0;) {
      const uint32_t a = up[--m];
      c.skeleton.push_back(a == i ? (a | kSkeletonFrontier) : a);
      c.bytes.push_back(nodes_[a].byte);
      c.depths.push_back(nodes_[a].depth);
      last[nodes_[a].depth] = a;
    }
  };
  auto tokens_of = [&](uint32_t k, bool on) {
    const Node& nd = nodes_[k];
    for (uint32_t j = nd.tok_begin; j < nd.tok_begin + nd.tok_count; ++j) {
      if (on)
        c.tokens[ids_[j] >> 5] |= 1u << (ids_[j] & 31);
      else
        c.tokens[ids_[j] >> 5] &= ~(1u << (ids_[j] & 31));
    }
  };
  size_t fk = 0;  // into f.skeleton
  const size_t fn = f.skeleton.size();
  uint32_t below = 0;  // the end of the last subtree handled whole
  auto full_frontier_before = [&](uint32_t end) {
    for (; fk < fn && (f.skeleton[fk] & ~kSkeletonFrontier) < end; ++fk) {
      const uint32_t x = f.skeleton[fk];
      if ((x & kSkeletonFrontier) && (x & ~kSkeletonFrontier) >= below) put_frontier(x & ~kSkeletonFrontier);
    }
  };
  for (size_t w = 0; w < bits.size(); ++w)
    for (uint64_t x = bits[w]; x != 0; x &= x - 1) {
      const uint32_t i = static_cast<uint32_t>(w * 64 + __builtin_ctzll(x));
      if (i < below) continue;
      full_frontier_before(i);
      const uint32_t end = nodes_[i].end;
      if (has(out, nodes_[i].byte)) {
        put_frontier(i);
        for (uint32_t k = i; k < end; ++k) tokens_of(k, false);
      } else {
        // an `in` byte after a boundary (a full frontier node): its subtree under c
        const int d0 = nodes_[i].depth - 1;
        u[d0] = 0;
        for (uint32_t k = i; k < end;) {
          const Node& nd = nodes_[k];
          u[nd.depth] = class_step(c.lead, u[nd.depth - 1], nd.byte);
          if (u[nd.depth] == kUtf8Reject) {
            put_frontier(k);
            k = nd.end;
            continue;
          }
          deepest = std::max<int>(deepest, nd.depth);
          tokens_of(k, true);
          ++k;
        }
      }
      below = end;
    }
  full_frontier_before(size());
  // (an upper bound of the deepest class node; class_slice's callers read no bound)
  c.bound = deepest;
  return true;
}

const TokenTrie::ClassSlice* TokenTrie::cut_base(int bound, int under) const {
  if (under < 0 && bound == short_class_.bound && bound == kShortClass) return &short_class_;
  for (const auto& c : cut_bases_)
    if (c->cut == bound && c->under == under) return c.get();
  return nullptr;
}

bool TokenTrie::derive_cut(ClassSlice& c, const ClassSlice& base) const {
  // The tops: the nodes after a character boundary whose byte is `out` (the text class holds
  // it, c's does not), within the cut (below the root child `under` when there is one, where
  // the text class is at a boundary again: its byte is ASCII text), in node order. c's
  // frontier is base's outside the tops' subtrees and the tops; its skeleton that frontier
  // with its ancestors (base's, and those of a top that base's skeleton lacks, through
  // parent_); its tokens base's less those of the tops' subtrees.
  uint64_t out[4];
  for (int w = 0; w < 4; ++w) {
    if (c.lead[w] & ~base.lead[w]) return false;
    out[w] = base.lead[w] & ~c.lead[w];
  }
  const int cut = base.bound;  // (the short slice: cut 0, bound kShortClass)
  uint32_t first = 1, last = size();
  int d0 = 0;  // the depth the class strings begin below
  if (base.under >= 0) {
    first = last = 1;
    for (uint32_t i = 1; i < size(); i = nodes_[i].end)
      if (nodes_[i].byte == base.under) {
        first = i + 1;
        last = nodes_[i].end;
      }
    d0 = 1;
  }
  // (each byte's list is in node order: those below an earlier top of the same byte are left
  // out as they come, and the lists merged; below a top of another byte: the merge skips them)
  std::vector<uint32_t> tops;
  for (int b = 0; b < 256; ++b) {
    if (!(out[b >> 6] >> (b & 63) & 1)) continue;
    const std::vector<uint32_t>& v = boundary_by_byte_[b];
    const size_t mid = tops.size();
    uint32_t end = 0;
    for (auto it = std::lower_bound(v.begin(), v.end(), first); it != v.end() && *it < last; ++it)
      if (*it >= end && nodes_[*it].depth - d0 <= cut) {
        tops.push_back(*it);
        end = nodes_[*it].end;
      }
    std::inplace_merge(tops.begin(), tops.begin() + mid, tops.end());
  }
  if (tops.size() > base.skeleton.size()) return false;
  c.bound = cut;
  c.tokens = base.tokens;
  c.skeleton.clear();
  c.bytes.clear();
  c.depths.clear();
  c.skeleton.reserve(base.skeleton.size() + tops.size());
  c.bytes.reserve(base.skeleton.size() + tops.size());
  c.depths.reserve(base.skeleton.size() + tops.size());
  // last_at[d]: the last node put at depth d (an ancestor of the next node is put iff it is there)
  std::vector<uint32_t> last_at(size_t(max_depth_) + 2, 0), up(size_t(max_depth_) + 2, 0);
  uint32_t below = 0;  // the end of the last top's subtree
  auto put_top = [&](uint32_t i) {
    size_t m = 0;
    for (uint32_t a = parent_[i]; nodes_[a].depth > d0 && last_at[nodes_[a].depth] != a; a = parent_[a])
      up[m++] = a;
    while (m > 0) {  // (root side first)
      const uint32_t a = up[--m];
      c.skeleton.push_back(a);
      c.bytes.push_back(nodes_[a].byte);
      c.depths.push_back(nodes_[a].depth);
      last_at[nodes_[a].depth] = a;
    }
    c.skeleton.push_back(i | kSkeletonFrontier);
    c.bytes.push_back(nodes_[i].byte);
    c.depths.push_back(nodes_[i].depth);
    last_at[nodes_[i].depth] = i;
    below = nodes_[i].end;
    for (uint32_t k = i; k < below;) {
      const Node& nd = nodes_[k];
      if (nd.depth - d0 > cut) {
        k = nd.end;
        continue;
      }
      for (uint32_t j = nd.tok_begin; j < nd.tok_begin + nd.tok_count; ++j)
        c.tokens[ids_[j] >> 5] &= ~(1u << (ids_[j] & 31));
      ++k;
    }
  };
  size_t t = 0;
  for (size_t k = 0; k < base.skeleton.size(); ++k) {
    const uint32_t x = base.skeleton[k];
    const uint32_t i = x & ~kSkeletonFrontier;
    for (; t < tops.size() && tops[t] <= i; ++t)
      if (tops[t] >= below) put_top(tops[t]);
    if (i < below) continue;
    c.skeleton.push_back(x);
    c.bytes.push_back(base.bytes[k]);
    c.depths.push_back(base.depths[k]);
    last_at[base.depths[k]] = i;
  }
  for (; t < tops.size(); ++t)
    if (tops[t] >= below) put_top(tops[t]);
  return true;
}

namespace {
// DECODER_CHECK_SLICES=1: every derived cut slice is compared with build_class's pass (tests).
bool check_slices() {
  static const bool on = [] {
    const char* v = std::getenv("DECODER_CHECK_SLICES");
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  return on;
}
}  // namespace

const TokenTrie::ClassSlice* TokenTrie::class_slice(const uint64_t lead[4], int bound, int under) const {
  auto same = [&](const uint64_t* x) { return std::equal(x, x + 4, lead); };
  std::lock_guard<std::mutex> lock(slices_mu_);
  for (const auto& c : slices_)
    if (same(c->lead) && c->cut == bound && c->under == under) return c.get();
  if (under < 0 && same(full_class_.lead) && bound == 0) return &full_class_;
  if (under < 0 && same(short_class_.lead) && bound == short_class_.bound) return &short_class_;
  if (slices_.size() >= kMaxClassSlices) return nullptr;
  auto c = std::make_unique<ClassSlice>();
  std::copy(lead, lead + 4, c->lead);
  c->id = static_cast<int>(slices_.size()) + 1;
  c->cut = bound;
  c->under = under;
  uint32_t first = 1, last = size();
  if (under >= 0) {  // below the root child of byte `under` (none: an empty slice)
    first = last = 1;
    for (uint32_t i = 1; i < size(); i = nodes_[i].end)
      if (nodes_[i].byte == under) {
        first = i + 1;
        last = nodes_[i].end;
      }
  }
  // one pass: with no cut (bound 0) at a bound (max_depth_ + 1 is no node's depth), the bound
  // is then the deepest class node; with a cut, the class tokens of at most `bound` bytes
  if (first >= last) {
    c->tokens.assign(mask_words(), 0);
    c->bound = bound;
  } else if (bound == 0 && under < 0 && derive_class(*c)) {
    // the whole class from the full class's slice (section 49; c->bound an upper bound)
  } else if (const ClassSlice* base = bound > 0 ? cut_base(bound, under) : nullptr;
             base != nullptr && derive_cut(*c, *base)) {
    // a cut from the text class's cut (section 71)
    if (check_slices()) {
      ClassSlice x;
      std::copy(lead, lead + 4, x.lead);
      build_class(x, bound, first, last);
      if (x.tokens != c->tokens || x.skeleton != c->skeleton || x.bytes != c->bytes || x.depths != c->depths)
        throw std::logic_error("class_slice: a derived cut slice differs from build_class's");
    }
  } else {
    c->bound =
        bound == 0 ? build_class(*c, max_depth_, first, last) : (build_class(*c, bound, first, last), bound);
  }
  slices_.push_back(std::move(c));
  return slices_.back().get();
}

bool TokenTrie::suffixes(const ClassSlice& c) const {
  if (c.has_suffixes.load(std::memory_order_acquire)) return true;
  if (c.id == 0 || c.suffix_asks.fetch_add(1, std::memory_order_relaxed) + 1 < kSuffixAfter) return false;
  std::lock_guard<std::mutex> lock(slices_mu_);
  if (c.has_suffixes.load(std::memory_order_acquire)) return true;
  // (slices are only handed out const; the suffix fields are written here once, under the
  // lock, before has_suffixes is set, and never after)
  build_suffixes(const_cast<ClassSlice&>(c));
  return true;
}

std::pair<const uint32_t*, const uint32_t*> TokenTrie::text_frontier_in(uint32_t first, uint32_t last) const {
  const uint32_t* b = text_frontier_.data();
  const uint32_t* e = b + text_frontier_.size();
  return {std::lower_bound(b, e, first), std::lower_bound(b, e, last)};
}

bool TokenTrie::is_eos(int32_t id) const {
  return std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end();
}

std::string_view TokenTrie::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return std::string_view(blob_.data() + offsets_[id], offsets_[id + 1] - offsets_[id]);
}

}  // namespace decoder
