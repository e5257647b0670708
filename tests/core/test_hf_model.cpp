// Hugging Face model folders (core/hf_model.h): small random checkpoints of the three
// architectures, written here in the HF layout (config.json + safetensors, one file or shards
// with an index), loaded by lorascape and compared with a float64 reference forward written in
// this file from the transformers modelling formulas (LlamaModel, MistralModel, Qwen2Model),
// independently of core/model.cpp: grouped-query attention, Qwen2's q/k/v biases, Llama's
// attention and MLP biases, tied embeddings, head_dim apart from hidden/heads, llama3 and
// linear rope scaling, bfloat16 storage. And every malformed folder is one clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/adapter.h"
#include "core/base_model.h"
#include "core/evaluate.h"
#include "core/hf_model.h"
#include "core/hf_tokenizer.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "store/error.h"
#include "tests/common/test_util.h"

using namespace lorascape;
using namespace lorascape::core;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// ---- writing checkpoints ---------------------------------------------------------------------

int64_t head_dim_of(const json& c) {
  return c.value("head_dim",
                 c["hidden_size"].get<int64_t>() / c["num_attention_heads"].get<int64_t>());
}

// The tensors a transformers model of this config.json holds, random (seeded), in float64.
NamedTensors random_weights(const json& c, uint64_t seed) {
  at::manual_seed(seed);
  const int64_t V = c["vocab_size"], C = c["hidden_size"], F = c["intermediate_size"],
                L = c["num_hidden_layers"], H = c["num_attention_heads"],
                KV = c.value("num_key_value_heads", H), D = head_dim_of(c);
  const std::string type = c["model_type"];
  const bool qkv_bias = type == "qwen2" || c.value("attention_bias", false);
  const bool o_bias = type == "llama" && c.value("attention_bias", false);
  const bool mlp_bias = c.value("mlp_bias", false);
  auto w = [](std::vector<int64_t> shape, double sd) { return at::randn(shape, at::kDouble) * sd; };
  NamedTensors t;
  t.emplace_back("model.embed_tokens.weight", w({V, C}, 0.5));
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.emplace_back(p + "input_layernorm.weight", 1.0 + w({C}, 0.1));
    t.emplace_back(p + "post_attention_layernorm.weight", 1.0 + w({C}, 0.1));
    const std::vector<std::pair<std::string, std::vector<int64_t>>> proj = {
        {"self_attn.q_proj", {H * D, C}},  {"self_attn.k_proj", {KV * D, C}},
        {"self_attn.v_proj", {KV * D, C}}, {"self_attn.o_proj", {C, H * D}},
        {"mlp.gate_proj", {F, C}},         {"mlp.up_proj", {F, C}},
        {"mlp.down_proj", {C, F}}};
    for (const auto& [name, shape] : proj) {
      t.emplace_back(p + name + ".weight", w(shape, 1.0 / std::sqrt(double(shape[1]))));
      const bool bias = name.rfind("mlp.", 0) == 0   ? mlp_bias
                        : name == "self_attn.o_proj" ? o_bias
                                                     : qkv_bias;
      if (bias) t.emplace_back(p + name + ".bias", w({shape[0]}, 0.2));
    }
  }
  t.emplace_back("model.norm.weight", 1.0 + w({C}, 0.1));
  if (!c.value("tie_word_embeddings", false))
    t.emplace_back("lm_head.weight", w({V, C}, 1.0 / std::sqrt(double(C))));
  return t;
}

// Writes config.json and the weights (stored as `dtype`; `shards` > 1: an index and shards).
NamedTensors write_model(const std::string& dir, const json& config, uint64_t seed,
                         at::ScalarType dtype = at::kFloat, int shards = 1) {
  fs::create_directories(dir);
  std::ofstream(dir + "/config.json") << config.dump(2);
  NamedTensors t = random_weights(config, seed);
  NamedTensors stored;
  for (auto& [n, x] : t) stored.emplace_back(n, x.to(dtype));
  if (shards == 1) {
    write_safetensors(dir + "/model.safetensors", stored, {{"format", "pt"}});
  } else {
    json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
    for (int s = 0; s < shards; ++s) {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
      NamedTensors part;
      for (size_t i = static_cast<size_t>(s); i < stored.size(); i += static_cast<size_t>(shards)) {
        part.push_back(stored[i]);
        index["weight_map"][stored[i].first] = name;
      }
      write_safetensors(dir + "/" + name, part, {{"format", "pt"}});
    }
    std::ofstream(dir + "/model.safetensors.index.json") << index.dump(2);
  }
  // The reference computes with the stored values.
  for (auto& [n, x] : t) x = x.to(dtype).to(at::kDouble);
  return t;
}

