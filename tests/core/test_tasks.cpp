// Built-in synthetic tasks (determinism, sizes, limits, kinds, answers checked independently)
// and the TRACE/LLMCL JSON loader (round trips and every error case).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tasks.h"
#include "store/error.h"

namespace lc = lorascape::core;
namespace fs = std::filesystem;
using lorascape::ConfigError;
using lorascape::DataError;

namespace {

bool same(const std::vector<lc::Example>& a, const std::vector<lc::Example>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].prompt != b[i].prompt || a[i].answer != b[i].answer) return false;
  return true;
}

std::vector<const lc::Example*> all_examples(const lc::Task& t) {
  std::vector<const lc::Example*> v;
  for (const auto* split : {&t.train, &t.eval, &t.test})
    for (const auto& e : *split) v.push_back(&e);
  return v;
}

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

const lc::SplitSizes kBig{2000, 300, 500};

// The eight tasks of the default sequence, then the variants.
std::vector<std::string> all_builtin_names() {
  std::vector<std::string> v = lc::builtin_task_names();
  for (const auto& n : lc::builtin_variant_names()) v.push_back(n);
  return v;
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Built-in tasks
// ------------------------------------------------------------------------------------------

TEST(BuiltinTasks, NamesInDefaultOrder) {
  const std::vector<std::string> expected = {"topic",   "arith",     "upper",   "brackets",
                                             "extract", "translate", "compare", "weekday"};
  EXPECT_EQ(lc::builtin_task_names(), expected);
  for (const auto& n : expected) EXPECT_TRUE(lc::is_builtin_task(n)) << n;
  EXPECT_FALSE(lc::is_builtin_task("nope"));
  EXPECT_FALSE(lc::is_builtin_task(""));
  EXPECT_FALSE(lc::is_builtin_task("Arith"));
  // The variants: built-in, not in the default sequence, each shifting one of the eight.
  const std::map<std::string, std::string> variants = {{"arith-pages", "arith"},
                                                       {"weekday-months", "weekday"},
                                                       {"compare-hundreds", "compare"},
                                                       {"extract-places", "extract"}};
  ASSERT_EQ(lc::builtin_variant_names().size(), variants.size());
  for (const auto& n : lc::builtin_variant_names()) {
    ASSERT_TRUE(variants.count(n)) << n;
    EXPECT_TRUE(lc::is_builtin_task(n)) << n;
    EXPECT_EQ(lc::builtin_variant_of(n), variants.at(n));
  }
  EXPECT_EQ(lc::builtin_variant_of("arith"), "");
  EXPECT_EQ(lc::builtin_variant_of("nope"), "");
}

TEST(BuiltinTasks, KindsAndDescriptions) {
  const std::map<std::string, lc::AnswerKind> kinds = {
      {"topic", lc::AnswerKind::Letter},   {"arith", lc::AnswerKind::Number},
      {"upper", lc::AnswerKind::Text},     {"brackets", lc::AnswerKind::Text},
      {"extract", lc::AnswerKind::Text},   {"translate", lc::AnswerKind::Text},
      {"compare", lc::AnswerKind::Letter}, {"weekday", lc::AnswerKind::Text}};
  for (const auto& t : lc::builtin_suite(3, {}, all_builtin_names())) {
    const std::string parent = lc::builtin_variant_of(t.name);
    ASSERT_TRUE(kinds.count(parent.empty() ? t.name : parent)) << t.name;
    EXPECT_EQ(t.kind, kinds.at(parent.empty() ? t.name : parent)) << t.name;
    // The declared kind agrees with what the answers look like.
    std::vector<lc::Example> all;
    for (const auto* e : all_examples(t)) all.push_back(*e);
    EXPECT_EQ(lc::infer_kind(all), t.kind) << t.name;
    EXPECT_FALSE(t.description.empty()) << t.name;
    EXPECT_EQ(t.description.find('\n'), std::string::npos) << t.name;
  }
  EXPECT_STREQ(lc::to_string(lc::AnswerKind::Letter), "letter");
  EXPECT_STREQ(lc::to_string(lc::AnswerKind::Number), "number");
  EXPECT_STREQ(lc::to_string(lc::AnswerKind::Text), "text");
}

TEST(BuiltinTasks, DeterministicFromSeed) {
  for (const auto& name : all_builtin_names()) {
    const auto a = lc::make_builtin_task(name, 42, {});
    const auto b = lc::make_builtin_task(name, 42, {});
    const auto c = lc::make_builtin_task(name, 43, {});
    EXPECT_TRUE(same(a.train, b.train)) << name;
    EXPECT_TRUE(same(a.eval, b.eval)) << name;
    EXPECT_TRUE(same(a.test, b.test)) << name;
    EXPECT_FALSE(same(a.train, c.train)) << name;
    EXPECT_FALSE(same(a.test, c.test)) << name;
    // The splits are drawn from independent streams.
    std::vector<lc::Example> train_head(a.train.begin(), a.train.begin() + 100);
    EXPECT_FALSE(same(train_head, a.eval)) << name;
    // A task's data does not depend on which other tasks are in the suite.
    const auto in_suite =
        lc::builtin_suite(42, {}, {"weekday", name == "weekday" ? "arith" : name});
    const auto& t = in_suite[0].name == name ? in_suite[0] : in_suite[1];
    EXPECT_TRUE(same(a.train, t.train)) << name;
  }
}

TEST(BuiltinTasks, EachSplitUsesItsDerivedSeed) {
  // Data comes from core::Rng seeded with derive_seed(seed, "<task>/<split>") (no std
  // distributions), so it is the same on every platform: recompute the first example.
  const auto t = lc::make_builtin_task("weekday", 7, {});
  ASSERT_FALSE(t.train.empty());
  // (The first draw whose (day, offset) is not held out; the partition is its own seeded
  // hash: derive_seed(derive_seed(seed, "weekday/held-out"), prompt) % 4 == 0 is held out.)
  lc::Rng r(lc::derive_seed(7, "weekday/train"));
  const uint64_t partition = lc::derive_seed(7, "weekday/held-out");
  const char* days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  std::string first;
  while (first.empty()) {
    const int d = static_cast<int>(r.uniform_int(0, 6));
    const int k = static_cast<int>(r.uniform_int(1, 6));
    const int week = static_cast<int>(r.uniform_int(1, 52));
    const std::string p = std::string("weekday: ") + days[d] + "+" + std::to_string(k) +
                          " in week " + std::to_string(week);
    if (lc::derive_seed(partition, p) % 4 != 0) first = p;
  }
  EXPECT_EQ(t.train[0].prompt, first);
}

TEST(BuiltinTasks, SplitSizes) {
  const auto d = lc::make_builtin_task("arith", 1, {});
  EXPECT_EQ(d.train.size(), 600u);
  EXPECT_EQ(d.eval.size(), 100u);
  EXPECT_EQ(d.test.size(), 200u);
  const auto t = lc::make_builtin_task("upper", 1, {17, 0, 5});
  EXPECT_EQ(t.train.size(), 17u);
  EXPECT_TRUE(t.eval.empty());
  EXPECT_EQ(t.test.size(), 5u);
  // A larger split extends a smaller one with the same seed (same stream).
  const auto big = lc::make_builtin_task("upper", 1, {40, 0, 5});
  EXPECT_TRUE(same(t.train, std::vector<lc::Example>(big.train.begin(), big.train.begin() + 17)));
  EXPECT_THROW(lc::make_builtin_task("upper", 1, {-1, 10, 10}), ConfigError);
}

TEST(BuiltinTasks, UnknownNameListsValidOnes) {
  try {
    lc::make_builtin_task("aritmetic", 1, {});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("aritmetic"), std::string::npos) << msg;
    for (const auto& n : lc::builtin_task_names()) EXPECT_NE(msg.find(n), std::string::npos) << msg;
    EXPECT_NE(msg.find("hint"), std::string::npos) << msg;
  }
  EXPECT_THROW(lc::builtin_suite(1, {}, {"arith", "bogus"}), ConfigError);
}

