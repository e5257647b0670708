#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "analysis/bench.h"
#include "cli/cli.h"

namespace lorascape::cli {

namespace {
// The options of this file's commands, kept alive by the command table.
struct BenchState {
  analysis::BenchOptions bench_opt;
  std::string hf_shape;
};
}  // namespace

void add_bench_commands(CLI::App& app, CommandTable& table) {
  auto s = std::make_shared<BenchState>();
  auto* bench =
      app.add_subcommand("bench",
                         "throughput benchmarks on a random model, one JSON line each "
                         "(docs/performance.md; tests/bench/ compares with PyTorch eager)");
  bench->require_subcommand(1);
  auto model_flags = [&](CLI::App* b) {
    b->add_option("--hf-shape", s->hf_shape,
                  "the sizes of a published model in bfloat16, instead of the flags above: "
                  "tinyllama (TinyLlama-1.1B: d-model 2048, 22 layers, 32 heads, 4 key/value "
                  "heads, ffn 5632, vocab 32000) | llama3-8b (Llama-3-8B: 4096, 32 layers, 32 "
                  "heads, 8 key/value heads, ffn 14336, vocab 128256)");
    b->add_option("--kv-heads", s->bench_opt.kv_heads,
                  "key/value heads (grouped-query attention; 0 = --heads)")
        ->capture_default_str();
    b->add_option("--d-model", s->bench_opt.d_model, "model width")->capture_default_str();
    b->add_option("--layers", s->bench_opt.layers, "transformer blocks")->capture_default_str();
    b->add_option("--heads", s->bench_opt.heads, "attention heads")->capture_default_str();
    b->add_option("--ffn", s->bench_opt.ffn, "SwiGLU hidden width")->capture_default_str();
    b->add_option("--vocab", s->bench_opt.vocab, "vocabulary")->capture_default_str();
    b->add_option("--seq-len", s->bench_opt.seq_len, "tokens per sequence")->capture_default_str();
    b->add_option("--batch", s->bench_opt.batch, "sequences per forward")->capture_default_str();
    b->add_option("--rank", s->bench_opt.rank, "LoRA rank (alpha = 2·rank, on q, k, v, o)")
        ->capture_default_str();
    b->add_option("--threads", s->bench_opt.threads, "intra-op threads (0 = auto: the idle cores)")
        ->capture_default_str();
    b->add_option("--blas-threads", s->bench_opt.blas_threads,
                  "OpenBLAS threads per caller (0 = --threads, -1 = as scans and training use)")
        ->capture_default_str();
    b->add_option("--device", s->bench_opt.device, "cpu | cuda")->capture_default_str();
    b->add_option("--dtype", s->bench_opt.dtype, "float32 | bfloat16")->capture_default_str();
    b->add_option("--gemm", s->bench_opt.gemm,
                  "auto (lorascape's own float32 GEMM for evaluation forwards on AVX-512 CPUs) | "
                  "blas (the BLAS "
                  "only, for comparison)")
        ->capture_default_str();
    b->add_option("--seed", s->bench_opt.seed, "seed of the weights, adapters and tokens")
        ->capture_default_str();
  };
  auto* bench_scan =
      bench->add_subcommand("scan",
                            "mean next-token loss of random sequences at points of the "
                            "factors-space line between two random adapters");
  model_flags(bench_scan);
  bench_scan
      ->add_option("--eval-seqs", s->bench_opt.eval_seqs, "sequences evaluated at every point")
      ->capture_default_str();
  bench_scan->add_option("--points", s->bench_opt.points, "points of the line")
      ->capture_default_str();
  bench_scan
      ->add_option("--grid", s->bench_opt.grid,
                   "N: evaluate an NxN plane through three random adapters instead")
      ->capture_default_str();
  bench_scan
      ->add_option("--points-per-batch", s->bench_opt.points_per_batch,
                   "K points per forward (0 = automatic)")
      ->capture_default_str();
  bench_scan
      ->add_option("--mode", s->bench_opt.mode,
                   "merged (K points merged into W, batched: what scans use) | sidepath (one point "
                   "at a time "
                   "through the LoRA side path)")
      ->capture_default_str();
  bench_scan->add_option(
      "--profile", s->bench_opt.profile,
      "write a chrome://tracing profile of the timed run (summarise: tests/bench/profile.py)");
  auto* bench_train =
      bench->add_subcommand("train", "LoRA training steps (AdamW) on random sequences");
  model_flags(bench_train);
  bench_train->add_option("--steps", s->bench_opt.steps, "timed optimiser steps")
      ->capture_default_str();
  bench_train->add_option("--profile", s->bench_opt.profile,
                          "write a chrome://tracing profile of the timed steps");
  auto* bench_gemm = bench->add_subcommand(
      "gemm",
      "float32 GEMM GFLOP/s of this machine (the peak to compare with), and of the model's "
      "projection "
      "GEMMs run as a CPU scan runs them (model_gemm_gflops: a scan's ceiling)");
  model_flags(bench_gemm);
  auto* bench_run_file = bench->add_subcommand(
      "run-file",
      "reading a run file of the model's LoRA shapes (rank --rank on all seven projections, "
      "--stages tasks, 3 adapters per stage): whole, without tensors (compare, inspect, the "
      "app) and one adapter reference; a 2 GB file for --hf-shape llama3-8b");
  model_flags(bench_run_file);
  bench_run_file->add_option("--stages", s->bench_opt.stages, "tasks of the synthetic run")
      ->capture_default_str();
  bench_run_file->add_option("--out", s->bench_opt.out,
                             "write the run file here and keep it (default: a temporary file, "
                             "removed after)");

  // Runs a benchmark on the options, with --hf-shape's sizes where given.
  auto run = [s](nlohmann::json (*bench)(const analysis::BenchOptions&)) {
    analysis::BenchOptions o = s->bench_opt;
    if (!s->hf_shape.empty()) analysis::apply_hf_shape(o, s->hf_shape);
    nlohmann::json j = bench(o);
    if (!s->hf_shape.empty()) j["hf_shape"] = s->hf_shape;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  };
  table.push_back({bench_scan, [run] { return run(analysis::bench_scan); }});
  table.push_back({bench_train, [run] { return run(analysis::bench_train); }});
  table.push_back({bench_gemm, [run] { return run(analysis::bench_gemm); }});
  table.push_back({bench_run_file, [run] { return run(analysis::bench_run_file); }});
}

}  // namespace lorascape::cli