json llama_config() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"vocab_size", 300},
          {"hidden_size", 32},
          {"intermediate_size", 48},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"max_position_embeddings", 64},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 500000.0},
          {"hidden_act", "silu"},
          {"tie_word_embeddings", false},
          {"attention_bias", false},
          {"mlp_bias", false},
          {"torch_dtype", "float32"}};
}

// ---- the float64 reference forward (transformers' formulas) ----------------------------------

const at::Tensor& get(const NamedTensors& t, const std::string& name) {
  for (const auto& [n, x] : t)
    if (n == name) return x;
  throw std::runtime_error("reference: no tensor " + name);
}
at::Tensor maybe(const NamedTensors& t, const std::string& name) {
  for (const auto& [n, x] : t)
    if (n == name) return x;
  return {};
}

at::Tensor rms(const at::Tensor& x, const at::Tensor& w, double eps) {
  return x * at::rsqrt(x.pow(2).mean(-1, true) + eps) * w;
}
at::Tensor lin(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const at::Tensor y = at::matmul(x, w.t());
  return b.defined() ? y + b : y;
}

// inv_freq with transformers' rope_scaling rules (modeling_rope_utils), in double.
at::Tensor inv_freq(const json& c, int64_t D) {
  at::Tensor inv = 1.0 / at::pow(c.value("rope_theta", 10000.0),
                                 at::arange(0, D, 2, at::kDouble) / static_cast<double>(D));
  if (!c.contains("rope_scaling") || c["rope_scaling"].is_null()) return inv;
  const json& r = c["rope_scaling"];
  const std::string type = r.value("rope_type", r.value("type", std::string("default")));
  const double factor = r.value("factor", 1.0);
  if (type == "linear") return inv / factor;
  if (type != "llama3") return inv;
  const double lo = r["low_freq_factor"], hi = r["high_freq_factor"];
  const double old = r["original_max_position_embeddings"];
  std::vector<double> out;
  for (int64_t i = 0; i < inv.size(0); ++i) {
    const double f = inv[i].item<double>(), wl = 2 * M_PI / f;
    if (wl < old / hi) {
      out.push_back(f);
    } else if (wl > old / lo) {
      out.push_back(f / factor);
    } else {
      const double s = (old / wl - lo) / (hi - lo);
      out.push_back((1 - s) * f / factor + s * f);
    }
  }
  return at::tensor(out, at::kDouble);
}

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

// Logits (B, T, V) in float64.
at::Tensor reference_logits(const json& c, const NamedTensors& w, const at::Tensor& ids) {
  const int64_t B = ids.size(0), T = ids.size(1), H = c["num_attention_heads"],
                KV = c.value("num_key_value_heads", H), D = head_dim_of(c),
                L = c["num_hidden_layers"];
  const double eps = c.value("rms_norm_eps", 1e-6);
  const at::Tensor freqs = at::outer(at::arange(T, at::kDouble), inv_freq(c, D));
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  const at::Tensor cos = emb.cos(), sin = emb.sin();  // (T, D)
  const at::Tensor mask = at::ones({T, T}, at::kBool).triu(1);
  at::Tensor x = at::embedding(get(w, "model.embed_tokens.weight"), ids);
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    auto P = [&](const std::string& name) { return get(w, p + name + ".weight"); };
    auto Pb = [&](const std::string& name) { return maybe(w, p + name + ".bias"); };
    const at::Tensor h = rms(x, P("input_layernorm"), eps);
    at::Tensor q =
        lin(h, P("self_attn.q_proj"), Pb("self_attn.q_proj")).view({B, T, H, D}).transpose(1, 2);
    at::Tensor k =
        lin(h, P("self_attn.k_proj"), Pb("self_attn.k_proj")).view({B, T, KV, D}).transpose(1, 2);
    at::Tensor v =
        lin(h, P("self_attn.v_proj"), Pb("self_attn.v_proj")).view({B, T, KV, D}).transpose(1, 2);
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
    k = k.repeat_interleave(H / KV, 1);  // repeat_kv
    v = v.repeat_interleave(H / KV, 1);
    at::Tensor s = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(D));
    s = s.masked_fill(mask, -std::numeric_limits<double>::infinity()).softmax(-1);
    const at::Tensor a = at::matmul(s, v).transpose(1, 2).reshape({B, T, H * D});
    x = x + lin(a, P("self_attn.o_proj"), Pb("self_attn.o_proj"));
    const at::Tensor m = rms(x, P("post_attention_layernorm"), eps);
    const at::Tensor g = lin(m, P("mlp.gate_proj"), Pb("mlp.gate_proj"));
    const at::Tensor u = lin(m, P("mlp.up_proj"), Pb("mlp.up_proj"));
    x = x + lin(at::silu(g) * u, P("mlp.down_proj"), Pb("mlp.down_proj"));
  }
  x = rms(x, get(w, "model.norm.weight"), eps);
  const bool tied = c.value("tie_word_embeddings", false);
  return at::matmul(x, get(w, tied ? "model.embed_tokens.weight" : "lm_head.weight").t());
}

