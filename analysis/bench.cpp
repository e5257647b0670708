#include "analysis/bench.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <malloc.h>
#include <sys/resource.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>
#include <tuple>

#include "analysis/adapter_ref.h"
#include "analysis/path.h"
#include "core/adapter.h"
#include "core/base_model.h"
#include "core/device.h"
#include "core/evaluate.h"
#include "core/tokenizer.h"
#include "core/version.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "store/error.h"
#include "store/run_file.h"

namespace lorascape::analysis {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

core::ModelConfig model_config(const BenchOptions& o) {
  core::ModelConfig m;
  m.d_model = o.d_model;
  m.n_layers = o.layers;
  m.n_heads = o.heads;
  m.n_kv_heads = o.kv_heads;
  m.d_ff = o.ffn;
  m.vocab = o.vocab;
  m.max_seq = o.seq_len;
  m.validate();
  return m;
}

core::LoraConfig lora_config(const BenchOptions& o) {
  core::LoraConfig l;
  l.rank = o.rank;
  l.alpha = 2.0 * static_cast<double>(o.rank);
  l.targets = {"q_proj", "k_proj", "v_proj", "o_proj"};
  l.validate();
  return l;
}

// Validates the flags (ConfigError, exit code 2) and applies the one with a process-wide effect:
// --gemm, lorascape's own GEMM or the BLAS only.
void check_and_apply(const BenchOptions& o) {
  auto pos = [](int64_t v, const char* name) {
    if (v < 1) throw ConfigError(std::string("--") + name + " must be >= 1");
  };
  pos(o.eval_seqs, "eval-seqs");
  pos(o.batch, "batch");
  pos(o.points, "points");
  pos(o.steps, "steps");
  if (o.dtype != "float32" && o.dtype != "bfloat16")
    throw ConfigError("`dtype` must be float32 or bfloat16");
  if (o.mode != "merged" && o.mode != "sidepath")
    throw ConfigError("`mode` must be merged or sidepath");
  if (o.gemm != "auto" && o.gemm != "blas") throw ConfigError("`gemm` must be auto or blas");
  kernels::set_gemm_enabled(o.gemm == "auto");
}

// A random model with LoRA layers, on the device and dtype asked for.
core::Transformer random_model(const BenchOptions& o, c10::Device dev) {
  torch::manual_seed(o.seed);
  core::Transformer m(model_config(o));
  m->add_lora(lora_config(o));
  m->to(dev, o.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat);
  return m;
}

// A random adapter of the model's layout with B non-zero.
core::Adapter random_adapter(core::TransformerImpl& m, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  std::vector<core::Adapter::Entry> e;
  for (auto& [name, p] : m.lora_parameters()) {
    const double sd = 1.0 / std::sqrt(static_cast<double>(p.size(1)));
    e.emplace_back(name,
                   (at::randn(p.sizes(), g, at::kFloat) * sd).to(p.device(), p.scalar_type()));
  }
  return core::Adapter(std::move(e));
}

// Random sequences: input = tokens 0…T−1, target = tokens 1…T, every position scored.
core::TokenBatch random_tokens(const BenchOptions& o, int64_t n, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  at::Tensor ids = at::randint(0, o.vocab, {n, o.seq_len + 1}, g, at::kLong);
  return {ids.narrow(1, 0, o.seq_len).contiguous(), ids.narrow(1, 1, o.seq_len).contiguous(),
          at::ones({n, o.seq_len}, at::kFloat)};
}

core::TokenBatch slice(const core::TokenBatch& b, int64_t start, int64_t n) {
  return {b.input.narrow(0, start, n), b.target.narrow(0, start, n), b.mask.narrow(0, start, n)};
}

nlohmann::json common(const BenchOptions& o, c10::Device dev) {
  return {{"d_model", o.d_model},
          {"layers", o.layers},
          {"heads", o.heads},
          {"kv_heads", o.kv_heads > 0 ? o.kv_heads : o.heads},
          {"ffn", o.ffn},
          {"vocab", o.vocab},
          {"seq_len", o.seq_len},
          {"rank", o.rank},
          {"threads", at::get_num_threads()},
          {"blas_threads", core::blas_threads()},
          {"blas", core::loaded_blas()},
          {"gemm", dev.is_cuda()               ? "cublas"
                   : kernels::gemm_available() ? "lorascape-avx512"
                                               : "blas"},
          {"device", dev.str()},
          {"dtype", o.dtype},
          {"lorascape", kVersion}};
}

}  // namespace

