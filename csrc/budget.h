// budget.h — a work budget per operation: counted work, not wall time, so a result does
// not depend on the machine's load.
//
// An operation (compiling a grammar; one compute_mask, commit, is_accepting ... of a
// matcher) installs a WorkScope on its thread; the code that a stranger's input can make
// expensive charges units to it: NFA states, edges and epsilon-closure steps at compile;
// NFA-state-set entries of lazily built lexer DFA states, Earley items and trie nodes
// walked below lexeme ends for one step. A unit is roughly 10 ns of work on a 2020s
// x86 core. Exceeding the budget throws LimitError naming the limit (max_compile_work or
// max_step_work); the work stops there and the operation leaves no trace (the callers
// restore their state as for any LimitError).
//
// Charges sit on slow paths only (building an automaton state, closing an Earley row, the
// end of a walk), in batches, never in a hot loop's fast path. Helper threads of one
// operation (the cold mask walk's second half) adopt the caller's budget (AdoptBudget);
// the counter is atomic for them.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "errors.h"

namespace decoder {

// A compile's deadline (steady clock) and a flag another thread sets to cancel it (a
// serving integration whose request stopped waiting); checked where work is charged.
class CancelFlag {
 public:
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  // seconds from now (<= 0: already due)
  void set_deadline_in(double seconds) {
    deadline_ns_ = now_ns() + static_cast<int64_t>(seconds * 1e9);
    has_deadline_ = true;
  }
  bool expired() const { return cancelled() || (has_deadline_ && now_ns() > deadline_ns_); }

 private:
  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  std::atomic<bool> cancelled_{false};
  bool has_deadline_ = false;
  int64_t deadline_ns_ = 0;
};

class WorkBudget {
 public:
  // limit <= 0: unlimited
  WorkBudget(int64_t limit, const char* limit_name, const char* operation, const CancelFlag* cancel = nullptr)
      : limit_(limit), name_(limit_name), operation_(operation), cancel_(cancel), left_(limit) {}
  void charge(int64_t units, const char* where) {
    if (limit_ > 0 && left_.fetch_sub(units, std::memory_order_relaxed) - units < 0) fail(where);
    if (cancel_ != nullptr && cancel_->expired())
      throw LimitError(std::string(operation_) + " stopped: " +
                           (cancel_->cancelled() ? "the compile was cancelled" : "its deadline passed") +
                           " (limit deadline), while " + where,
                       "deadline");
  }
  int64_t used() const { return limit_ - left_.load(std::memory_order_relaxed); }

 private:
  [[noreturn]] void fail(const char* where) const {
    throw LimitError(std::string(operation_) + " exceeds the work limit " + name_ + "=" +
                         std::to_string(limit_) + " units (~" + std::to_string(limit_ / 100000) +
                         " ms of CPU), spent " + where + "; raise it with limits={'" + name_ +
                         "': ...} if the input is trusted",
                     name_);
  }
  const int64_t limit_;
  const char* name_;
  const char* operation_;
  const CancelFlag* cancel_;
  std::atomic<int64_t> left_;
};

inline thread_local WorkBudget* t_work_budget = nullptr;

// Charges the current operation's budget (no-op outside of one).
inline void charge_work(int64_t units, const char* where) {
  if (WorkBudget* b = t_work_budget) b->charge(units, where);
}

// Installs a budget for an operation on this thread, unless an operation is already
// running on it (a commit inside forced_bytes, the constructor's reset): nested calls
// count against the outer budget.
class WorkScope {
 public:
  WorkScope(int64_t limit, const char* limit_name, const char* operation, const CancelFlag* cancel = nullptr)
      : own_(limit, limit_name, operation, cancel), prev_(t_work_budget) {
    if (prev_ == nullptr) t_work_budget = &own_;
  }
  ~WorkScope() {
    if (prev_ == nullptr) t_work_budget = nullptr;
  }
  WorkScope(const WorkScope&) = delete;
  WorkScope& operator=(const WorkScope&) = delete;

 private:
  WorkBudget own_;
  WorkBudget* prev_;
};

// In a helper thread of an operation: charge the operation's budget.
class AdoptBudget {
 public:
  explicit AdoptBudget(WorkBudget* b) : prev_(t_work_budget) { t_work_budget = b; }
  ~AdoptBudget() { t_work_budget = prev_; }
  AdoptBudget(const AdoptBudget&) = delete;
  AdoptBudget& operator=(const AdoptBudget&) = delete;

 private:
  WorkBudget* prev_;
};

}  // namespace decoder
