// The regex algebra's automaton core (decoder/grammar/json_schema/automata.py): DFAs over code
// points as flat arrays, and the constructions the JSON Schema front end spends its time in
// (subset construction, products, trimming, Moore minimisation). Header-only: it is compiled
// into the Cython module decoder/grammar/json_schema/_automata.pyx, not into the engine.
//
// Every construction here does exactly what the Python it replaced did, in the same order:
// the same states numbered the same way, and the same counted work charged at the same points
// (the state budget, the per-construction work budget and the per-compile work budget), so
// that what compiles, and the grammar it compiles to, does not change.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace decoder::cpdfa {

struct Edge {
  int32_t lo, hi, to;
};

// state q's edges are e[off[q] .. off[q + 1]), sorted and disjoint; fin[q] != 0: q is final
struct Dfa {
  std::vector<int32_t> off{0};
  std::vector<Edge> e;
  std::vector<uint8_t> fin;
  int32_t n() const { return static_cast<int32_t>(fin.size()); }
  void close_state(bool final) {
    off.push_back(static_cast<int32_t>(e.size()));
    fin.push_back(final ? 1 : 0);
  }
  int32_t degree(int32_t q) const { return off[q + 1] - off[q]; }
};

// a construction's outcome: 0 done, else the budget it ran out of
enum Status : int {
  kOk = 0,
  kTooLarge = 1,     // more states than the construction's budget
  kWork = 2,         // more work than MAX_WORK in this construction
  kCompileWork = 3,  // more work than MAX_WORK_PER_COMPILE in this compile
  kCallback = 4,     // the deadline callback raised (the caller re-raises it)
};

// the budgets of automata.py's _Budget and _charge_compile
struct Budget {
  int64_t left = 0;              // states still allowed
  int64_t work_left = 0;         // work still allowed in this construction
  int64_t* shared = nullptr;     // work still allowed in this compile (nullptr: no compile budget)
  int (*tick)(void*) = nullptr;  // the deadline check, every 128 states; nonzero: stop
  void* ctx = nullptr;

  int charge(int64_t k) {
    if (shared) {
      *shared -= k;
      if (*shared < 0) return kCompileWork;
    }
    return kOk;
  }
  int spend() {
    left -= 1;
    if (left < 0) return kTooLarge;
    if ((left & 127) == 0 && tick && tick(ctx)) return kCallback;
    return kOk;
  }
  int work(int64_t k) {
    work_left -= k;
    if (work_left < 0) return kWork;
    return charge(k);
  }
};

struct VecHash {
  size_t operator()(const std::vector<int32_t>& v) const {
    uint64_t h = 1469598103934665603ull ^ v.size();
    for (int32_t x : v) {
      h ^= static_cast<uint32_t>(x);
      h *= 1099511628211ull;
      h ^= h >> 29;
    }
    return static_cast<size_t>(h);
  }
};
using StateIds = std::unordered_map<std::vector<int32_t>, int32_t, VecHash>;

// automata.py's _merge: sorted, with adjacent intervals of one target joined
inline void merge(std::vector<Edge>& es) {
  std::sort(es.begin(), es.end(), [](const Edge& a, const Edge& b) {
    if (a.lo != b.lo) return a.lo < b.lo;
    if (a.hi != b.hi) return a.hi < b.hi;
    return a.to < b.to;
  });
  size_t w = 0;
  for (size_t i = 0; i < es.size(); ++i) {
    if (w > 0 && es[w - 1].to == es[i].to && es[w - 1].hi + 1 >= es[i].lo) {
      es[w - 1].hi = std::max(es[w - 1].hi, es[i].hi);
    } else {
      es[w++] = es[i];
    }
  }
  es.resize(w);
}

inline void append_state(Dfa& out, std::vector<Edge>& es, bool final) {
  merge(es);
  out.e.insert(out.e.end(), es.begin(), es.end());
  out.close_state(final);
}

