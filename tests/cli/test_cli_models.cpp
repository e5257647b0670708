// Hugging Face model folders from the command line: export-hf writes lorascape's base model as
// one, inspect describes it (and run files), and a malformed folder is one line and exit 2.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

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