void apply_hf_shape(BenchOptions& o, const std::string& name) {
  struct Shape {
    const char* name;
    int64_t d_model, layers, heads, kv_heads, ffn, vocab;
  };
  static const Shape shapes[] = {{"tinyllama", 2048, 22, 32, 4, 5632, 32000},
                                 {"llama3-8b", 4096, 32, 32, 8, 14336, 128256}};
  for (const Shape& s : shapes)
    if (name == s.name) {
      o.d_model = s.d_model;
      o.layers = s.layers;
      o.heads = s.heads;
      o.kv_heads = s.kv_heads;
      o.ffn = s.ffn;
      o.vocab = s.vocab;
      o.dtype = "bfloat16";
      return;
    }
  throw ConfigError("`hf_shape` \"" + name + "\" is not known (tinyllama, llama3-8b)");
}

double forward_flops_per_token(const core::ModelConfig& m) {
  const double C = static_cast<double>(m.d_model), F = static_cast<double>(m.d_ff),
               T = static_cast<double>(m.max_seq), Q = static_cast<double>(m.q_dim()),
               KV = static_cast<double>(m.kv_dim());
  return static_cast<double>(m.n_layers) *
             (2.0 * (2.0 * C * Q + 2.0 * C * KV + 3.0 * C * F) + 4.0 * T * Q) +
         2.0 * C * static_cast<double>(m.vocab);
}

