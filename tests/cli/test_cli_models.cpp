// Hugging Face model folders from the command line: export-hf writes lorascape's base model as
// one, inspect describes it (and run files), and a malformed folder is one line and exit 2.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base_model.h"
#include "core/hf_model.h"
#include "core/safetensors.h"
#include "store/scan_file.h"
#include "tests/common/cli_util.h"
#include "tests/common/fixtures.h"
#include "tests/common/reference_tokenizers.h"
#include "tests/common/test_util.h"

using namespace lorascape;
namespace fs = std::filesystem;

TEST(CliModels, ExportHfInspectAndMalformedFolders) {
  test::TempDir tmp("cli-models");
  const auto& shared = test::shared_cli_run();
  const std::string base = tmp.file("base.safetensors");
  auto r = test::run_cli("-q pretrain --config " + shared.config + " --out " + base, shared.cache);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string dir = tmp.file("hf");
  r = test::run_cli("export-hf " + base + " --out " + dir, shared.cache);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f :
       {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;

  r = test::run_cli("inspect " + dir, shared.cache);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* word :
       {"Hugging Face model folder", "LlamaForCausalLM", "layers 1", "hidden 32", "vocabulary 260",
        "parameters: 27.0 k (26976)", "Float", "byte-level-bpe, 260 tokens"})
    EXPECT_NE(r.out.find(word), std::string::npos) << word << "\n" << r.out;
  r = test::run_cli("inspect " + shared.h5, shared.cache);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* word :
       {"lorascape run file", "weekday, arith", "method seq: 2 stages", "method er"})
    EXPECT_NE(r.out.find(word), std::string::npos) << word << "\n" << r.out;
  r = test::run_cli("tokenize " + dir + " --text 'Hi'", shared.cache);
  EXPECT_EQ(r.out, "[72,105]\n");

  // score: every token after the first, its log-probability under the model, and their mean.
  r = test::run_cli("score " + dir + " --text 'Hello' --json", shared.cache);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["tokens"].size(), 5u);
  EXPECT_TRUE(j["tokens"][0]["logprob"].is_null());
  EXPECT_EQ(j["scored"], 4);
  {
    core::Transformer m = core::load_base_model(dir);
    torch::NoGradGuard ng;
    const at::Tensor ids = at::tensor(std::vector<int64_t>{72, 101, 108, 108, 111}).view({1, 5});
    const at::Tensor logp = m->forward(ids).to(at::kDouble).log_softmax(-1)[0];
    double sum = 0;
    for (int t = 1; t < 5; ++t) {
      EXPECT_EQ(j["tokens"][t]["id"], ids[0][t].item<int64_t>());
      const double lp = logp[t - 1][ids[0][t]].item<double>();
      EXPECT_NEAR(j["tokens"][t]["logprob"].get<double>(), lp, 1e-9);
      sum -= lp;
    }
    EXPECT_NEAR(j["loss"].get<double>(), sum / 4, 1e-9);
  }
  r = test::run_cli("score " + dir + " --text 'Hello'", shared.cache);
  EXPECT_NEAR(std::stod(r.out), j["loss"].get<double>(), 1e-7) << r.out;
  r = test::run_cli("score " + dir + " --text H", shared.cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("at least two"), std::string::npos) << r.out;

  // A config.json without hidden_size; no weights; then a path that is not there.
  nlohmann::json c;
  std::ifstream(dir + "/config.json") >> c;
  c.erase("hidden_size");
  std::ofstream(dir + "/config.json") << c.dump();
  r = test::run_cli("inspect " + dir, shared.cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(test::count_lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("config.json: field \"hidden_size\" is missing"), std::string::npos)
      << r.out;
  r = test::run_cli("inspect " + tmp.file("nowhere"), shared.cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(test::count_lines(r.out), 1u) << r.out;
}

namespace {
// A random Llama-3-shaped model folder of about 17 M parameters (hidden 64, 2 layers, grouped
// -query attention, the real 128,256-token vocabulary) with the real Llama-3 tokenizer.
std::string write_llama3_folder(const std::string& dir) {
  const std::string tok = test::reference_tokenizer("llama3");
  fs::create_directories(dir);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(tok + "/" + f, dir + "/" + f, fs::copy_options::overwrite_existing);
  const nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                                 {"model_type", "llama"},
                                 {"vocab_size", 128256},
                                 {"hidden_size", 64},
                                 {"intermediate_size", 172},
                                 {"num_hidden_layers", 2},
                                 {"num_attention_heads", 4},
                                 {"num_key_value_heads", 2},
                                 {"max_position_embeddings", 256},
                                 {"rms_norm_eps", 1e-5},
                                 {"rope_theta", 500000.0},
                                 {"bos_token_id", 128000},
                                 {"eos_token_id", 128001},
                                 {"torch_dtype", "float32"}};
  std::ofstream(dir + "/config.json") << config.dump(2);
  at::manual_seed(11);
  core::Transformer m(core::hf_model_config(dir));  // random weights, HF names
  core::NamedTensors t;
  for (auto& [name, p] : m->base_parameters()) t.emplace_back(name, p.detach());
  core::write_safetensors(dir + "/model.safetensors", t, {{"format", "pt"}});
  return dir;
}
}  // namespace

// The end-to-end check: LoRA on q, k, v, o of a Llama-3-shaped model folder with its real
// tokenizer, trained over two built-in tasks, and a line scan between its two stage adapters.
TEST(CliModels, TrainAndScanALlama3ShapedFolder) {
  if (const std::string why = test::missing_reference("llama3"); !why.empty()) FAIL() << why;
  test::TempDir tmp("cli-models-llama3");
  const std::string dir = write_llama3_folder(tmp.file("llama3"));
  const std::string cfg = tmp.write(
      "run.toml",
      "threads = 1\ndevice = \"cpu\"\nbase = \"" + dir +
          "\"\n[tasks]\nnames = [\"weekday\", \"arith\"]\ntrain = 16\neval = 4\ntest = 8\n"
          "[lora]\nrank = 4\nalpha = 8\ntargets = [\"q_proj\", \"k_proj\", \"v_proj\", "
          "\"o_proj\"]\n"
          "[train]\nsteps = 3\nbatch = 4\n[eval]\nmax_examples = 8\n");
  auto r = test::run_cli("-q train --config " + cfg + " --set out=" + tmp.file("run"),
                         tmp.file("cache"));
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string h5 = tmp.file("run/run.h5");
  r = test::run_cli("inspect " + h5, tmp.file("cache"));
  EXPECT_NE(r.out.find("method seq: 2 stages"), std::string::npos) << r.out;
  const std::string line = tmp.file("line.h5");
  r = test::run_cli("-q scan line --from " + h5 + ":seq/1 --to " + h5 + ":seq/2 -n 3 --out " + line,
                    tmp.file("cache"));
  ASSERT_EQ(r.code, 0) << r.out;
  const store::ScanData d = store::read_scan_file(line);
  EXPECT_TRUE(d.complete());
  for (double v : d.values) EXPECT_TRUE(std::isfinite(v));
  // The loss of a 128,256-way guess is about ln(128256) = 11.8; the scan measured it on tokens.
  EXPECT_GT(d.values[d.value_index(0, 0, 0)], 5.0);
  EXPECT_LT(d.values[d.value_index(0, 0, 0)], 20.0);
}