double mean_ce(const at::Tensor& logits, const at::Tensor& ids) {
  const int64_t V = logits.size(-1), T = ids.size(1);
  const at::Tensor l = logits.narrow(1, 0, T - 1).reshape({-1, V}).to(at::kDouble);
  const at::Tensor t = ids.narrow(1, 1, T - 1).reshape({-1});
  return at::cross_entropy_loss(l, t).item<double>();
}

at::Tensor sample_ids(int64_t vocab) {
  at::manual_seed(99);
  return at::randint(0, vocab, {2, 12}, at::kLong);
}

// ---- tests -------------------------------------------------------------------------------

class HfModel : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(1); }
  // Loads the folder and checks lorascape's float32 loss against the reference (1e-5
  // relative) and its logits elementwise.
  void expect_matches_reference(const std::string& dir, const json& c, const NamedTensors& w) {
    Transformer m = load_base_model(dir);
    m->to(at::kFloat);
    const at::Tensor ids = sample_ids(c["vocab_size"]);
    const at::Tensor ref = reference_logits(c, w, ids);
    torch::NoGradGuard ng;
    const at::Tensor got = m->forward(ids);
    const double lr = mean_ce(ref, ids), lg = mean_ce(got, ids);
    EXPECT_NEAR(lg, lr, 1e-5 * std::fabs(lr)) << dir;
    EXPECT_LT((got.to(at::kDouble) - ref).abs().max().item<double>(), 1e-3) << dir;
  }
  test::TempDir tmp{::testing::UnitTest::GetInstance()->current_test_info()->name()};
};

TEST_F(HfModel, LlamaWithGroupedQueryAttentionMatchesTheReference) {
  const json c = llama_config();
  const auto w = write_model(tmp.file("llama"), c, 1);
  const ModelConfig mc = hf_model_config(tmp.file("llama"));
  EXPECT_EQ(mc.kv_heads(), 2);
  EXPECT_EQ(mc.tokenizer, "hf");
  EXPECT_EQ(mc.parameter_count(), [&] {
    int64_t n = 0;
    for (const auto& [name, t] : w) n += t.numel();
    return n;
  }());
  expect_matches_reference(tmp.file("llama"), c, w);
}