nlohmann::json bench_scan(const BenchOptions& o) {
  check_and_apply(o);
  core::set_threads(o.threads, o.blas_threads < 0 ? 1 : static_cast<int>(o.blas_threads));
  const c10::Device dev = core::resolve_device(o.device);
  core::Transformer model = random_model(o, dev);
  model->eval();
  if (o.grid < 0) throw ConfigError("`grid` must be >= 0");
  const core::Adapter a = random_adapter(*model, o.seed + 1),
                      b = random_adapter(*model, o.seed + 2),
                      c = random_adapter(*model, o.seed + 4);
  const core::TokenBatch data = random_tokens(o, o.eval_seqs, o.seed + 3);
  const double scale = model->lora_config().scale();
  // Line: t along a → b. Plane: a + x(b − a) + y(c − a) over [0, 1]².
  const std::vector<double> ts = path_ts(static_cast<int>(o.grid > 0 ? o.grid * o.grid : o.points));
  const std::vector<double> gs =
      o.grid > 0 ? path_ts(static_cast<int>(o.grid)) : std::vector<double>{};
  auto point = [&](size_t p) {
    if (o.grid == 0) return interpolate_factors(a, b, ts[p]);
    const double x = gs[p / gs.size()], y = gs[p % gs.size()];
    return combine("factors", {a, b, c}, {1.0 - x - y, x, y});
  };
  std::vector<double> loss(ts.size());
  int64_t K = 1, W = 1;
  auto run = [&](size_t n_points) {
    if (o.mode == "merged") {
      // As scans evaluate: K points per forward, the CPU's cores splitting the points.
      core::EvaluatorPool pool(*model, scale, o.batch, dev.is_cpu() ? at::get_num_threads() : 1);
      K = o.points_per_batch > 0 ? o.points_per_batch
          : dev.is_cpu()         ? 1
                                 : core::Evaluator(*model, scale, o.batch).points_per_batch();
      W = pool.workers();
      const auto chunks =
          static_cast<int64_t>((n_points + static_cast<size_t>(K) - 1) / static_cast<size_t>(K));
      pool.for_each(chunks, [&](core::Evaluator& ev, int64_t c) {
        const size_t p0 = static_cast<size_t>(c * K);
        std::vector<core::Adapter> pts;
        for (size_t p = p0; p < std::min(n_points, p0 + static_cast<size_t>(K)); ++p)
          pts.push_back(point(p));
        ev.load_points(pts);
        core::ScoreSums sums(static_cast<int64_t>(pts.size()));
        for (int64_t s = 0; s < o.eval_seqs; s += o.batch)
          ev.evaluate_batch(slice(data, s, std::min(o.batch, o.eval_seqs - s)), sums);
        for (size_t k = 0; k < pts.size(); ++k)
          loss[p0 + k] = sums.scores(static_cast<int64_t>(k)).loss;
      });
    } else {
      torch::NoGradGuard ng;
      for (size_t p = 0; p < n_points; ++p) {
        point(p).load_into(*model);
        core::ScoreSums sums;
        for (int64_t s = 0; s < o.eval_seqs; s += o.batch) {
          const core::TokenBatch tb = slice(data, s, std::min(o.batch, o.eval_seqs - s));
          sums.add(model->forward(tb.input.to(dev)), tb.target.to(dev), tb.mask.to(dev));
        }
        loss[p] = sums.scores(0).loss;
      }
    }
  };
  run(1);  // warm-up: allocator, BLAS buffers, lazy initialisation
  const auto t0 = Clock::now();
  {
    std::unique_ptr<torch::autograd::profiler::RecordProfile>
        prof;  // op by op; tests/bench/profile.py sums it
    if (!o.profile.empty())
      prof = std::make_unique<torch::autograd::profiler::RecordProfile>(o.profile);
    run(ts.size());
  }
  const double sec = seconds_since(t0);
  const double tokens =
      static_cast<double>(ts.size()) * static_cast<double>(o.eval_seqs * o.seq_len);
  nlohmann::json j = common(o, dev);
  j["benchmark"] = "scan";
  j["mode"] = o.mode;
  j["points"] = static_cast<int64_t>(ts.size());
  j["grid"] = o.grid;
  j["points_per_batch"] = o.mode == "merged" ? K : 1;
  j["workers"] = W;
  j["eval_seqs"] = o.eval_seqs;
  j["batch"] = o.batch;
  j["seconds"] = sec;
  j["points_per_s"] = static_cast<double>(ts.size()) / sec;
  j["tokens_per_s"] = tokens / sec;
  j["gflops"] = tokens * forward_flops_per_token(model->config()) / sec / 1e9;
  j["flops_per_token"] = forward_flops_per_token(model->config());
  j["peak_rss_mb"] = peak_rss_mb();
  j["loss_t0"] = loss.front();
  j["loss_t1"] = loss.back();
  return j;
}

nlohmann::json bench_train(const BenchOptions& o) {
  check_and_apply(o);
  if (o.blas_threads < 0)
    core::set_training_threads(o.threads, o.d_model);
  else
    core::set_threads(o.threads, static_cast<int>(o.blas_threads));
  const c10::Device dev = core::resolve_device(o.device);
  core::Transformer model = random_model(o, dev);
  model->train();
  random_adapter(*model, o.seed + 1).load_into(*model);
  std::vector<at::Tensor> params;
  for (auto& [name, p] : model->lora_parameters()) params.push_back(p);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-3).weight_decay(0.0));
  const core::TokenBatch data = random_tokens(o, o.batch * (o.steps + 1), o.seed + 3);
  double last = 0;
  auto step = [&](int64_t i) {
    const core::TokenBatch tb = slice(data, i * o.batch, o.batch);
    opt.zero_grad();
    at::Tensor loss = core::masked_cross_entropy(model->forward(tb.input.to(dev)).to(at::kFloat),
                                                 tb.target.to(dev), tb.mask.to(dev));
    loss.backward();
    opt.step();
    last = loss.item<double>();
  };
  step(o.steps);  // warm-up
  const auto t0 = Clock::now();
  {
    std::unique_ptr<torch::autograd::profiler::RecordProfile> prof;
    if (!o.profile.empty())
      prof = std::make_unique<torch::autograd::profiler::RecordProfile>(o.profile);
    for (int64_t i = 0; i < o.steps; ++i) step(i);
  }
  const double sec = seconds_since(t0);
  const double tokens = static_cast<double>(o.steps * o.batch * o.seq_len);
  nlohmann::json j = common(o, dev);
  j["benchmark"] = "train";
  j["steps"] = o.steps;
  j["batch"] = o.batch;
  j["seconds"] = sec;
  j["train_tokens_per_s"] = tokens / sec;
  j["steps_per_s"] = static_cast<double>(o.steps) / sec;
  j["peak_rss_mb"] = peak_rss_mb();
  j["final_loss"] = last;
  return j;
}