// Only the states reachable from the start that reach a final state, renumbered breadth-first
inline Dfa trim(const Dfa& d) {
  const int32_t n = d.n();
  std::vector<int32_t> roff(n + 1, 0), rev;
  for (const Edge& x : d.e) roff[x.to + 1]++;
  for (int32_t q = 0; q < n; ++q) roff[q + 1] += roff[q];
  rev.resize(d.e.size());
  {
    std::vector<int32_t> fill(roff.begin(), roff.end() - 1);
    for (int32_t q = 0; q < n; ++q)
      for (int32_t k = d.off[q]; k < d.off[q + 1]; ++k) rev[fill[d.e[k].to]++] = q;
  }
  std::vector<uint8_t> live(n, 0);
  std::vector<int32_t> stack;
  for (int32_t q = 0; q < n; ++q)
    if (d.fin[q]) {
      live[q] = 1;
      stack.push_back(q);
    }
  while (!stack.empty()) {
    int32_t q = stack.back();
    stack.pop_back();
    for (int32_t k = roff[q]; k < roff[q + 1]; ++k)
      if (!live[rev[k]]) {
        live[rev[k]] = 1;
        stack.push_back(rev[k]);
      }
  }
  Dfa out;
  if (n == 0 || !live[0]) {
    out.close_state(false);
    return out;
  }
  std::vector<int32_t> ids(n, -1), order{0};
  ids[0] = 0;
  for (size_t i = 0; i < order.size(); ++i)
    for (int32_t k = d.off[order[i]]; k < d.off[order[i] + 1]; ++k) {
      int32_t t = d.e[k].to;
      if (live[t] && ids[t] < 0) {
        ids[t] = static_cast<int32_t>(order.size());
        order.push_back(t);
      }
    }
  std::vector<Edge> es;
  for (int32_t q : order) {
    es.clear();
    for (int32_t k = d.off[q]; k < d.off[q + 1]; ++k)
      if (live[d.e[k].to]) es.push_back({d.e[k].lo, d.e[k].hi, ids[d.e[k].to]});
    append_state(out, es, d.fin[q]);
  }
  return out;
}

inline bool is_empty(const Dfa& d) { return std::find(d.fin.begin(), d.fin.end(), 1) == d.fin.end(); }