TEST_F(HfModel, Llama3RopeScalingAndLinearScalingMatchTheReference) {
  json c = llama_config();
  c["max_position_embeddings"] = 64;
  // A short original context, so the 12 positions span all three frequency bands.
  c["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 16}};
  c["rope_theta"] = 100.0;
  auto w = write_model(tmp.file("llama3"), c, 2);
  expect_matches_reference(tmp.file("llama3"), c, w);
  // Scaling changes the logits (the test above is not blind to it).
  json plain = c;
  plain.erase("rope_scaling");
  const at::Tensor ids = sample_ids(300);
  EXPECT_GT(std::fabs(mean_ce(reference_logits(plain, w, ids), ids) -
                      mean_ce(reference_logits(c, w, ids), ids)),
            1e-4);

  c["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};  // the older key
  w = write_model(tmp.file("linear"), c, 3);
  expect_matches_reference(tmp.file("linear"), c, w);
}

TEST_F(HfModel, Qwen2BiasesAndTiedEmbeddingsMatchTheReference) {
  json c = llama_config();
  c["architectures"] = {"Qwen2ForCausalLM"};
  c["model_type"] = "qwen2";
  c["tie_word_embeddings"] = true;
  c["use_sliding_window"] = false;
  c["sliding_window"] = 8;  // not used: use_sliding_window is false
  c.erase("attention_bias");
  c.erase("mlp_bias");
  const auto w = write_model(tmp.file("qwen2"), c, 4);
  ASSERT_TRUE(maybe(w, "model.layers.0.self_attn.q_proj.bias").defined());
  const ModelConfig mc = hf_model_config(tmp.file("qwen2"));
  EXPECT_TRUE(mc.qkv_bias);
  EXPECT_FALSE(mc.o_bias);
  EXPECT_TRUE(mc.tie_embeddings);
  EXPECT_EQ(mc.max_seq, 64);
  Transformer m = load_base_model(tmp.file("qwen2"));
  EXPECT_FALSE(m->lm_head);  // the head is the embedding
  EXPECT_TRUE(m->output_weight().is_same(m->model->embed_tokens->weight));
  expect_matches_reference(tmp.file("qwen2"), c, w);
}

TEST_F(HfModel, LlamaAttentionAndMlpBiasesAndAWiderHeadDimMatchTheReference) {
  json c = llama_config();
  c["attention_bias"] = true;
  c["mlp_bias"] = true;
  c["head_dim"] = 16;  // 4 heads of 16 on a hidden size of 32
  const auto w = write_model(tmp.file("wide"), c, 5);
  EXPECT_EQ(get(w, "model.layers.0.self_attn.q_proj.weight").size(0), 64);
  const ModelConfig mc = hf_model_config(tmp.file("wide"));
  EXPECT_EQ(mc.head_dim(), 16);
  EXPECT_TRUE(mc.o_bias && mc.mlp_bias);
  expect_matches_reference(tmp.file("wide"), c, w);
}

TEST_F(HfModel, MistralShardedAndBfloat16Storage) {
  json c = llama_config();
  c["architectures"] = {"MistralForCausalLM"};
  c["model_type"] = "mistral";
  c["sliding_window"] = 32;  // shorter than max_position_embeddings: sequences up to 32
  c.erase("attention_bias");
  c.erase("mlp_bias");
  const auto w = write_model(tmp.file("mistral"), c, 6, at::kFloat, 3);
  EXPECT_TRUE(fs::exists(tmp.file("mistral/model-00003-of-00003.safetensors")));
  EXPECT_EQ(hf_model_config(tmp.file("mistral")).max_seq, 32);
  expect_matches_reference(tmp.file("mistral"), c, w);

  // bfloat16 as stored: the model keeps it (no float32 copy), and its bfloat16 forward is
  // close to the reference of the stored values.
  const auto wb = write_model(tmp.file("bf16"), c, 7, at::kBFloat16);
  Transformer m = load_base_model(tmp.file("bf16"));
  for (const auto& [name, p] : m->base_parameters())
    EXPECT_EQ(p.scalar_type(), at::kBFloat16) << name;
  const at::Tensor ids = sample_ids(300);
  torch::NoGradGuard ng;
  const double lb = mean_ce(m->forward(ids), ids), lr = mean_ce(reference_logits(c, wb, ids), ids);
  EXPECT_NEAR(lb, lr, 0.03 * lr);
  expect_matches_reference(tmp.file("bf16"), c, wb);  // converted to float32: 1e-5
}

// The point-batched evaluation (merged W + s·BA per point, biases shared) gives the loss of the
// model with the adapter in its side paths, and that of the reference with W + s·BA.
TEST_F(HfModel, EvaluatorPointsWithBiasesEqualTheSidePath) {
  json c = llama_config();
  c["architectures"] = {"Qwen2ForCausalLM"};
  c["model_type"] = "qwen2";
  c.erase("attention_bias");
  c.erase("mlp_bias");
  auto w = write_model(tmp.file("q"), c, 8);
  Transformer m = load_base_model(tmp.file("q"));
  LoraConfig lora;
  lora.rank = 2;
  lora.alpha = 4;
  m->add_lora(lora);
  at::manual_seed(3);
  {
    torch::NoGradGuard ng;
    for (auto& [name, p] : m->lora_parameters()) p.copy_(at::randn(p.sizes()) * 0.3);
  }
  const Adapter a = Adapter::from_model(*m);
  for (auto& [name, t] : w)  // the reference with W + s·BA
    for (auto& [mod, layer] : m->lora_layers())
      if (name == mod + ".weight")
        t = t +
            lora.scale() * at::matmul(layer->lora_B->weight, layer->lora_A->weight).to(at::kDouble);
  const at::Tensor ids = sample_ids(300);
  TokenBatch b;
  b.input = ids.narrow(1, 0, 11);
  b.target = ids.narrow(1, 1, 11);
  b.mask = at::ones({2, 11});
  Evaluator ev(*m, lora.scale(), 2);
  ev.load_points({a, a.zeros_like()});
  ScoreSums sums(2);
  ev.evaluate_batch(b, sums);
  torch::NoGradGuard ng;
  m->eval();
  const double side = mean_ce(m->forward(ids), ids);
  const double ref = mean_ce(reference_logits(c, w, ids), ids);
  EXPECT_NEAR(sums.scores(0).loss, side, 1e-5 * side);
  EXPECT_NEAR(sums.scores(0).loss, ref, 1e-5 * ref);
  EXPECT_GT(std::fabs(sums.scores(1).loss - ref), 1e-3);  // the zero adapter is the base model
}

// Every malformed folder: one FormatError or ConfigError naming the file and the problem.
TEST_F(HfModel, MalformedFoldersAreOneLineErrorsNamingTheFileAndField) {
  auto expect_error = [&](const std::string& dir, const std::vector<std::string>& words) {
    try {
      (void)load_base_model(dir);
      ADD_FAILURE() << dir << ": loaded";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      for (const auto& word : words) EXPECT_NE(msg.find(word), std::string::npos) << msg;
    }
  };
  auto variant = [&](const std::string& name, const std::function<void(json&)>& edit) {
    json c = llama_config();
    edit(c);
    write_model(tmp.file(name), llama_config(), 1);
    std::ofstream(tmp.file(name) + "/config.json") << c.dump();
    return tmp.file(name);
  };
  expect_error(variant("no-hidden", [](json& c) { c.erase("hidden_size"); }),
               {"config.json", "\"hidden_size\"", "missing"});
  expect_error(variant("str-layers", [](json& c) { c["num_hidden_layers"] = "2"; }),
               {"config.json", "\"num_hidden_layers\"", "positive integer"});
  expect_error(variant("gpt2", [](json& c) { c["model_type"] = "gpt2"; }),
               {"config.json", "\"model_type\"", "gpt2"});
  expect_error(
      variant("arch", [](json& c) { c["architectures"] = {"LlamaForSequenceClassification"}; }),
      {"\"architectures\"", "LlamaForCausalLM"});
  expect_error(variant("yarn",
                       [](json& c) {
                         c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
                       }),
               {"config.json", "rope_scaling.rope_type", "yarn"});
  expect_error(variant("gelu", [](json& c) { c["hidden_act"] = "gelu"; }), {"\"hidden_act\""});
  expect_error(variant("quant",
                       [](json& c) {
                         c["quantization_config"] = {{"bits", 4}};
                       }),
               {"\"quantization_config\""});
  expect_error(variant("llama3-partial",
                       [](json& c) {
                         c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
                       }),
               {"rope_scaling.low_freq_factor", "missing"});
  // Sizes the files cannot hold are refused before anything is allocated.
  expect_error(variant("huge", [](json& c) { c["intermediate_size"] = int64_t{1} << 24; }),
               {"config.json", "parameters", "bytes"});
  // Shape mismatch between config and tensors.
  expect_error(variant("shape", [](json& c) { c["intermediate_size"] = 40; }),
               {"model.safetensors", "model.layers.0.mlp.gate_proj.weight", "shape"});
  // Missing weights, a pickle only, a missing shard, an index naming a missing tensor.
  fs::create_directories(tmp.file("empty"));
  std::ofstream(tmp.file("empty/config.json")) << llama_config().dump();
  expect_error(tmp.file("empty"), {"no model.safetensors"});
  std::ofstream(tmp.file("empty/pytorch_model.bin")) << "pickle";
  expect_error(tmp.file("empty"), {"pytorch_model.bin", "pickle", "safetensors"});
  write_model(tmp.file("shards"), llama_config(), 1, at::kFloat, 2);
  fs::remove(tmp.file("shards/model-00002-of-00002.safetensors"));
  expect_error(tmp.file("shards"),
               {"model.safetensors.index.json", "model-00002-of-00002", "missing"});
  write_model(tmp.file("index"), llama_config(), 1, at::kFloat, 2);
  {
    std::ifstream in(tmp.file("index/model.safetensors.index.json"));
    json idx = json::parse(in);
    idx["weight_map"]["model.layers.9.mlp.up_proj.weight"] = "model-00001-of-00002.safetensors";
    std::ofstream(tmp.file("index/model.safetensors.index.json")) << idx.dump();
  }
  expect_error(tmp.file("index"), {"index.json", "model.layers.9.mlp.up_proj.weight"});
  // A tensor missing from a single file; an unexpected one; an integer dtype.
  {
    NamedTensors t = random_weights(llama_config(), 1);
    NamedTensors missing(t.begin() + 1, t.end()), extra = t, ints = t;
    extra.emplace_back("model.layers.0.mlp.extra", at::zeros({2}));
    ints[0].second = ints[0].second.to(at::kInt);
    for (const auto& [name, tensors] : std::vector<std::pair<std::string, NamedTensors>>{
             {"missing", missing}, {"extra", extra}, {"ints", ints}}) {
      fs::create_directories(tmp.file(name));
      std::ofstream(tmp.file(name) + "/config.json") << llama_config().dump();
      NamedTensors f;
      for (const auto& [n, x] : tensors)
        f.emplace_back(n, x.is_floating_point() ? x.to(at::kFloat) : x);
      write_safetensors(tmp.file(name) + "/model.safetensors", f);
    }
  }
  expect_error(tmp.file("missing"), {"model.embed_tokens.weight", "missing"});
  expect_error(tmp.file("extra"), {"model.safetensors", "unexpected tensor", "mlp.extra"});
  expect_error(tmp.file("ints"), {"model.safetensors", "model.embed_tokens.weight", "dtype"});
  // config.json that is not JSON, or nested past any sane depth (no stack overflow).
  variant("notjson", [](json&) {});
  std::ofstream(tmp.file("notjson/config.json")) << "{\"model_type\": ";
  expect_error(tmp.file("notjson"), {"config.json", "not valid JSON"});
  std::ofstream(tmp.file("notjson/config.json"))
      << std::string(200000, '[') << std::string(200000, ']');
  expect_error(tmp.file("notjson"), {"config.json", "not valid JSON"});
}

TEST_F(HfModel, DigestNamesTheModelWithoutReadingItsWeights) {
  write_model(tmp.file("a"), llama_config(), 1);
  write_model(tmp.file("b"), llama_config(), 2);
  EXPECT_EQ(file_digest(tmp.file("a")), hf_model_digest(tmp.file("a")));
  EXPECT_EQ(file_digest(tmp.file("a")).size(), 16u);
  json c = llama_config();
  c["rms_norm_eps"] = 1e-6;
  std::ofstream(tmp.file("b/config.json")) << c.dump(2);
  EXPECT_NE(file_digest(tmp.file("a")), file_digest(tmp.file("b")));
}

}  // namespace

namespace {
// export-hf: lorascape's own model as an HF folder that the loader reads back with the same
// logits, bit for bit, and whose tokenizer.json encodes text as the byte tokenizer does.
TEST_F(HfModel, ExportedByteModelReadsBackIdentically) {
  ModelConfig cfg;
  cfg.d_model = 32;
  cfg.n_layers = 2;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;
  cfg.d_ff = 48;
  at::manual_seed(5);
  Transformer m(cfg);
  m->eval();
  export_hf_model(*m, tmp.file("out"));
  const ModelConfig back = hf_model_config(tmp.file("out"));
  ModelConfig same = back;
  same.tokenizer = "bytes";
  EXPECT_EQ(same, cfg);
  Transformer r = load_base_model(tmp.file("out"));
  const at::Tensor ids = sample_ids(260);
  torch::NoGradGuard ng;
  EXPECT_TRUE(at::equal(m->forward(ids), r->forward(ids)));
  const HfTokenizer tok = HfTokenizer::load(tmp.file("out"));
  for (const std::string s :
       {"Hello, world!", "tab\tand\nnewline", "ünïcödé 漢字 🙂", " x "}) {
    std::vector<int64_t> bytes;
    for (unsigned char c : s) bytes.push_back(c);
    EXPECT_EQ(tok.encode(s, false), bytes) << s;
    EXPECT_EQ(tok.decode(bytes, true), s);
  }
  EXPECT_EQ(tok.bos_id(), 256);
  EXPECT_EQ(tok.eos_id(), 257);
  // A model from a folder is not exported again; LoRA goes out with export-adapter.
  EXPECT_THROW(export_hf_model(*r, tmp.file("again")), ConfigError);
}
}  // namespace

namespace {
// LoRA on a base model kept in bfloat16 (a model folder as stored): float32 factors, their side
// path computed in float32 and rounded to bfloat16 as PEFT does; the factors get float32
// gradients, and the side path agrees with the float32 model's to bfloat16 precision.
TEST_F(HfModel, LoraTrainsOnABfloat16BaseWithFloat32Factors) {
  const json c = llama_config();
  write_model(tmp.file("b"), c, 9, at::kBFloat16);
  Transformer m = load_base_model(tmp.file("b"));
  Transformer f = load_base_model(tmp.file("b"));
  f->to(at::kFloat);
  LoraConfig lora;
  lora.rank = 2;
  lora.alpha = 4;
  lora.targets = {"q_proj", "v_proj"};
  for (Transformer* t : {&m, &f}) {
    at::manual_seed(4);
    (*t)->add_lora(lora);
    torch::NoGradGuard ng;
    for (auto& [name, p] : (*t)->lora_parameters()) p.copy_(at::randn(p.sizes()) * 0.5);
  }
  for (const auto& [name, p] : m->lora_parameters()) EXPECT_EQ(p.scalar_type(), at::kFloat);
  const at::Tensor ids = sample_ids(300);
  m->train();
  const at::Tensor loss =
      at::cross_entropy_loss(m->forward(ids.narrow(1, 0, 11)).reshape({-1, 300}).to(at::kFloat),
                             ids.narrow(1, 1, 11).reshape({-1}));
  loss.backward();
  for (const auto& [name, p] : m->lora_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_EQ(p.grad().scalar_type(), at::kFloat);
    EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>()) << name;
  }
  torch::NoGradGuard ng;
  m->eval();
  f->eval();
  const double lb = mean_ce(m->forward(ids), ids), lf = mean_ce(f->forward(ids), ids);
  EXPECT_NEAR(lb, lf, 0.03 * lf);
}
TEST_F(HfModel, SoftPromptsRunOnHuggingFaceModelsAsPrependedTokens) {
  // Qwen2: q/k/v biases and tied embeddings. A prompt of token-embedding rows is the same as
  // those tokens put first; on a bfloat16 base a float32 prompt gets a float32 gradient.
  json c = llama_config();
  c["architectures"] = {"Qwen2ForCausalLM"};
  c["model_type"] = "qwen2";
  c["tie_word_embeddings"] = true;
  c["use_sliding_window"] = false;
  c.erase("attention_bias");
  c.erase("mlp_bias");
  write_model(tmp.file("qp"), c, 4);
  Transformer m = load_base_model(tmp.file("qp"));
  m->eval();
  const at::Tensor ids = sample_ids(300).narrow(0, 0, 1).narrow(1, 0, 9);  // one row
  const at::Tensor pre = ids.narrow(1, 0, 3);
  const at::Tensor rest = ids.narrow(1, 3, 6);
  {
    torch::NoGradGuard ng;
    SoftPrompt sp;
    sp.parts = {m->model->embed_tokens(pre)[0].clone()};
    m->set_prompt(sp);
    const at::Tensor prompted = m->forward(rest);
    m->clear_prompt();
    const at::Tensor whole = m->forward(ids).narrow(1, 3, 6);
    EXPECT_TRUE(at::allclose(prompted, whole, 1e-4, 1e-5))
        << (prompted - whole).abs().max().item<double>();
  }
  write_model(tmp.file("qb"), c, 4, at::kBFloat16);
  Transformer b = load_base_model(tmp.file("qb"));
  const at::Tensor p = (at::randn({2, b->config().d_model}) * 0.02).set_requires_grad(true);
  SoftPrompt sp;
  sp.parts = {p};
  b->set_prompt(sp);
  b->forward(rest).to(at::kFloat).sum().backward();
  ASSERT_TRUE(p.grad().defined());
  EXPECT_EQ(p.grad().scalar_type(), at::kFloat);
  EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0);
}
}  // namespace