nlohmann::json bench_gemm(const BenchOptions& o) {
  check_and_apply(o);
  model_config(o).validate();                        // the model shapes its GEMMs are measured at
  core::set_threads(o.threads, /*blas_threads=*/0);  // one GEMM on every core: the machine's peak
  const c10::Device dev = core::resolve_device(o.device);
  const auto opts =
      at::TensorOptions().device(dev).dtype(o.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat);
  nlohmann::json shapes = nlohmann::json::array();
  double best = 0;
  // Square GEMMs, then the model's largest projection GEMM: (batch·seq, C) × (C, F).
  const std::vector<std::array<int64_t, 3>> mnk{
      {1024, 1024, 1024}, {2048, 2048, 2048}, {o.batch * o.seq_len, o.ffn, o.d_model}};
  auto probe = [&](int64_t m, int64_t n, int64_t k, const char* gemm,
                   const std::function<void()>& product) {
    product();  // warm-up
    if (dev.is_cuda()) torch::cuda::synchronize();
    int64_t reps = 0;
    const auto t0 = Clock::now();
    while (seconds_since(t0) < 0.5) {
      product();
      ++reps;
    }
    if (dev.is_cuda()) torch::cuda::synchronize();
    const double gf =
        2.0 * static_cast<double>(m * n * k) * static_cast<double>(reps) / seconds_since(t0) / 1e9;
    shapes.push_back({{"m", m}, {"n", n}, {"k", k}, {"gemm", gemm}, {"gflops", gf}});
    best = std::max(best, gf);
  };
  if (!dev.is_cuda() &&
      kernels::gemm_available()) {  // the model's GEMM by lorascape's own, on every core
    // (first: OpenBLAS's threads keep spinning for a while after its own products)
    const auto& [m, n, k] = mnk.back();
    at::Tensor x = at::randn({m, k}, opts), w = at::randn({n, k}, opts);
    probe(m, n, k, "lorascape-avx512", [&] { kernels::apply_weight(x, w); });
  }
  for (const auto& [m, n, k] : mnk) {
    at::Tensor x = at::randn({m, k}, opts), w = at::randn({k, n}, opts),
               y = at::empty({m, n}, opts);
    probe(m, n, k, "blas", [&] { at::mm_out(y, x, w); });
  }
  nlohmann::json j = common(o, dev);
  j["benchmark"] = "gemm";
  j["shapes"] = shapes;
  j["gemm_peak_gflops"] = best;
  if (!dev.is_cuda()) {
    // The model's projection GEMMs as a CPU scan runs them: every core a single-threaded
    // worker doing one forward's q|k|v, o, gate|up, down and head products on batch·seq rows.
    // Their rate bounds what a scan can reach (its attention and element-wise work aside).
    core::set_threads(o.threads, 1);
    const int W = at::get_num_threads();
    const core::ModelConfig mc = model_config(o);
    const int64_t M = o.batch * o.seq_len, C = o.d_model, F = o.ffn, Q = mc.q_dim(),
                  KV = mc.kv_dim();
    std::vector<std::array<int64_t, 3>> forward;  // (m, n, k) of every product, in order
    for (int64_t l = 0; l < o.layers; ++l)
      for (const auto& nk :
           std::vector<std::array<int64_t, 2>>{{Q + 2 * KV, C}, {C, Q}, {2 * F, C}, {C, F}})
        forward.push_back({M, nk[0], nk[1]});
    forward.push_back({M, o.vocab, C});
    double flops = 0;
    for (const auto& [m, n, k] : forward) flops += 2.0 * static_cast<double>(m * n * k);
    std::vector<double> rates(static_cast<size_t>(W));
    std::vector<std::thread> pool;
    for (int w = 0; w < W; ++w)
      pool.emplace_back([&, w] {
        at::set_num_threads(1);
        std::vector<std::pair<at::Tensor, at::Tensor>> ops;  // (input, weight) per product
        for (const auto& [m, n, k] : forward)
          ops.emplace_back(at::randn({m, k}, opts), at::randn({n, k}, opts));
        auto run = [&] {
          for (const auto& [x, wt] : ops) kernels::apply_weight(x, wt);  // as the model does
        };
        run();  // warm-up
        int64_t reps = 0;
        const auto t0 = Clock::now();
        while (seconds_since(t0) < 1.0) {
          run();
          ++reps;
        }
        rates[static_cast<size_t>(w)] = flops * static_cast<double>(reps) / seconds_since(t0) / 1e9;
      });
    for (auto& t : pool) t.join();
    double total = 0;
    for (double r : rates) total += r;
    j["model_gemm_gflops"] = total;
    j["model_gemm_share_of_peak"] = total / best;
    j["model_gemm_workers"] = W;
  }
  return j;
}