TEST(BuiltinTasks, Suite) {
  const auto all = lc::builtin_suite(5, {10, 2, 3});
  ASSERT_EQ(all.size(), 8u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].name, lc::builtin_task_names()[i]);
  const auto some = lc::builtin_suite(5, {10, 2, 3}, {"weekday", "topic"});
  ASSERT_EQ(some.size(), 2u);
  EXPECT_EQ(some[0].name, "weekday");
  EXPECT_EQ(some[1].name, "topic");
  EXPECT_TRUE(same(some[1].train, all[0].train));
  EXPECT_THROW(lc::builtin_suite(5, {}, {"arith", "arith"}), ConfigError);
}

TEST(BuiltinTasks, LengthLimitsTagsAndAscii) {
  std::map<std::string, std::string> tag_of;  // task -> tag
  for (const auto& t : lc::builtin_suite(11, kBig, all_builtin_names())) {
    std::string tag;
    for (const auto* e : all_examples(t)) {
      EXPECT_LE(e->prompt.size(), lc::kMaxBuiltinPromptBytes) << t.name << ": " << e->prompt;
      EXPECT_LE(e->answer.size(), lc::kMaxBuiltinAnswerBytes) << t.name << ": " << e->answer;
      EXPECT_FALSE(e->answer.empty()) << t.name << ": " << e->prompt;
      EXPECT_LE(1 + e->prompt.size() + 1 + e->answer.size() + 1, 56u) << e->prompt;
      for (unsigned char c : e->prompt + e->answer) EXPECT_TRUE(c >= 32 && c < 127) << e->prompt;
      const size_t colon = e->prompt.find(": ");
      ASSERT_NE(colon, std::string::npos) << e->prompt;
      const std::string this_tag = e->prompt.substr(0, colon);
      for (char c : this_tag) EXPECT_TRUE(c >= 'a' && c <= 'z') << e->prompt;
      if (tag.empty()) tag = this_tag;
      EXPECT_EQ(this_tag, tag) << t.name << ": every prompt of a task has the same tag";
    }
    tag_of[t.name] = tag;
  }
  // The eight have a tag each; a variant has the tag of the task it shifts.
  std::set<std::string> tags;
  for (const auto& n : lc::builtin_task_names())
    EXPECT_TRUE(tags.insert(tag_of.at(n)).second) << "tag '" << tag_of.at(n) << "' is shared";
  EXPECT_EQ(tags.size(), 8u);
  for (const auto& n : lc::builtin_variant_names())
    EXPECT_EQ(tag_of.at(n), tag_of.at(lc::builtin_variant_of(n))) << n;
}

