// `lorascape tokenize` end to end: the ids of the reference tokenizers for the committed corpus
// (tests/tokenizer/), one JSON array per text, and exit code 2 with one line on bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/common/cli_util.h"
#include "tests/common/reference_tokenizers.h"
#include "tests/common/test_util.h"

namespace t = lorascape::test;
using nlohmann::json;

namespace {

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

class CliTokenize : public ::testing::Test {
 protected:
  t::TempDir dir{"cli-tokenize"};
  t::CliResult run(const std::string& args) { return t::run_cli(args, dir.file("cache")); }
};

TEST_F(CliTokenize, CorpusFileGivesTheReferenceIds) {
  const std::string corpus = std::string(LORASCAPE_SOURCE_DIR) + "/tests/tokenizer/corpus.jsonl";
  for (const std::string name : {"llama2", "llama3"}) {
    const std::string missing = t::missing_reference(name);
    ASSERT_TRUE(missing.empty()) << missing;
    for (const bool special : {false, true}) {
      const auto r = run("tokenize '" + t::reference_tokenizer(name) + "' --file '" + corpus + "'" +
                         (special ? " --special" : ""));
      ASSERT_EQ(r.code, 0) << r.out;
      const std::vector<std::string> got = split_lines(r.out);
      const std::vector<std::string> want = t::tokenizer_test_lines("expected_" + name + ".jsonl");
      ASSERT_EQ(got.size(), want.size()) << r.out;
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(json::parse(got[i]), json::parse(want[i]).at(special ? "ids_special" : "ids"))
            << name << " line " << i + 1;
    }
  }
}

TEST_F(CliTokenize, OneText) {
  ASSERT_TRUE(t::missing_reference("llama3").empty()) << t::missing_reference("llama3");
  auto r = run("tokenize '" + t::reference_tokenizer("llama3") + "' --text 'Hello, world!'");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[9906,11,1917,0]\n");
  ASSERT_TRUE(t::missing_reference("llama2").empty()) << t::missing_reference("llama2");
  r = run("tokenize '" + t::reference_tokenizer("llama2") + "' --text '' --special");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[1]\n");
}

TEST_F(CliTokenize, FolderWithOnlyTokenizerJson) {
  dir.write("tokenizer.json",
            R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})");
  const auto r = run("tokenize '" + dir.path().string() + "' --text abba");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[2,1,0]\n");
}

TEST_F(CliTokenize, BadInputIsOneLineAndExitCode2) {
  // No tokenizer.json in the folder.
  auto r = run("tokenize '" + dir.file("nowhere") + "' --text hi");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(t::count_lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("tokenizer.json: not found"), std::string::npos) << r.out;
  // An unsupported model.
  dir.write("tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {}}})");
  r = run("tokenize '" + dir.path().string() + "' --text hi");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(t::count_lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("\"model.type\" is \"WordPiece\""), std::string::npos) << r.out;
  // A text file line that is not a JSON string.
  dir.write("tokenizer.json", R"({"model": {"vocab": {"a": 0}, "merges": []}})");
  const std::string texts = dir.write("texts.jsonl", "\"a\"\nnot json\n");
  r = run("tokenize '" + dir.path().string() + "' --file '" + texts + "'");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("texts.jsonl:2: not JSON"), std::string::npos) << r.out;
  // Neither --text nor --file; both.
  r = run("tokenize '" + dir.path().string() + "'");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--text"), std::string::npos) << r.out;
  r = run("tokenize '" + dir.path().string() + "' --text a --file '" + texts + "'");
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST_F(CliTokenize, HelpExplains) {
  const auto r = run("tokenize --help");
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* s : {"tokenizer.json", "--text", "--file", "--special", "JSON"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

}  // namespace
