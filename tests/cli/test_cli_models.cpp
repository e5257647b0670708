// Hugging Face model folders from the command line: export-hf writes lorascape's base model as
// one, inspect describes it (and run files), and a malformed folder is one line and exit 2.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base_model.h"
#include "tests/common/cli_util.h"
#include "tests/common/fixtures.h"
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