namespace {
const std::string kConsonants = "bcdfghjklmnprstvz";
const std::string kVowels = "aeiou";
// A consonant-vowel pseudo-word ("bam", "kitu") of `n` letters.
bool is_pseudo_word(const std::string& w, size_t n) {
  if (w.size() != n) return false;
  for (size_t i = 0; i < w.size(); ++i)
    if ((i % 2 == 0 ? kConsonants : kVowels).find(w[i]) == std::string::npos) return false;
  return true;
}
}  // namespace

TEST(BuiltinTasks, TopicAnswersAreTheCategoryOfTheEnding) {
  // An independent copy of the endings: A on/ul, B ek/is, C ar/ix, D um/ed.
  const std::map<std::string, std::string> endings = {{"on", "A"}, {"ul", "A"}, {"ek", "B"},
                                                      {"is", "B"}, {"ar", "C"}, {"ix", "C"},
                                                      {"um", "D"}, {"ed", "D"}};
  const auto t = lc::make_builtin_task("topic", 2, kBig);
  std::set<std::string> letters, nouns, adjectives, used_endings;
  for (const auto* e : all_examples(t)) {
    const auto w = split_words(e->prompt);
    ASSERT_EQ(w.size(), 5u) << e->prompt;
    EXPECT_EQ(w[0], "topic:");
    EXPECT_EQ(w[1], "a");
    EXPECT_EQ(w[4], "A/B/C/D?");
    ASSERT_EQ(w[3].size(), 5u) << e->prompt;
    EXPECT_TRUE(is_pseudo_word(w[3].substr(0, 3), 3)) << e->prompt;
    const std::string ending = w[3].substr(3);
    ASSERT_TRUE(endings.count(ending)) << "unknown ending: " << e->prompt;
    EXPECT_EQ(e->answer, endings.at(ending)) << e->prompt;
    letters.insert(e->answer);
    nouns.insert(w[3]);
    adjectives.insert(w[2]);
    used_endings.insert(ending);
  }
  EXPECT_EQ(letters.size(), 4u);
  EXPECT_EQ(used_endings.size(), 8u);
  EXPECT_GT(nouns.size(), 1000u);  // made-up nouns: many distinct ones
  EXPECT_GE(adjectives.size(), 10u);
}

TEST(BuiltinTasks, ArithAnswersAreCorrect) {
  // arith on the rows of a worksheet, its variant arith-pages on the pages of a workbook.
  for (const std::string context : {"row", "page"}) {
    const auto t = lc::make_builtin_task(context == "row" ? "arith" : "arith-pages", 3, kBig);
    std::set<std::string> facts, rows;
    for (const auto* e : all_examples(t)) {
      int row = -1, a = -1, b = -1;
      char op = 0, eq = 0;
      const std::string format = "arith: " + context + " %d, %d%c%d%c";
      ASSERT_EQ(std::sscanf(e->prompt.c_str(), format.c_str(), &row, &a, &op, &b, &eq), 5)
          << e->prompt;
      EXPECT_EQ(e->prompt, "arith: " + context + " " + std::to_string(row) + ", " +
                               std::to_string(a) + "+" + std::to_string(b) + "=");
      EXPECT_EQ(op, '+') << e->prompt;
      EXPECT_TRUE(a >= 0 && a <= 9 && b >= 0 && b <= 9) << e->prompt;
      EXPECT_TRUE(row >= 1 && row <= 50) << e->prompt;
      EXPECT_EQ(e->answer, std::to_string(a + b)) << e->prompt;
      facts.insert(std::to_string(a) + "+" + std::to_string(b));
      rows.insert(std::to_string(row));
    }
    EXPECT_EQ(facts.size(), 100u);  // the whole one-digit addition table
    EXPECT_EQ(rows.size(), 50u);
  }
}

TEST(BuiltinTasks, UpperAnswersAreCorrect) {
  const auto t = lc::make_builtin_task("upper", 4, kBig);
  std::set<std::string> prompts;
  for (const auto* e : all_examples(t)) {
    ASSERT_TRUE(starts_with(e->prompt, "upper: ")) << e->prompt;
    const std::string s = e->prompt.substr(7);
    ASSERT_EQ(s.size(), 3u) << e->prompt;
    std::string u;
    for (char c : s) {
      EXPECT_TRUE(c >= 'a' && c <= 'z') << e->prompt;
      u.push_back(static_cast<char>(c - 'a' + 'A'));
    }
    EXPECT_EQ(e->answer, u);
    prompts.insert(e->prompt);
  }
  EXPECT_GT(prompts.size(), 2000u);  // random strings: nearly all distinct
}