// The minimal trimmed DFA (Moore's refinement; one compile-budget charge of edges + states
// per round, as automata.py's minimize charged).
//
// Each round computes Moore's partition ~i (states that no string of length <= i tells apart)
// from ~i-1, but only re-examines the states whose signature can have changed: a state's
// signature (its edges' ranges and the classes they lead to) changes only when one of its
// successors left its class in the previous round, so a round looks at the predecessors of the
// states moved out in the round before ("dirty"), and a class keeps the states that are not
// dirty (their signatures are still equal) together with the dirty ones whose signature equals
// theirs. Same partitions round by round, so the same number of rounds and the same charges;
// a chain of n states (a counted repetition) costs O(n) instead of O(n^2).
inline int minimize(const Dfa& in, Budget& b, Dfa& out) {
  Dfa d = trim(in);
  if (is_empty(d)) {
    out = std::move(d);
    return kOk;
  }
  const int32_t n = d.n();
  const int64_t n_edges = static_cast<int64_t>(d.e.size()) + n;
  // predecessors (CSR), to find the states a move makes dirty
  std::vector<int32_t> roff(n + 1, 0), rev(d.e.size());
  for (const Edge& x : d.e) roff[x.to + 1]++;
  for (int32_t q = 0; q < n; ++q) roff[q + 1] += roff[q];
  {
    std::vector<int32_t> fill(roff.begin(), roff.end() - 1);
    for (int32_t q = 0; q < n; ++q)
      for (int32_t k = d.off[q]; k < d.off[q + 1]; ++k) rev[fill[d.e[k].to]++] = q;
  }
  // classes as ranges of elems: class c holds elems[first[c] .. end[c]), loc[q] is q's index
  std::vector<int32_t> cls(n), elems(n), loc(n), first, end;
  {
    int32_t n_fin = 0;
    for (int32_t q = 0; q < n; ++q) n_fin += d.fin[q] ? 1 : 0;
    int32_t w0 = 0, w1 = n - n_fin;
    for (int32_t q = 0; q < n; ++q) {
      cls[q] = d.fin[q] ? 1 : 0;
      int32_t at = d.fin[q] ? w1++ : w0++;
      elems[at] = q;
      loc[q] = at;
    }
    first = {0, n - n_fin};
    end = {n - n_fin, n};
  }
  auto signature = [&](int32_t q, std::vector<int32_t>& sig) {
    sig.clear();
    for (int32_t k = d.off[q]; k < d.off[q + 1]; ++k) {
      const Edge& x = d.e[k];
      int32_t c = cls[x.to];
      size_t m = sig.size();
      if (m > 1 && sig[m - 1] == c && sig[m - 2] + 1 >= x.lo) {
        sig[m - 2] = std::max(sig[m - 2], x.hi);
      } else {
        sig.push_back(x.lo);
        sig.push_back(x.hi);
        sig.push_back(c);
      }
    }
  };
  std::vector<int32_t> dirty(n), next_dirty;
  for (int32_t q = 0; q < n; ++q) dirty[q] = q;  // round 1 examines every state
  std::vector<uint8_t> marked(n, 0);
  std::vector<int32_t> touched;
  std::vector<std::vector<int32_t>> in_class(2);
  std::vector<std::vector<int32_t>> moves;  // groups of states leaving their class this round
  StateIds groups;
  std::vector<int32_t> sig, keep_sig;
  std::vector<std::vector<int32_t>> group_members;
  while (true) {
    if (int s = b.charge(n_edges)) return s;
    // dirty states by class
    touched.clear();
    for (int32_t q : dirty) {
      int32_t c = cls[q];
      if (in_class[c].empty()) touched.push_back(c);
      in_class[c].push_back(q);
    }
    // every signature of the round is read against the classes of ~i-1: decide all the
    // moves first, then apply them
    moves.clear();
    for (int32_t c : touched) {
      std::vector<int32_t>& ds = in_class[c];
      const int32_t size = end[c] - first[c];
      bool has_clean = static_cast<int32_t>(ds.size()) < size;
      if (has_clean) {
        for (int32_t q : ds) marked[q] = 1;
        int32_t clean = -1;
        for (int32_t k = first[c]; k < end[c]; ++k)
          if (!marked[elems[k]]) {
            clean = elems[k];
            break;
          }
        for (int32_t q : ds) marked[q] = 0;
        signature(clean, keep_sig);
      }
      groups.clear();
      group_members.clear();
      for (int32_t q : ds) {
        signature(q, sig);
        if (has_clean && sig == keep_sig) continue;
        auto it = groups.emplace(sig, static_cast<int32_t>(group_members.size())).first;
        if (it->second == static_cast<int32_t>(group_members.size())) group_members.emplace_back();
        group_members[it->second].push_back(q);
      }
      // with no clean state, the first group stays in the class
      for (size_t g = has_clean ? 0 : 1; g < group_members.size(); ++g)
        moves.push_back(std::move(group_members[g]));
      ds.clear();
    }
    if (moves.empty()) break;
    next_dirty.clear();
    for (const std::vector<int32_t>& g : moves) {
      int32_t c = cls[g[0]], nc = static_cast<int32_t>(first.size());
      for (int32_t q : g) {  // to the end of c's range, which then becomes class nc
        int32_t last = end[c] - 1, at = loc[q], other = elems[last];
        elems[at] = other;
        loc[other] = at;
        elems[last] = q;
        loc[q] = last;
        end[c] = last;
        cls[q] = nc;
      }
      first.push_back(end[c]);
      end.push_back(end[c] + static_cast<int32_t>(g.size()));
      in_class.emplace_back();
      for (int32_t q : g)
        for (int32_t k = roff[q]; k < roff[q + 1]; ++k)
          if (!marked[rev[k]]) {
            marked[rev[k]] = 1;
            next_dirty.push_back(rev[k]);
          }
    }
    for (int32_t q : next_dirty) marked[q] = 0;
    dirty.swap(next_dirty);
  }
  // classes numbered by their first state (the start's class is 0)
  std::vector<int32_t> num(first.size(), -1), rep;
  for (int32_t q = 0; q < n; ++q)
    if (num[cls[q]] < 0) {
      num[cls[q]] = static_cast<int32_t>(rep.size());
      rep.push_back(q);
    }
  Dfa m;
  std::vector<Edge> es;
  for (int32_t r : rep) {
    es.clear();
    for (int32_t k = d.off[r]; k < d.off[r + 1]; ++k)
      es.push_back({d.e[k].lo, d.e[k].hi, num[cls[d.e[k].to]]});
    append_state(m, es, d.fin[r]);
  }
  out = trim(m);
  return kOk;
}

// ------------------------------------------------------------------ subset construction
// An NFA over code points: state q's epsilon moves eps[eoff[q] .. eoff[q + 1]), its edges
// edges[off[q] .. off[q + 1]) (not necessarily sorted or disjoint).
struct Nfa {
  std::vector<int32_t> eoff{0}, eps;
  std::vector<int32_t> off{0};
  std::vector<Edge> e;
  int32_t n() const { return static_cast<int32_t>(off.size()) - 1; }
};