namespace {

// The bytes of tensor values `run` holds (what a read loaded).
double tensor_megabytes(const store::RunFileData& run) {
  double n = 0;
  auto add = [&](const store::AdapterData& a) {
    for (const auto& t : a.tensors) n += static_cast<double>(t.values.size());
  };
  for (const auto& m : run.methods) {
    for (const auto& st : m.stages)
      for (const auto& kv : st.adapters) add(kv.second);
    for (const auto& s : m.snapshots) add(s.adapter);
  }
  return n * sizeof(float) / 1e6;
}

}  // namespace

nlohmann::json bench_run_file(const BenchOptions& o) {
  const core::ModelConfig mc = model_config(o);
  if (o.rank < 1 || o.rank > 65536) throw ConfigError("--rank must be in 1..65536");
  if (o.stages < 1 || o.stages > 1000) throw ConfigError("--stages must be in 1..1000");
  const int64_t C = mc.d_model, Q = mc.q_dim(), KV = mc.kv_dim(), F = mc.d_ff, r = o.rank;
  // (module, target, in, out) of core's seven projections (TransformerImpl::projections), from
  // the sizes alone: building the model to ask it would allocate its weights (32 GB at 8 B).
  const std::vector<std::tuple<std::string, std::string, int64_t, int64_t>> proj = {
      {"self_attn.q_proj", "q_proj", C, Q},  {"self_attn.k_proj", "k_proj", C, KV},
      {"self_attn.v_proj", "v_proj", C, KV}, {"self_attn.o_proj", "o_proj", Q, C},
      {"mlp.gate_proj", "gate_proj", C, F},  {"mlp.up_proj", "up_proj", C, F},
      {"mlp.down_proj", "down_proj", F, C}};
  uint32_t x = static_cast<uint32_t>(o.seed);
  auto adapter = [&] {  // small values of a cheap generator: any finite numbers do
    store::AdapterData a;
    for (int64_t l = 0; l < mc.n_layers; ++l)
      for (const auto& [module, target, in, out] : proj) {
        const std::string p = "model.layers." + std::to_string(l) + "." + module;
        for (auto [suffix, rows, cols] : {std::make_tuple(".lora_A.weight", r, in),
                                          std::make_tuple(".lora_B.weight", out, r)}) {
          store::Tensor t{p + suffix, {rows, cols}, {}};
          t.values.resize(static_cast<size_t>(rows * cols));
          for (auto& v : t.values)
            v = static_cast<float>((x = x * 1664525u + 1013904223u) >> 20) * 1e-7f;
          a.tensors.push_back(std::move(t));
        }
      }
    return a;
  };
  store::RunFileData run;
  run.software_version = kVersion;
  run.created = store::utc_now();
  run.command_line = "lorascape bench run-file";
  run.config_json = "{}";
  run.base_model = "random";
  run.lora_rank = r;
  run.lora_alpha = 2.0 * static_cast<double>(r);
  for (const auto& p : proj) run.lora_targets.push_back(std::get<1>(p));
  for (int64_t t = 0; t < o.stages; ++t) run.tasks.push_back("task" + std::to_string(t + 1));
  const int64_t T = o.stages;
  for (const auto& [name, keys] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"seq", {"adapter"}}, {"ilora", {"fast", "slow"}}}) {
    store::MethodData m;
    m.name = name;
    m.config_json = "{}";
    m.reported = keys.back();
    m.R["loss"] = std::vector<std::vector<double>>(T, std::vector<double>(T, 1.0));
    if (keys.size() > 1) m.learners[keys.front()].R = m.R;
    for (int64_t t = 0; t < T; ++t) {
      store::StageData st;
      st.stage = static_cast<int>(t);
      st.task = run.tasks[static_cast<size_t>(t)];
      for (const auto& k : keys) st.adapters[k] = adapter();
      m.stages.push_back(std::move(st));
    }
    run.methods.push_back(std::move(m));
  }
  const double written_mb = tensor_megabytes(run);

  namespace fs = std::filesystem;
  const std::string path = o.out.empty()
                               ? (fs::temp_directory_path() /
                                  ("lorascape-bench-run-" + std::to_string(::getpid()) + ".h5"))
                                     .string()
                               : o.out;
  struct Remove {  // the temporary file goes, however the bench ends
    std::string path;
    ~Remove() {
      std::error_code ec;
      if (!path.empty()) fs::remove(path, ec);
    }
  } remove{o.out.empty() ? path : std::string()};

  nlohmann::json j = {{"benchmark", "run-file"},
                      {"d_model", o.d_model},
                      {"layers", o.layers},
                      {"heads", o.heads},
                      {"kv_heads", o.kv_heads > 0 ? o.kv_heads : o.heads},
                      {"ffn", o.ffn},
                      {"rank", r},
                      {"stages", T},
                      {"adapters", 3 * T},
                      {"lorascape", kVersion}};
  const auto t0 = Clock::now();
  store::write_run_file(path, run);
  j["write_s"] = seconds_since(t0);
  run = store::RunFileData();
  // Each read gets its memory from the system as a fresh process does (page faults are much of a
  // large read's cost on some machines), not from what the previous step freed.
  auto timed = [&](const char* key, auto&& read) {
    malloc_trim(0);
    const auto t = Clock::now();
    read();
    j[key] = seconds_since(t);
  };
  j["file_mb"] = static_cast<double>(fs::file_size(path)) / 1e6;
  j["adapter_mb"] = written_mb / static_cast<double>(3 * T);
  timed("read_layout_s", [&] {
    j["read_layout_mb"] =
        tensor_megabytes(store::read_run_file(path, store::TensorSelection::none()));
  });
  timed("adapter_ref_s", [&] {  // the middle stage's slow learner, as `RUN.h5:ilora/K/slow`
    const AdapterSource one =
        load_adapter_ref(path + ":ilora/" + std::to_string((T + 1) / 2) + "/slow");
    j["adapter_ref_tensors"] = one.adapter.entries().size();
  });
  timed("read_all_s", [&] { j["read_all_mb"] = tensor_megabytes(store::read_run_file(path)); });
  j["peak_rss_mb"] = peak_rss_mb();
  return j;
}

}  // namespace lorascape::analysis
