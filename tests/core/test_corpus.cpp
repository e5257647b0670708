// The generic pretraining corpus: determinism, line lengths, ASCII, no task tags or task
// patterns, and the variety it promises (repeats, lists, dialogue, capitals, numbers).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "core/corpus.h"
#include "core/tasks.h"
#include "store/error.h"

namespace lc = lorascape::core;

namespace {

std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (letter) {
      cur.push_back(c);
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

TEST(Corpus, DeterministicFromSeed) {
  const auto a = lc::generic_corpus(1, 500);
  const auto b = lc::generic_corpus(1, 500);
  const auto c = lc::generic_corpus(2, 500);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // A shorter corpus is a prefix of a longer one with the same seed.
  const auto p = lc::generic_corpus(1, 100);
  EXPECT_EQ(p, std::vector<std::string>(a.begin(), a.begin() + 100));
}

TEST(Corpus, Sizes) {
  EXPECT_EQ(lc::generic_corpus(3, 0).size(), 0u);
  EXPECT_EQ(lc::generic_corpus(3, 1).size(), 1u);
  EXPECT_EQ(lc::generic_corpus(3, 1234).size(), 1234u);
  EXPECT_THROW(lc::generic_corpus(3, -1), lorascape::ConfigError);
}

TEST(Corpus, LineLengthsAndAscii) {
  for (const auto& line : lc::generic_corpus(4, 20000)) {
    EXPECT_GE(line.size(), lc::kCorpusMinLineBytes) << line;
    EXPECT_LE(line.size(), lc::kCorpusMaxLineBytes) << line;
    EXPECT_GE(line.size(), 20u);
    EXPECT_LE(line.size(), 60u);
    for (unsigned char c : line) ASSERT_TRUE(c >= 32 && c < 127) << "non-printable in: " << line;
    EXPECT_NE(line.front(), ' ') << line;
    EXPECT_NE(line.back(), ' ') << line;
    EXPECT_EQ(line.find("  "), std::string::npos) << line;
  }
}

TEST(Corpus, ContainsNoTaskTagsOrTaskPatterns) {
  // The tags of the built-in tasks, taken from the tasks themselves ("arith", "close", ...).
  std::vector<std::string> tags;
  for (const auto& t : lc::builtin_suite(1, {1, 0, 0}))
    tags.push_back(t.train[0].prompt.substr(0, t.train[0].prompt.find(':') + 1));
  ASSERT_EQ(tags.size(), 8u);
  for (const auto& line : lc::generic_corpus(5, 20000)) {
    for (const auto& tag : tags) EXPECT_EQ(line.find(tag), std::string::npos) << line;
    // No multiple-choice markers, arithmetic, tags or code-like brackets at all.
    for (char c : std::string(":/+=<>[]{}()")) EXPECT_EQ(line.find(c), std::string::npos) << line;
    EXPECT_EQ(line.find("A/B"), std::string::npos) << line;
    EXPECT_EQ(line.find(" saw a "), std::string::npos) << line;  // the extract template
  }
}

TEST(Corpus, HasTheVarietyItPromises) {
  const auto lines = lc::generic_corpus(6, 5000);
  int repeats = 0, lists = 0, dialogue = 0, inner_capitals = 0, numbers = 0, questions = 0;
  std::set<std::string> vocabulary;
  std::set<std::string> distinct(lines.begin(), lines.end());
  for (const auto& line : lines) {
    const auto w = words_of(line);
    std::set<std::string> seen;
    bool repeated = false;
    for (size_t i = 0; i < w.size(); ++i) {
      vocabulary.insert(w[i]);
      // A content word (3+ letters, not a function word) that occurs again later in the line.
      static const std::set<std::string> function_words = {"the", "and",   "The",  "said", "then",
                                                           "Yes", "again", "only", "did",  "not"};
      if (w[i].size() >= 3 && !function_words.count(w[i]) && !seen.insert(w[i]).second)
        repeated = true;
      if (i > 0 && w[i][0] >= 'A' && w[i][0] <= 'Z') ++inner_capitals;
    }
    repeats += repeated;
    lists += line.find(", ") != std::string::npos && line.find(" and ") != std::string::npos;
    dialogue += line.find('"') != std::string::npos;
    numbers += line.find_first_of("0123456789") != std::string::npos;
    questions += line.find('?') != std::string::npos;
  }
  EXPECT_GT(repeats, 500);
  EXPECT_GT(lists, 200);
  EXPECT_GT(dialogue, 200);
  EXPECT_GT(inner_capitals, 500);
  EXPECT_GT(numbers, 500);
  EXPECT_GT(questions, 100);
  EXPECT_GE(vocabulary.size(), 300u);
  EXPECT_GT(distinct.size(), 4500u);  // hardly any exact duplicates
}