inline void closure(const Nfa& nfa, std::vector<int32_t>& set, std::vector<uint8_t>& seen,
                    std::vector<int32_t>& stack) {
  stack.assign(set.begin(), set.end());
  for (int32_t q : set) seen[q] = 1;
  while (!stack.empty()) {
    int32_t q = stack.back();
    stack.pop_back();
    for (int32_t k = nfa.eoff[q]; k < nfa.eoff[q + 1]; ++k) {
      int32_t t = nfa.eps[k];
      if (!seen[t]) {
        seen[t] = 1;
        set.push_back(t);
        stack.push_back(t);
      }
    }
  }
  for (int32_t q : set) seen[q] = 0;
  std::sort(set.begin(), set.end());
}

// automata.py's _determinize, then minimize
inline int determinize(const Nfa& nfa, int32_t start, int32_t final, Budget& b, Dfa& out) {
  std::vector<uint8_t> seen(nfa.n(), 0);
  std::vector<int32_t> stack;
  std::vector<std::vector<int32_t>> order;
  StateIds ids;
  std::vector<int32_t> s0{start};
  closure(nfa, s0, seen, stack);
  ids.emplace(s0, 0);
  order.push_back(s0);
  Dfa d;
  std::vector<int32_t> pts;
  std::vector<std::vector<int32_t>> buckets;
  std::vector<Edge> es;
  for (size_t i = 0; i < order.size(); ++i) {
    const std::vector<int32_t> S = order[i];
    bool is_final = std::binary_search(S.begin(), S.end(), final);
    // the disjoint intervals the edges leaving S induce, with their target sets
    pts.clear();
    int64_t n_in = 0;
    for (int32_t q : S) {
      n_in += nfa.off[q + 1] - nfa.off[q];
      for (int32_t k = nfa.off[q]; k < nfa.off[q + 1]; ++k) {
        pts.push_back(nfa.e[k].lo);
        pts.push_back(nfa.e[k].hi + 1);
      }
    }
    std::sort(pts.begin(), pts.end());
    pts.erase(std::unique(pts.begin(), pts.end()), pts.end());
    if (buckets.size() < pts.size()) buckets.resize(pts.size());
    for (size_t j = 0; j < pts.size(); ++j) buckets[j].clear();
    for (int32_t q : S)
      for (int32_t k = nfa.off[q]; k < nfa.off[q + 1]; ++k) {
        const Edge& x = nfa.e[k];
        size_t a = std::lower_bound(pts.begin(), pts.end(), x.lo) - pts.begin();
        size_t z = std::lower_bound(pts.begin(), pts.end(), x.hi + 1) - pts.begin();
        for (size_t j = a; j < z; ++j) buckets[j].push_back(x.to);
      }
    es.clear();
    for (size_t j = 0; j + 1 < pts.size(); ++j) {
      std::vector<int32_t>& T = buckets[j];
      if (T.empty()) continue;
      std::sort(T.begin(), T.end());
      T.erase(std::unique(T.begin(), T.end()), T.end());
      closure(nfa, T, seen, stack);
      auto it = ids.find(T);
      int32_t t;
      if (it == ids.end()) {
        if (int s = b.spend()) return s;
        t = static_cast<int32_t>(order.size());
        ids.emplace(T, t);
        order.push_back(T);
      } else {
        t = it->second;
      }
      es.push_back({pts[j], pts[j + 1] - 1, t});
    }
    if (int s = b.work(static_cast<int64_t>(es.size()) + n_in)) return s;
    append_state(d, es, is_final);
  }
  return minimize(d, b, out);
}

// ------------------------------------------------------------------ products
// automata.py's _cross: the intersections of two sorted disjoint edge lists, in order
template <class F>
inline void cross(const Edge* a, int32_t na, const Edge* z, int32_t nz, F&& emit) {
  int32_t i = 0, j = 0;
  while (i < na && j < nz) {
    int32_t lo = std::max(a[i].lo, z[j].lo), hi = std::min(a[i].hi, z[j].hi);
    if (lo <= hi) emit(lo, hi, a[i].to, z[j].to);
    if (a[i].hi < z[j].hi)
      ++i;
    else
      ++j;
  }
}

