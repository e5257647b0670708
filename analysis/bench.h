// `lorascape bench …`: reproducible throughput measurements on a random model (issue 6,
// docs/performance.md). Every benchmark prints one JSON line.
//   scan   mean next-token loss (all positions) of random sequences at `points` points of the
//          linear factors-space path between two random adapters (B non-zero), or on a
//          grid×grid plane through three
//   train  LoRA training steps (AdamW) on random sequences
//   gemm   the float32 GEMM rate of this machine (the peak the others are compared with)
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/model.h"

namespace lorascape::analysis {

struct BenchOptions {
  int64_t d_model = 256, layers = 4, heads = 4, ffn = 688, vocab = 260, seq_len = 64;
  int64_t kv_heads = 0;  // key/value heads (grouped-query attention); 0 = heads
  int64_t eval_seqs = 256, batch = 32, points = 21, rank = 8;
  int64_t grid = 0;     // scan: > 0 evaluates the grid×grid plane through three random adapters
                        // instead of the line
  int64_t threads = 0;  // 0 = auto (core::auto_threads)
  int64_t blas_threads =
      -1;  // OpenBLAS threads per caller (0 = as many as threads; −1 = what lorascape's
           // scans and training use: core::set_threads / set_training_threads)
  std::string device = "cpu", dtype = "float32";
  std::string gemm =
      "auto";  // auto (lorascape's GEMM where the CPU has AVX-512, kernels/gemm.h) | blas
  int64_t points_per_batch = 0;  // K; 0 = automatic
  std::string mode =
      "merged";        // merged (core::Evaluator) | sidepath (LoRA side path, one point at a time)
  int64_t steps = 20;  // train
  uint64_t seed = 1;
  std::string profile;  // write a chrome://tracing profile of the timed run here
  int64_t stages = 8;   // run-file: tasks of the synthetic run
  std::string out;      // run-file: the file to write ("" = a temporary file, removed after)
};

// The sizes of a published model (d_model, layers, heads, kv_heads, ffn, vocab) and bfloat16:
// "tinyllama" (TinyLlama-1.1B: 2048, 22, 32, 4, 5632, 32000), "llama3-8b" (Llama-3-8B: 4096,
// 32, 32, 8, 14336, 128256). ConfigError for another name.
void apply_hf_shape(BenchOptions& o, const std::string& name);

// Forward FLOPs per token of the model with LoRA merged into the weights (what both the
// lorascape and the PyTorch reference measurements are divided by): per layer
// 2·(2CQ + 2C·KV·D + 3CF) for the projections (Q = H·D; 2·(4C² + 3CF) without grouped-query
// attention) and 4·T·Q for the attention products (the full T×T, as the reference
// computes them; lorascape's GEMM skips about 31% of those at T = 64, 0.6–2.4% of the total,
// docs/performance.md), plus 2·C·V for the output head.
double forward_flops_per_token(const core::ModelConfig& m);

nlohmann::json bench_scan(const BenchOptions& o);
nlohmann::json bench_train(const BenchOptions& o);
nlohmann::json bench_gemm(const BenchOptions& o);
// Reading a run file of the model's LoRA shapes (rank o.rank on all seven projections; `stages`
// tasks, methods seq and ilora with fast and slow learners: three adapters per stage): the time
// to write it, to read it whole, without tensors (what compare, inspect and the app read), and
// one adapter (what an adapter reference reads: the layout, then that adapter), with the bytes
// of tensors each read loads. The reads follow the write, so the file is in the page cache.
nlohmann::json bench_run_file(const BenchOptions& o);

}  // namespace lorascape::analysis
