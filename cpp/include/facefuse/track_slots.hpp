// Track id -> dense slot index, reusing the slots of dropped tracks. Shared by the CPU
// and the CUDA landmark smoothers, which keep their per-track state in arrays indexed
// by slot (host vectors / device buffers) and only differ in what a slot holds.
#pragma once

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace facefuse {

class TrackSlots {
 public:
  // Slot of `id`, or -1 for an unknown id.
  std::int64_t find(std::int64_t id) const {
    auto it = slot_of_.find(id);
    return it == slot_of_.end() ? -1 : it->second;
  }

  // Slot of `id`; an unknown id takes a freed slot, else a new one (the next index).
  // `fresh`: the id was unknown; `grown`: the slot is new, so the caller must append
  // storage for it.
  std::int64_t acquire(std::int64_t id, bool* fresh, bool* grown) {
    auto it = slot_of_.find(id);
    *fresh = *grown = false;
    if (it != slot_of_.end()) return it->second;
    std::int64_t s;
    *fresh = true;
    if (!free_.empty()) {
      s = free_.back();
      free_.pop_back();
    } else {
      s = capacity_++;
      *grown = true;
    }
    slot_of_.emplace(id, s);
    return s;
  }

  // Frees the slot of `id` for reuse; returns it, or -1 for an unknown id.
  std::int64_t release(std::int64_t id) {
    auto it = slot_of_.find(id);
    if (it == slot_of_.end()) return -1;
    const std::int64_t s = it->second;
    free_.push_back(s);
    slot_of_.erase(it);
    return s;
  }

  void clear() {
    slot_of_.clear();
    free_.clear();
    capacity_ = 0;
  }

  std::int64_t size() const { return static_cast<std::int64_t>(slot_of_.size()); }

  // Live ids, ascending.
  std::vector<std::int64_t> ids() const {
    std::vector<std::int64_t> v;
    v.reserve(slot_of_.size());
    for (const auto& kv : slot_of_) v.push_back(kv.first);
    std::sort(v.begin(), v.end());
    return v;
  }

  // The first row i of ids[0..n) whose id is live and whose slot satisfies
  // `pred(slot, i)`, or -1 (the smoothers' decreasing-timestamp check).
  template <class Pred>
  std::int64_t first_row(const std::int64_t* ids, std::int64_t n, Pred pred) const {
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t s = find(ids[i]);
      if (s >= 0 && pred(s, i)) return i;
    }
    return -1;
  }

  // Live ids whose slot satisfies `pred(slot)` (collected first, so the caller may release them).
  template <class Pred>
  std::vector<std::int64_t> ids_where(Pred pred) const {
    std::vector<std::int64_t> v;
    for (const auto& kv : slot_of_)
      if (pred(kv.second)) v.push_back(kv.first);
    return v;
  }

 private:
  std::unordered_map<std::int64_t, std::int64_t> slot_of_;
  std::vector<std::int64_t> free_;
  std::int64_t capacity_ = 0;
};

}  // namespace facefuse