// automata.py's intersect: the product automaton, then minimize
inline int intersect(const Dfa& d1, const Dfa& d2, Budget& b, Dfa& out) {
  std::unordered_map<int64_t, int32_t> ids;
  std::vector<std::pair<int32_t, int32_t>> order{{0, 0}};
  ids.emplace(0, 0);
  Dfa d;
  std::vector<Edge> es;
  for (size_t i = 0; i < order.size(); ++i) {
    auto [p, q] = order[i];
    es.clear();
    int status = kOk;
    const Edge* e1 = d1.e.data() + d1.off[p];
    const Edge* e2 = d2.e.data() + d2.off[q];
    cross(e1, d1.degree(p), e2, d2.degree(q), [&](int32_t lo, int32_t hi, int32_t t1, int32_t t2) {
      if (status) return;
      int64_t key = (static_cast<int64_t>(t1) << 32) | static_cast<uint32_t>(t2);
      auto it = ids.find(key);
      int32_t t;
      if (it == ids.end()) {
        if ((status = b.spend())) return;
        t = static_cast<int32_t>(order.size());
        ids.emplace(key, t);
        order.push_back({t1, t2});
      } else {
        t = it->second;
      }
      es.push_back({lo, hi, t});
    });
    if (status) return status;
    if (int s = b.work(d1.degree(p) + d2.degree(q))) return s;
    append_state(d, es, d1.fin[p] && d2.fin[q]);
  }
  return minimize(d, b, out);
}

// automata.py's split_by, the product part: the product of ds over all code points (the
// surrogates excluded), and for each product state the tuple of component states
// (tuples[i * k + j]: component j of state i)
inline int product(const std::vector<Dfa>& ds, const std::vector<Edge>& all, Budget& b, Dfa& out,
                   std::vector<int32_t>& tuples) {
  const size_t k = ds.size();
  StateIds ids;
  std::vector<int32_t> key(k, 0);
  ids.emplace(key, 0);
  tuples.assign(key.begin(), key.end());
  // pieces: (lo, hi) with the tuple of targets so far, flattened
  std::vector<Edge> cur, nxt;
  std::vector<int32_t> cur_t, nxt_t;
  std::vector<Edge> es;
  for (size_t i = 0; i * k < tuples.size(); ++i) {
    cur.assign(all.begin(), all.end());
    cur_t.clear();  // component targets of piece p: cur_t[p * depth .. +depth)
    size_t depth = 0;
    int64_t n_in = 0;
    for (size_t j = 0; j < k; ++j) {
      int32_t q = tuples[i * k + j];
      n_in += ds[j].degree(q);
    }
    for (size_t j = 0; j < k && !cur.empty(); ++j) {
      int32_t q = tuples[i * k + j];
      const Dfa& dj = ds[j];
      nxt.clear();
      nxt_t.clear();
      // cur's targets field indexes its piece (its row of cur_t)
      for (size_t p = 0; p < cur.size(); ++p) cur[p].to = static_cast<int32_t>(p);
      cross(cur.data(), static_cast<int32_t>(cur.size()), dj.e.data() + dj.off[q], dj.degree(q),
            [&](int32_t lo, int32_t hi, int32_t p, int32_t t) {
              nxt.push_back({lo, hi, 0});
              nxt_t.insert(nxt_t.end(), cur_t.begin() + p * depth, cur_t.begin() + (p + 1) * depth);
              nxt_t.push_back(t);
            });
      cur.swap(nxt);
      cur_t.swap(nxt_t);
      depth += 1;
    }
    if (depth < k) cur.clear();  // Python's loop broke out: no edges
    es.clear();
    for (size_t p = 0; p < cur.size(); ++p) {
      key.assign(cur_t.begin() + p * k, cur_t.begin() + (p + 1) * k);
      auto it = ids.find(key);
      int32_t t;
      if (it == ids.end()) {
        if (int s = b.spend()) return s;
        t = static_cast<int32_t>(tuples.size() / k);
        ids.emplace(key, t);
        tuples.insert(tuples.end(), key.begin(), key.end());
      } else {
        t = it->second;
      }
      es.push_back({cur[p].lo, cur[p].hi, t});
    }
    if (int s = b.work(static_cast<int64_t>(es.size()) * static_cast<int64_t>(k) + n_in)) return s;
    append_state(out, es, false);
  }
  return kOk;
}

// ------------------------------------------------------------------ JSON encoding
// automata.py's encode_json: the DFA of the JSON string bodies that decode to a string of
// L(d). Its states are keyed as the Python keyed them: N q (at DFA state q), E q (after a
// backslash), H k segs (k hex digits of a \uXXXX still to read; segs: what each value of
// those digits leads to), P0 restr / P1 restr (a high surrogate read: "\" then "u" of the
// low one, restr the edges of its 1,024 code points). A segment list is interned: its
// segments (lo, hi, kind, val) with kind 0 "N" (val: a DFA state) or 1 "L" (val: an interned
// restr, a list of (lo, hi, t)).
class JsonEncoder {
 public:
  JsonEncoder(const Dfa& d, const std::vector<std::pair<int32_t, int32_t>>& plain, Budget& b)
      : d_(d), plain_(plain), b_(b), u_memo_(d.n(), -1) {}

