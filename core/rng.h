// A small deterministic random number generator (SplitMix64) for data generation.
// Unlike std::uniform_int_distribution, its output is identical on every platform and
// standard library, so a seed names the same data everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lorascape::core {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next_u64() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform integer in [lo, hi] (inclusive).
  int64_t uniform_int(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int64_t>(next_u64() % span);
  }
  // Uniform double in [0, 1).
  double uniform() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(uniform_int(0, static_cast<int64_t>(v.size()) - 1))];
  }
  // The whole state (a training checkpoint saves and restores it).
  uint64_t state() const { return state_; }
  void set_state(uint64_t state) { state_ = state; }
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) {
      size_t j = static_cast<size_t>(uniform_int(0, static_cast<int64_t>(i) - 1));
      std::swap(v[i - 1], v[j]);
    }
  }

 private:
  uint64_t state_;
};

// Indices 0..n-1 in a seeded random order; each pass (epoch) reshuffles the order.
class ShuffledCycle {
 public:
  ShuffledCycle(size_t n, uint64_t seed) : rng_(seed), order_(n) {
    for (size_t i = 0; i < n; ++i) order_[i] = i;
    rng_.shuffle(order_);
  }
  size_t next() {
    if (cursor_ == order_.size()) {
      rng_.shuffle(order_);
      cursor_ = 0;
    }
    return order_[cursor_++];
  }

 private:
  Rng rng_;
  std::vector<size_t> order_;
  size_t cursor_ = 0;
};

// Derive an independent seed from a base seed and a name (FNV-1a of the name mixed in).
inline uint64_t derive_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  Rng r(seed ^ h);
  return r.next_u64();
}

}  // namespace lorascape::core