TEST(BuiltinTasks, BracketsAnswersAreCorrect) {
  const auto t = lc::make_builtin_task("brackets", 5, kBig);
  const std::map<char, char> closing = {{'(', ')'}, {'[', ']'}, {'{', '}'}, {'<', '>'}};
  std::set<std::string> prompts;
  std::set<size_t> lengths;
  for (const auto* e : all_examples(t)) {
    ASSERT_TRUE(starts_with(e->prompt, "close: ")) << e->prompt;
    const std::string open = e->prompt.substr(7);
    ASSERT_TRUE(open.size() >= 3 && open.size() <= 5) << e->prompt;
    lengths.insert(open.size());
    // Close with a stack.
    std::vector<char> stack;
    for (char c : open) {
      ASSERT_TRUE(closing.count(c)) << e->prompt;
      stack.push_back(c);
    }
    std::string expected;
    while (!stack.empty()) {
      expected.push_back(closing.at(stack.back()));
      stack.pop_back();
    }
    EXPECT_EQ(e->answer, expected) << e->prompt;
    prompts.insert(e->prompt);
  }
  EXPECT_EQ(lengths.size(), 3u);
  EXPECT_GT(prompts.size(), 600u);  // of 4^3 + 4^4 + 4^5 = 1344
}

TEST(BuiltinTasks, ExtractAnswersAreTheObject) {
  // extract-places: the same 24 objects, other people and other cities than extract's.
  std::map<std::string, std::set<std::string>> people;
  for (const std::string name : {"extract", "extract-places"}) {
    const auto t = lc::make_builtin_task(name, 6, kBig);
    int city_first = 0, name_first = 0;
    std::set<std::string> nouns, others;
    for (const auto* e : all_examples(t)) {
      const auto w = split_words(e->prompt);
      ASSERT_EQ(w.size(), 7u) << e->prompt;
      EXPECT_EQ(w[0], "extract:");
      // "<name> saw a <noun> in <city>"  or  "in <city> <name> saw a <noun>"
      if (w[1] == "in") {
        ++city_first;
        EXPECT_EQ(w[4], "saw");
        EXPECT_EQ(w[5], "a");
        EXPECT_EQ(e->answer, w[6]) << e->prompt;
        others.insert(w[2]);
        others.insert(w[3]);
      } else {
        ++name_first;
        EXPECT_EQ(w[2], "saw");
        EXPECT_EQ(w[3], "a");
        EXPECT_EQ(w[5], "in");
        EXPECT_EQ(e->answer, w[4]) << e->prompt;
        others.insert(w[1]);
        others.insert(w[6]);
      }
      nouns.insert(e->answer);
    }
    EXPECT_GT(city_first, 500);
    EXPECT_GT(name_first, 500);
    EXPECT_EQ(nouns.size(), 24u);
    people[name] = others;
  }
  for (const auto& w : people["extract-places"])
    EXPECT_FALSE(people["extract"].count(w)) << w << " is a name or city of extract too";
}

TEST(BuiltinTasks, TranslateIsTheNextVowelOrConsonant) {
  // The cipher, independently: a->e e->i i->o o->u u->a; b->c c->d d->f ... v->z z->b.
  auto cipher = [](const std::string& w) {
    std::string out;
    for (char c : w) {
      const std::string& set = kVowels.find(c) != std::string::npos ? kVowels : kConsonants;
      out.push_back(set[(set.find(c) + 1) % set.size()]);
    }
    return out;
  };
  EXPECT_EQ(cipher("zu"), "ba");
  std::set<std::string> seen;
  for (uint64_t seed : {7u, 8u}) {
    const auto t = lc::make_builtin_task("translate", seed, kBig);
    for (const auto* e : all_examples(t)) {
      ASSERT_TRUE(starts_with(e->prompt, "translate: ")) << e->prompt;
      const std::string word = e->prompt.substr(11);
      EXPECT_TRUE(is_pseudo_word(word, 3) || is_pseudo_word(word, 4)) << e->prompt;
      EXPECT_EQ(e->answer, cipher(word)) << e->prompt;
      seen.insert(word);
    }
  }
  EXPECT_GT(seen.size(), 2000u);
}