  int run(Dfa& out) {
    Dfa enc;
    int32_t dummy;
    if (int s = sid(kN, 0, 0, dummy)) return s;
    std::vector<Edge> es;
    for (size_t i = 0; i < order_.size(); ++i) {
      const Key key = order_[i];
      es.clear();
      bool final = false;
      int s = kOk;
      if (key.kind == kN) {
        int32_t q = key.a;
        final = d_.fin[q] != 0;
        const Edge* e = d_.e.data() + d_.off[q];
        int32_t i1 = 0, j1 = 0, n1 = d_.degree(q), n2 = static_cast<int32_t>(plain_.size());
        while (i1 < n1 && j1 < n2) {  // _cross(d.edges[q], _PLAIN)
          int32_t lo = std::max(e[i1].lo, plain_[j1].first);
          int32_t hi = std::min(e[i1].hi, plain_[j1].second);
          if (lo <= hi) {
            int32_t t;
            if ((s = sid(kN, e[i1].to, 0, t))) return s;
            es.push_back({lo, hi, t});
          }
          if (e[i1].hi < plain_[j1].second)
            ++i1;
          else
            ++j1;
        }
        int32_t t;
        if ((s = sid(kE, q, 0, t))) return s;
        es.push_back({kBackslash, kBackslash, t});
      } else if (key.kind == kE) {
        int32_t q = key.a;
        static const int32_t kShort[8][2] = {{'"', 0x22}, {'\\', 0x5C}, {'/', 0x2F}, {'b', 0x08},
                                             {'f', 0x0C}, {'n', 0x0A},  {'r', 0x0D}, {'t', 0x09}};
        for (const auto& sc : kShort) {
          int32_t to = step(q, sc[1]);
          if (to >= 0) {
            int32_t t;
            if ((s = sid(kN, to, 0, t))) return s;
            es.push_back({sc[0], sc[0], t});
          }
        }
        int32_t segs = u_segs(q);
        if (!segs_[segs].empty()) {
          int32_t t;
          if ((s = sid(kH, 4, segs, t))) return s;
          es.push_back({'u', 'u', t});
        }
      } else if (key.kind == kH) {
        int32_t k = key.a;
        int32_t unit = 1 << (4 * (k - 1));
        for (int32_t dgt = 0; dgt < 16; ++dgt) {
          std::vector<int32_t> sub = restrict_segs(segs_[key.b], dgt * unit, dgt * unit + unit - 1);
          if (sub.empty()) continue;
          int32_t t;
          if (k - 1 == 0) {
            if (sub[2] == 0)
              s = sid(kN, sub[3], 0, t);
            else
              s = sid(kP0, sub[3], 0, t);
          } else {
            s = sid(kH, k - 1, intern_segs(sub), t);
          }
          if (s) return s;
          if (dgt < 10) {
            es.push_back({0x30 + dgt, 0x30 + dgt, t});
          } else {
            es.push_back({0x41 + dgt - 10, 0x41 + dgt - 10, t});
            es.push_back({0x61 + dgt - 10, 0x61 + dgt - 10, t});
          }
        }
      } else if (key.kind == kP0) {
        int32_t t;
        if ((s = sid(kP1, key.a, 0, t))) return s;
        es.push_back({kBackslash, kBackslash, t});
      } else {  // P1: the low surrogate's \uXXXX
        std::vector<int32_t> low;
        for (const Edge& x : restrs_[key.a]) {
          low.insert(low.end(), {x.lo + 0xDC00, x.hi + 0xDC00, 0, x.to});
        }
        int32_t t;
        if ((s = sid(kH, 4, intern_segs(low), t))) return s;
        es.push_back({'u', 'u', t});
      }
      if ((s = b_.work(static_cast<int64_t>(es.size())))) return s;
      append_state(enc, es, final);
    }
    out = trim(enc);
    return kOk;
  }

 private:
  enum Kind : int32_t { kN = 0, kE = 1, kH = 2, kP0 = 3, kP1 = 4 };
  static constexpr int32_t kBackslash = 0x5C;
  struct Key {
    int32_t kind, a, b;
  };

  int sid(int32_t kind, int32_t a, int32_t b, int32_t& out) {
    std::vector<int32_t> k{kind, a, b};
    auto it = ids_.find(k);
    if (it != ids_.end()) {
      out = it->second;
      return kOk;
    }
    if (int s = b_.spend()) return s;
    out = static_cast<int32_t>(order_.size());
    ids_.emplace(std::move(k), out);
    order_.push_back({kind, a, b});
    return kOk;
  }

