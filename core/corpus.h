// A generic English-like pretraining corpus for the base language model. It is deliberately NOT
// the tasks: no task tags ("arith:", ...), no "A/B" choices, no "a+b=" arithmetic, no ':', '/',
// '+' or '=' at all. From it a base model learns bytes, words, spacing, punctuation,
// capitalisation, numbers in text and copying of earlier words, so that LoRA fine-tuning on a
// task starts from a model that already "reads".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lorascape::core {

inline constexpr size_t kCorpusMinLineBytes = 20;
inline constexpr size_t kCorpusMaxLineBytes = 60;

// n lines of English-like text from a small grammar (subjects, verbs, objects, places,
// adjectives, adverbs, numbers written as digits, names, cities, days), deterministic from
// the seed. Each line is 20..60 bytes of printable ASCII. The mix includes lines that repeat a
// word or short phrase later in the line, lists ("red, green and blue"), short dialogue and
// questions. n_lines < 0 throws ConfigError.
std::vector<std::string> generic_corpus(uint64_t seed, int n_lines);

}  // namespace lorascape::core