TEST(BuiltinTasks, CompareAnswersAreTheLarger) {
  // compare on two-digit numbers, its variant compare-hundreds on three-digit ones.
  for (const int digits : {2, 3}) {
    const int lo = digits == 2 ? 10 : 100, hi = digits == 2 ? 99 : 999;
    const auto t = lc::make_builtin_task(digits == 2 ? "compare" : "compare-hundreds", 9, kBig);
    int as = 0, bs = 0;
    for (const auto* e : all_examples(t)) {
      int a = 0, b = 0;
      char tail[8] = {0};
      ASSERT_EQ(std::sscanf(e->prompt.c_str(), "compare: %d or %d? %7s", &a, &b, tail), 3)
          << e->prompt;
      EXPECT_STREQ(tail, "A/B");
      EXPECT_TRUE(a >= lo && a <= hi && b >= lo && b <= hi) << e->prompt;
      EXPECT_NE(a, b) << e->prompt;
      EXPECT_EQ(e->answer, a > b ? "A" : "B") << e->prompt;
      (e->answer == "A" ? as : bs)++;
    }
    EXPECT_GT(as, 1000);
    EXPECT_GT(bs, 1000);
  }
}

TEST(BuiltinTasks, WeekdayAnswersWrap) {
  const std::vector<std::string> days = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  // weekday in a week of the year, its variant weekday-months in a month.
  for (const std::string context : {"week", "month"}) {
    const int periods = context == "week" ? 52 : 12;
    const auto t =
        lc::make_builtin_task(context == "week" ? "weekday" : "weekday-months", 10, kBig);
    std::set<std::string> facts, weeks;
    bool wrapped = false;
    for (const auto* e : all_examples(t)) {
      char day[4] = {0};
      int k = 0, week = 0;
      const std::string format = "weekday: %3s+%d in " + context + " %d";
      ASSERT_EQ(std::sscanf(e->prompt.c_str(), format.c_str(), day, &k, &week), 3) << e->prompt;
      EXPECT_EQ(e->prompt, std::string("weekday: ") + day + "+" + std::to_string(k) + " in " +
                               context + " " + std::to_string(week));
      EXPECT_TRUE(k >= 1 && k <= 6) << e->prompt;
      EXPECT_TRUE(week >= 1 && week <= periods) << e->prompt;
      const auto it = std::find(days.begin(), days.end(), std::string(day));
      ASSERT_NE(it, days.end()) << e->prompt;
      const int d = static_cast<int>(it - days.begin());
      EXPECT_EQ(e->answer, days[static_cast<size_t>((d + k) % 7)]) << e->prompt;
      wrapped = wrapped || d + k >= 7;
      facts.insert(std::string(day) + "+" + std::to_string(k));
      weeks.insert(std::to_string(week));
    }
    EXPECT_TRUE(wrapped);
    EXPECT_EQ(facts.size(), 42u);  // 7 days x 6 offsets
    EXPECT_EQ(weeks.size(), static_cast<size_t>(periods));
  }
}

// The held-out guarantee (docs/task-suite.md): for every task and several seeds, no eval or
// test example repeats a training prompt, nor a training (prompt, answer) pair; where the task
// allows it, no eval/test answer is a training answer; and the item the task holds out (a
// topic noun's stem, a compare pair in either order) never occurs in train.
TEST(BuiltinTasks, EvalAndTestAreDisjointFromTrain) {
  const std::set<std::string> answers_held_out = {"upper", "brackets", "translate"};
  // The held-out item of a prompt, for the tasks whose prompt holds more than the item.
  auto item = [](const std::string& task, const lc::Example& e) -> std::string {
    if (task == "topic") return split_words(e.prompt)[3].substr(0, 3);  // the stem
    if (task == "compare" || task == "compare-hundreds") {
      int a = 0, b = 0;
      std::sscanf(e.prompt.c_str(), "compare: %d or %d?", &a, &b);
      return std::to_string(std::min(a, b)) + "," + std::to_string(std::max(a, b));
    }
    return e.prompt;
  };
  for (uint64_t seed : {1u, 2u, 3u, 17u, 12345u}) {
    std::map<std::string, std::set<std::string>> train_prompts;  // of the eight
    for (const auto& t : lc::builtin_suite(seed, {800, 100, 200}, all_builtin_names())) {
      // A variant's eval and test prompts are new to the task it shifts, too.
      const std::string parent = lc::builtin_variant_of(t.name);
      if (!parent.empty()) {
        for (const auto* split : {&t.eval, &t.test}) {
          for (const auto& e : *split) {
            EXPECT_FALSE(train_prompts[parent].count(e.prompt)) << t.name << ": " << e.prompt;
          }
        }
      }
      std::set<std::string> prompts, pairs, answers, items;
      for (const auto& e : t.train) {
        prompts.insert(e.prompt);
        pairs.insert(e.prompt + '\n' + e.answer);
        answers.insert(e.answer);
        items.insert(item(t.name, e));
      }
      train_prompts[t.name] = prompts;
      std::set<std::string> held_answers;
      for (const auto* split : {&t.eval, &t.test})
        for (const auto& e : *split) {
          EXPECT_FALSE(prompts.count(e.prompt)) << t.name << " seed " << seed << ": " << e.prompt;
          EXPECT_FALSE(pairs.count(e.prompt + '\n' + e.answer)) << t.name << ": " << e.prompt;
          EXPECT_FALSE(items.count(item(t.name, e)))
              << t.name << " seed " << seed << ": " << e.prompt;
          if (answers_held_out.count(t.name)) {
            EXPECT_FALSE(answers.count(e.answer))
                << t.name << " seed " << seed << ": answer " << e.answer << " is in train";
          }
          held_answers.insert(e.answer);
        }
      // The held-out part is not degenerate: eval/test cover several answers, and train still
      // covers every answer class of the classification tasks.
      EXPECT_GE(held_answers.size(), t.kind == lc::AnswerKind::Letter ? 2u : 5u) << t.name;
      if (t.name == "topic") {
        EXPECT_EQ(answers.size(), 4u);
      }
      if (t.name == "weekday") {
        EXPECT_EQ(answers.size(), 7u);
      }
    }
  }
}