  int32_t step(int32_t q, int32_t c) const {
    for (int32_t k = d_.off[q]; k < d_.off[q + 1]; ++k) {
      if (c < d_.e[k].lo) return -1;
      if (c <= d_.e[k].hi) return d_.e[k].to;
    }
    return -1;
  }

  // _restrict over (lo, hi, to) edges: those within [lo, hi], shifted to start at 0
  static void restrict_edges(const Edge* e, int32_t n, int32_t lo, int32_t hi, std::vector<Edge>& out) {
    // bisect_right on the starts, minus one, at least 0
    int32_t i = static_cast<int32_t>(
        std::upper_bound(e, e + n, lo, [](int32_t v, const Edge& x) { return v < x.lo; }) - e);
    i = std::max(i - 1, 0);
    for (; i < n && e[i].lo <= hi; ++i) {
      int32_t a = std::max(e[i].lo, lo), z = std::min(e[i].hi, hi);
      if (a <= z) out.push_back({a - lo, z - lo, e[i].to});
    }
  }

  // _restrict then _join over a segment list (4 ints a segment)
  static std::vector<int32_t> restrict_segs(const std::vector<int32_t>& segs, int32_t lo, int32_t hi) {
    std::vector<int32_t> out;
    const size_t n = segs.size() / 4;
    size_t lo_i = 0, hi_i = n;  // bisect_right on the starts
    while (lo_i < hi_i) {
      size_t mid = (lo_i + hi_i) / 2;
      if (lo < segs[mid * 4])
        hi_i = mid;
      else
        lo_i = mid + 1;
    }
    size_t i = lo_i > 0 ? lo_i - 1 : 0;
    for (; i < n && segs[i * 4] <= hi; ++i) {
      int32_t a = std::max(segs[i * 4], lo), z = std::min(segs[i * 4 + 1], hi);
      if (a <= z) join(out, a - lo, z - lo, segs[i * 4 + 2], segs[i * 4 + 3]);
    }
    return out;
  }

  static void join(std::vector<int32_t>& out, int32_t lo, int32_t hi, int32_t kind, int32_t val) {
    size_t m = out.size();
    if (m && out[m - 2] == kind && out[m - 1] == val && out[m - 3] + 1 == lo) {
      out[m - 3] = hi;
    } else {
      out.insert(out.end(), {lo, hi, kind, val});
    }
  }

  int32_t intern_segs(const std::vector<int32_t>& segs) {
    auto it = seg_ids_.find(segs);
    if (it != seg_ids_.end()) return it->second;
    int32_t id = static_cast<int32_t>(segs_.size());
    segs_.push_back(segs);
    seg_ids_.emplace(segs, id);
    return id;
  }

  int32_t intern_restr(const std::vector<Edge>& r) {
    std::vector<int32_t> flat;
    for (const Edge& x : r) flat.insert(flat.end(), {x.lo, x.hi, x.to});
    auto it = restr_ids_.find(flat);
    if (it != restr_ids_.end()) return it->second;
    int32_t id = static_cast<int32_t>(restrs_.size());
    restrs_.push_back(r);
    restr_ids_.emplace(std::move(flat), id);
    return id;
  }

  // _u_segments: what the four hex digits of \uXXXX lead to from state q
  int32_t u_segs(int32_t q) {
    if (u_memo_[q] >= 0) return u_memo_[q];
    const Edge* e = d_.e.data() + d_.off[q];
    const int32_t n = d_.degree(q);
    std::vector<Edge> part;
    // (lo, hi, kind, val) before the join, in the Python's order
    std::vector<std::array<int32_t, 4>> raw;
    restrict_edges(e, n, 0, 0x1F, part);
    for (const Edge& x : part) raw.push_back({x.lo, x.hi, 0, x.to});
    part.clear();
    restrict_edges(e, n, 0x80, 0xD7FF, part);
    for (const Edge& x : part) raw.push_back({x.lo + 0x80, x.hi + 0x80, 0, x.to});
    std::vector<Edge> hi_edges;
    restrict_edges(e, n, 0x10000, 0x10FFFF, hi_edges);
    std::vector<std::array<int32_t, 4>> high;
    std::vector<int32_t> partial;
    for (const Edge& x : hi_edges) {
      int32_t fa = (x.lo + 1023) / 1024, fb = (x.hi + 1) / 1024 - 1;
      if (fa <= fb) high.push_back({0xD800 + fa, 0xD800 + fb, 1, intern_restr({{0, 1023, x.to}})});
      for (int32_t h : {x.lo / 1024, x.hi / 1024})
        if (!(fa <= h && h <= fb)) partial.push_back(h);
    }
    std::sort(partial.begin(), partial.end());
    partial.erase(std::unique(partial.begin(), partial.end()), partial.end());
    for (int32_t h : partial) {
      std::vector<Edge> restr;
      restrict_edges(hi_edges.data(), static_cast<int32_t>(hi_edges.size()), h * 1024, h * 1024 + 1023,
                     restr);
      if (!restr.empty()) high.push_back({0xD800 + h, 0xD800 + h, 1, intern_restr(restr)});
    }
    std::sort(high.begin(), high.end(), [](const auto& x, const auto& y) { return x[0] < y[0]; });
    raw.insert(raw.end(), high.begin(), high.end());
    part.clear();
    restrict_edges(e, n, 0xE000, 0xFFFF, part);
    for (const Edge& x : part) raw.push_back({x.lo + 0xE000, x.hi + 0xE000, 0, x.to});
    std::vector<int32_t> segs;
    for (const auto& r : raw) join(segs, r[0], r[1], r[2], r[3]);
    return u_memo_[q] = intern_segs(segs);
  }

