// Reservoir replay buffer (Vitter's algorithm R): after n offers, every offered example is
// in the buffer with probability min(1, capacity / n). Used by er and agem.
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "core/tasks.h"

namespace lorascape::core {

class ReservoirBuffer {
 public:
  ReservoirBuffer(size_t capacity, uint64_t seed) : capacity_(capacity), rng_(seed) {}

  void offer(const Example* ex) {
    ++seen_;
    if (items_.size() < capacity_) {
      items_.push_back(ex);
    } else {
      const uint64_t j =
          static_cast<uint64_t>(rng_.uniform_int(0, static_cast<int64_t>(seen_) - 1));
      if (j < capacity_) items_[j] = ex;
    }
  }
  // k distinct items (all of them when k >= size), uniformly at random.
  std::vector<const Example*> sample(size_t k) {
    std::vector<size_t> idx(items_.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    const size_t n = std::min(k, idx.size());
    for (size_t i = 0; i < n; ++i)
      std::swap(idx[i], idx[i + static_cast<size_t>(rng_.uniform_int(
                                    0, static_cast<int64_t>(idx.size() - i) - 1))]);
    std::vector<const Example*> out;
    for (size_t i = 0; i < n; ++i) out.push_back(items_[idx[i]]);
    return out;
  }
  size_t size() const { return items_.size(); }
  size_t capacity() const { return capacity_; }
  uint64_t seen() const { return seen_; }
  const std::vector<const Example*>& items() const { return items_; }
  // The generator's state; with seen() and items() the whole state (a training checkpoint).
  uint64_t rng_state() const { return rng_.state(); }
  // Puts the buffer back into a saved state (items: at most capacity()).
  void restore(uint64_t seen, std::vector<const Example*> items, uint64_t rng_state) {
    seen_ = seen;
    items_ = std::move(items);
    if (items_.size() > capacity_) items_.resize(capacity_);
    rng_.set_state(rng_state);
  }

 private:
  size_t capacity_;
  uint64_t seen_ = 0;
  Rng rng_;
  std::vector<const Example*> items_;
};

}  // namespace lorascape::core