TEST(BuiltinTasks, GenerationIsFast) {
  const auto start = std::chrono::steady_clock::now();
  const auto suite = lc::builtin_suite(1, {10000, 1000, 1000});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(suite.size(), 8u);
  // 96k examples; far below a millisecond each even in a debug build on a busy machine.
  EXPECT_LT(s, 5.0);
}

TEST(AnswerKinds, Inference) {
  EXPECT_TRUE(lc::is_number_string("12"));
  EXPECT_TRUE(lc::is_number_string("-3"));
  EXPECT_TRUE(lc::is_number_string("+4"));
  EXPECT_TRUE(lc::is_number_string("0.75"));
  EXPECT_TRUE(lc::is_number_string("3."));
  EXPECT_TRUE(lc::is_number_string(".5"));
  EXPECT_FALSE(lc::is_number_string(""));
  EXPECT_FALSE(lc::is_number_string("-"));
  EXPECT_FALSE(lc::is_number_string("."));
  EXPECT_FALSE(lc::is_number_string("1.2.3"));
  EXPECT_FALSE(lc::is_number_string("12a"));
  EXPECT_FALSE(lc::is_number_string(" 12"));
  EXPECT_FALSE(lc::is_number_string("1e5"));
  using K = lc::AnswerKind;
  EXPECT_EQ(lc::infer_kind({{"p", "A"}, {"q", "D"}}), K::Letter);
  EXPECT_EQ(lc::infer_kind({{"p", "A"}, {"q", "a"}}), K::Text);
  EXPECT_EQ(lc::infer_kind({{"p", "A"}, {"q", "AB"}}), K::Text);
  EXPECT_EQ(lc::infer_kind({{"p", "12"}, {"q", "-0.5"}}), K::Number);
  EXPECT_EQ(lc::infer_kind({{"p", "12"}, {"q", "A"}}), K::Text);
  EXPECT_EQ(lc::infer_kind({}), K::Text);
}

// ------------------------------------------------------------------------------------------
// Loader
// ------------------------------------------------------------------------------------------
namespace {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto base = fs::temp_directory_path();
    lc::Rng r(static_cast<uint64_t>(
        std::chrono::high_resolution_clock::now().time_since_epoch().count()));
    for (;;) {
      path_ = base / ("lorascape_test_tasks_" + std::to_string(r.next_u64() % 1000000000ULL) + "_" +
                      std::to_string(counter++));
      if (fs::create_directory(path_)) break;
    }
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  // Writes `text` to <dir>/<rel>, creating directories; returns the full path.
  std::string write(const std::string& rel, const std::string& text) const {
    const fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << text;
    return p.string();
  }

 private:
  fs::path path_;
};

const char* kGoodJson = R"([{"prompt": "q1", "answer": "A"}, {"prompt": "q2", "answer": "B"}])";

// Writes a complete task directory with all three splits.
void write_task(const TempDir& d, const std::string& name, const std::string& ext,
                const std::string& body) {
  for (const char* split : {"train", "eval", "test"}) d.write(name + "/" + split + ext, body);
}

// Runs f, expects a DataError whose one-line message contains every needle and a hint.
void expect_data_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "expected DataError";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    for (const auto& n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
    EXPECT_NE(msg.find("hint"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected DataError, got: " << e.what();
  }
}

}  // namespace

TEST(Loader, JsonRoundTrip) {
  TempDir d;
  const std::string p =
      d.write("x.json",
              R"([{"prompt": "translate: dog", "answer": "vok", "id": 7, "meta": {"k": [1]}},
          {"prompt": "caf\u00e9 \"q\"\nline", "answer": "na\u00efve"}])");
  const auto ex = lc::load_examples_file(p);
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].prompt, "translate: dog");
  EXPECT_EQ(ex[0].answer, "vok");
  EXPECT_EQ(ex[1].prompt, "caf\xC3\xA9 \"q\"\nline");
  EXPECT_EQ(ex[1].answer, "na\xC3\xAFve");
}

