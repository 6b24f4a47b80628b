#include "token_trie.h"

#include <algorithm>
#include <numeric>

#include "errors.h"

namespace decoder {

TokenTrie::TokenTrie(const std::vector<std::string>& tokens, int32_t mask_width,
                     const std::vector<int32_t>& eos_ids, const std::vector<int32_t>& excluded_ids)
    : token_bytes_(tokens), excluded_(tokens.size(), 0), eos_ids_(eos_ids), mask_width_(mask_width) {
  if (mask_width < static_cast<int32_t>(tokens.size()))
    throw std::invalid_argument("mask width is smaller than the vocabulary");
  for (int32_t id : excluded_ids)
    if (id >= 0 && id < static_cast<int32_t>(tokens.size())) excluded_[id] = 1;
  for (int32_t id : eos_ids) {
    if (id < 0 || id >= mask_width) throw std::invalid_argument("eos id out of range");
    if (id < static_cast<int32_t>(tokens.size())) excluded_[id] = 1;
  }
  // Sort the ids that go into the trie by their bytes (unsigned order); equal strings stay
  // adjacent and share one node.
  std::vector<int32_t> order;
  order.reserve(tokens.size());
  for (int32_t i = 0; i < static_cast<int32_t>(tokens.size()); ++i)
    if (!excluded_[i] && !tokens[i].empty()) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const std::string& x = tokens[a];
    const std::string& y = tokens[b];
    int c = x.compare(y);  // std::string compares char_traits<char>, i.e. memcmp: unsigned
    return c != 0 ? c < 0 : a < b;
  });

  // Build the depth-first node array with a stack of open nodes (the path to the last token).
  nodes_.push_back({0, 0, 0, 0, 0, 0});
  std::vector<uint32_t> path{0};  // path[d] = node at depth d on the current path
  std::string prev;
  for (int32_t id : order) {
    const std::string& s = tokens[id];
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
}

bool TokenTrie::is_eos(int32_t id) const {
  return std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end();
}

const std::string& TokenTrie::token_bytes(int32_t id) const {
  static const std::string empty;
  if (id < 0 || id >= vocab_size()) return empty;
  return token_bytes_[id];
}

}  // namespace decoder
