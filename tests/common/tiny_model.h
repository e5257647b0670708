// The smallest model configuration worth testing on (fast on one thread).
#pragma once

#include "core/model.h"

namespace lorascape::test {

inline core::ModelConfig tiny_model() {
  core::ModelConfig c;
  c.d_model = 32;
  c.n_layers = 2;
  c.n_heads = 2;
  c.d_ff = 48;
  c.max_seq = 24;
  return c;
}

}  // namespace lorascape::test