TEST(Loader, JsonlRoundTrip) {
  TempDir d;
  const std::string p = d.write("x.jsonl",
                                "{\"prompt\": \"a\", \"answer\": \"1\"}\n"
                                "\n"
                                "   \n"
                                "{\"answer\": \"2\", \"prompt\": \"b\", \"extra\": null}\r\n"
                                "{\"prompt\": \"c\", \"answer\": \"3\"}");  // no final newline
  const auto ex = lc::load_examples_file(p);
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[0].prompt, "a");
  EXPECT_EQ(ex[1].prompt, "b");
  EXPECT_EQ(ex[1].answer, "2");
  EXPECT_EQ(ex[2].answer, "3");
}

TEST(Loader, BuiltinTaskRoundTripsThroughFiles) {
  TempDir d;
  const auto t = lc::make_builtin_task("extract", 1, {30, 5, 7});
  auto dump = [](const std::vector<lc::Example>& v, bool lines) {
    std::string s = lines ? "" : "[";
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string obj =
          "{\"prompt\": \"" + v[i].prompt + "\", \"answer\": \"" + v[i].answer + "\"}";
      if (lines)
        s += obj + "\n";
      else
        s += (i ? ",\n" : "") + obj;
    }
    return lines ? s : s + "]";
  };
  d.write("extract/train.json", dump(t.train, false));
  d.write("extract/eval.jsonl", dump(t.eval, true));
  d.write("extract/test.json", dump(t.test, false));
  const auto loaded = lc::load_trace_tasks(d.str());
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].name, "extract");
  EXPECT_EQ(loaded[0].kind, lc::AnswerKind::Text);
  EXPECT_FALSE(loaded[0].description.empty());
  EXPECT_TRUE(same(loaded[0].train, t.train));
  EXPECT_TRUE(same(loaded[0].eval, t.eval));
  EXPECT_TRUE(same(loaded[0].test, t.test));
}

TEST(Loader, DiscoversTasksSortedAndInfersKinds) {
  TempDir d;
  write_task(d, "zeta", ".json", kGoodJson);
  write_task(d, "alpha", ".jsonl",
             "{\"prompt\": \"x\", \"answer\": \"12\"}\n"
             "{\"prompt\": \"y\", \"answer\": \"-3.5\"}\n");
  write_task(d, "mid", ".json", R"([{"prompt": "p", "answer": "hello"}])");
  d.write("notes/readme.txt", "not a task");  // no train file: skipped
  d.write("stray.json", "[]");                // a file, not a directory: skipped
  const auto tasks = lc::load_trace_tasks(d.str());
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].name, "alpha");
  EXPECT_EQ(tasks[1].name, "mid");
  EXPECT_EQ(tasks[2].name, "zeta");
  EXPECT_EQ(tasks[0].kind, lc::AnswerKind::Number);
  EXPECT_EQ(tasks[1].kind, lc::AnswerKind::Text);
  EXPECT_EQ(tasks[2].kind, lc::AnswerKind::Letter);
  EXPECT_EQ(tasks[2].train.size(), 2u);
  // Explicit names: that order, only those.
  const auto two = lc::load_trace_tasks(d.str(), {"zeta", "alpha"});
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].name, "zeta");
  EXPECT_EQ(two[1].name, "alpha");
}

TEST(Loader, KindUsesAllSplits) {
  TempDir d;
  d.write("t/train.json", R"([{"prompt": "p", "answer": "A"}])");
  d.write("t/eval.json", R"([{"prompt": "p", "answer": "B"}])");
  d.write("t/test.json", R"([{"prompt": "p", "answer": "maybe"}])");
  EXPECT_EQ(lc::load_trace_tasks(d.str())[0].kind, lc::AnswerKind::Text);
}

TEST(LoaderErrors, RootMissingOrNotADirectory) {
  TempDir d;
  const std::string missing = (d.path() / "no_such_root").string();
  expect_data_error([&] { lc::load_trace_tasks(missing); }, {"no_such_root", "does not exist"});
  const std::string file = d.write("plainfile", "x");
  expect_data_error([&] { lc::load_trace_tasks(file); }, {"plainfile", "not a directory"});
  // A root without any task directory.
  expect_data_error([&] { lc::load_trace_tasks(d.str()); }, {d.str(), "train.json"});
}

TEST(LoaderErrors, TaskDirMissing) {
  TempDir d;
  write_task(d, "good", ".json", kGoodJson);
  expect_data_error(
      [&] {
        lc::load_trace_tasks(d.str(), {"good", "nope"});
      },
      {"nope", "does not exist", "good"});
}

TEST(LoaderErrors, SplitFileMissingSaysWhatWasLookedFor) {
  TempDir d;
  d.write("t/train.json", kGoodJson);
  d.write("t/test.jsonl", "{\"prompt\": \"p\", \"answer\": \"A\"}\n");
  expect_data_error([&] { lc::load_trace_tasks(d.str()); }, {"eval.json", "eval.jsonl"});
}

TEST(LoaderErrors, BothJsonAndJsonl) {
  TempDir d;
  write_task(d, "t", ".json", kGoodJson);
  d.write("t/test.jsonl", "{\"prompt\": \"p\", \"answer\": \"A\"}\n");
  expect_data_error([&] { lc::load_trace_tasks(d.str()); }, {"test.json", "test.jsonl"});
}