  const Dfa& d_;
  const std::vector<std::pair<int32_t, int32_t>>& plain_;
  Budget& b_;
  std::vector<int32_t> u_memo_;
  StateIds ids_, seg_ids_, restr_ids_;
  std::vector<Key> order_;
  std::vector<std::vector<int32_t>> segs_;
  std::vector<std::vector<Edge>> restrs_;
};

inline int encode_json(const Dfa& d, const std::vector<std::pair<int32_t, int32_t>>& plain, Budget& b,
                       Dfa& out) {
  return JsonEncoder(d, plain, b).run(out);
}

// ------------------------------------------------------------------ completion
// ir.py's normalize_ranges for code points: sorted, clipped, merged, the surrogates cut out
inline void normalize_cps(std::vector<std::pair<int32_t, int32_t>>& rs) {
  constexpr int32_t kTop = 0x10FFFF;
  std::vector<std::pair<int32_t, int32_t>> clipped;
  for (auto [a, b] : rs)
    if (a <= b && a <= kTop && b >= 0) clipped.push_back({std::max(a, 0), std::min(b, kTop)});
  std::sort(clipped.begin(), clipped.end());
  std::vector<std::pair<int32_t, int32_t>> merged;
  for (auto [a, b] : clipped) {
    if (!merged.empty() && a <= merged.back().second + 1)
      merged.back().second = std::max(merged.back().second, b);
    else
      merged.push_back({a, b});
  }
  rs.clear();
  for (auto [a, b] : merged) {
    if (a <= 0xDFFF && b >= 0xD800) {
      if (a < 0xD800) rs.push_back({a, 0xD7FF});
      if (b > 0xDFFF) rs.push_back({0xE000, b});
    } else {
      rs.push_back({a, b});
    }
  }
}

// automata.py's complete: every state's missing code points (ir.negate_ranges of its edges)
// go to a new sink state, the last
inline Dfa complete(const Dfa& d) {
  constexpr int32_t kTop = 0x10FFFF;
  const int32_t sink = d.n();
  Dfa out;
  std::vector<std::pair<int32_t, int32_t>> rs, gaps;
  std::vector<Edge> es;
  for (int32_t q = 0; q <= sink; ++q) {
    rs.clear();
    es.clear();
    if (q < sink) {
      for (int32_t k = d.off[q]; k < d.off[q + 1]; ++k) {
        rs.push_back({d.e[k].lo, d.e[k].hi});
        es.push_back(d.e[k]);
      }
    }
    normalize_cps(rs);
    gaps.clear();
    int32_t nxt = 0;
    for (auto [a, b] : rs) {
      if (a > nxt) gaps.push_back({nxt, a - 1});
      nxt = b + 1;
    }
    if (nxt <= kTop) gaps.push_back({nxt, kTop});
    normalize_cps(gaps);
    for (auto [a, b] : gaps) es.push_back({a, b, sink});
    append_state(out, es, q < sink && d.fin[q]);
  }
  return out;
}

// automata.py's complement: complete, finals flipped, minimize
inline int complement(const Dfa& d, Budget& b, Dfa& out) {
  Dfa c = complete(d);
  for (auto& f : c.fin) f = f ? 0 : 1;
  return minimize(c, b, out);
}

}  // namespace decoder::cpdfa