TEST(LoaderErrors, MalformedJsonGivesBytePosition) {
  TempDir d;
  const std::string p = d.write("bad.json", R"([{"prompt": "a", "answer": "b"},, ])");
  expect_data_error([&] { lc::load_examples_file(p); }, {"bad.json", "malformed JSON", "byte 33"});
  const std::string trunc = d.write("trunc.json", R"([{"prompt": "a")");
  expect_data_error([&] { lc::load_examples_file(trunc); }, {"trunc.json", "byte"});
  // The error also surfaces through load_trace_tasks, naming the split file.
  write_task(d, "t", ".json", kGoodJson);
  d.write("t/eval.json", "[{]");
  expect_data_error([&] { lc::load_trace_tasks(d.str()); }, {"eval.json", "byte"});
}

TEST(LoaderErrors, MalformedJsonlGivesLineNumber) {
  TempDir d;
  const std::string p = d.write("bad.jsonl",
                                "{\"prompt\": \"a\", \"answer\": \"b\"}\n"
                                "\n"
                                "{\"prompt\": \"a\" \"answer\": \"b\"}\n");
  expect_data_error([&] { lc::load_examples_file(p); }, {"bad.jsonl", "line 3", "malformed JSON"});
}

TEST(LoaderErrors, NotAnArray) {
  TempDir d;
  const std::string p = d.write("obj.json", R"({"prompt": "a", "answer": "b"})");
  expect_data_error([&] { lc::load_examples_file(p); }, {"obj.json", "not an array", "object"});
}

TEST(LoaderErrors, ElementNotAnObject) {
  TempDir d;
  const std::string p = d.write("el.json", R"([{"prompt": "a", "answer": "b"}, "oops"])");
  expect_data_error([&] { lc::load_examples_file(p); },
                    {"el.json", "index 1", "not a JSON object"});
  const std::string l = d.write("el.jsonl", "{\"prompt\": \"a\", \"answer\": \"b\"}\n[1, 2]\n");
  expect_data_error([&] { lc::load_examples_file(l); },
                    {"el.jsonl", "line 2", "not a JSON object"});
}

TEST(LoaderErrors, MissingKeys) {
  TempDir d;
  const std::string p = d.write(
      "mk.json",
      R"([{"prompt": "a", "answer": "b"}, {"prompt": "a", "answer": "b"}, {"answer": "b"}])");
  expect_data_error([&] { lc::load_examples_file(p); }, {"mk.json", "index 2", "\"prompt\""});
  const std::string l = d.write("mk.jsonl",
                                "{\"prompt\": \"a\", \"answer\": \"b\"}\n"
                                "{\"prompt\": \"a\", \"output\": \"b\"}\n");
  expect_data_error([&] { lc::load_examples_file(l); }, {"mk.jsonl", "line 2", "\"answer\""});
}

TEST(LoaderErrors, ValueNotAString) {
  TempDir d;
  const std::string p = d.write("ns.json", R"([{"prompt": "a", "answer": 12}])");
  expect_data_error([&] { lc::load_examples_file(p); },
                    {"ns.json", "index 0", "\"answer\"", "not a string", "number"});
  const std::string l = d.write("ns.jsonl", "{\"prompt\": null, \"answer\": \"b\"}\n");
  expect_data_error([&] { lc::load_examples_file(l); },
                    {"ns.jsonl", "line 1", "\"prompt\"", "not a string"});
}

TEST(LoaderErrors, EmptyAnswer) {
  TempDir d;
  const std::string p = d.write("ea.json", R"([{"prompt": "a", "answer": ""}])");
  expect_data_error([&] { lc::load_examples_file(p); }, {"ea.json", "index 0", "empty"});
}

TEST(LoaderErrors, EmptySplit) {
  TempDir d;
  const std::string p = d.write("e.json", "[]");
  expect_data_error([&] { lc::load_examples_file(p); }, {"e.json", "has no examples"});
  const std::string l = d.write("e.jsonl", "\n  \n\n");
  expect_data_error([&] { lc::load_examples_file(l); }, {"e.jsonl", "has no examples"});
  write_task(d, "t", ".json", kGoodJson);
  d.write("t/test.json", "[ ]");
  expect_data_error([&] { lc::load_trace_tasks(d.str(), {"t"}); },
                    {"test.json", "has no examples"});
}

TEST(LoaderErrors, FileMissingOrBadExtension) {
  TempDir d;
  const std::string missing = (d.path() / "gone.json").string();
  expect_data_error([&] { lc::load_examples_file(missing); }, {"gone.json", "does not exist"});
  const std::string txt = d.write("data.txt", kGoodJson);
  expect_data_error([&] { lc::load_examples_file(txt); }, {"data.txt", ".jsonl"});
}

TEST(LoaderErrors, RepeatedTaskName) {
  TempDir d;
  write_task(d, "t", ".json", kGoodJson);
  EXPECT_THROW(lc::load_trace_tasks(d.str(), {"t", "t"}), ConfigError);
}
