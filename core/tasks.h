// Tasks of the continual-learning sequence: eight built-in synthetic "domains" shaped like the
// TRACE benchmark tasks (and four variants of them in a shifted domain), and a loader for
// TRACE/LLMCL-style JSON datasets on disk.
//
// Every built-in example is a short prompt (<= 40 bytes, starting with a lowercase tag that
// names the task, e.g. "arith: 7+5=") and a short answer (<= 8 bytes), so that
// [BOS] prompt [SEP] answer [EOS] fits in 56 tokens at one token per byte. Data is a pure
// function of (task name, seed, sizes): the same seed names the same data on every platform.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lorascape::core {

struct Example {
  std::string prompt;
  std::string answer;
};

// How an answer is shaped: a single uppercase letter (multiple choice), a number, or free text.
enum class AnswerKind { Letter, Number, Text };
// "letter", "number" or "text".
const char* to_string(AnswerKind kind);

struct Task {
  std::string name;
  std::string description;  // one line
  AnswerKind kind = AnswerKind::Text;
  std::vector<Example> train, eval, test;
};

struct SplitSizes {
  int train = 600;
  int eval = 100;
  int test = 200;
};

// Limits that every built-in example respects.
inline constexpr size_t kMaxBuiltinPromptBytes = 40;
inline constexpr size_t kMaxBuiltinAnswerBytes = 8;

// The eight built-in task names, in default sequence order:
// topic, arith, upper, brackets, extract, translate, compare, weekday.
const std::vector<std::string>& builtin_task_names();
// The built-in variants, not in the default sequence: four of the tasks in a shifted domain
// with the same tag, rule and answers (arith-pages, weekday-months, compare-hundreds,
// extract-places), so that what was learned on the original transfers in part.
const std::vector<std::string>& builtin_variant_names();
// The task a variant shifts ("arith" for "arith-pages"); "" for the eight and unknown names.
std::string builtin_variant_of(const std::string& name);
// One of the eight or a variant.
bool is_builtin_task(const std::string& name);
// One built-in task; train/eval/test are generated independently from seeds derived from
// `seed` and the task name. Throws ConfigError for an unknown name (listing the valid ones)
// or a negative split size.
Task make_builtin_task(const std::string& name, uint64_t seed, const SplitSizes& sizes);
// Several built-in tasks (of the eight and the variants) in the given order; empty `names` =
// the eight in default order.
// Throws ConfigError for an unknown or repeated name.
std::vector<Task> builtin_suite(uint64_t seed, const SplitSizes& sizes,
                                const std::vector<std::string>& names = {});

// TRACE/LLMCL layout: <root>/<task>/{train,eval,test}.json (a JSON array of
// {"prompt": str, "answer": str}) or .jsonl (one such object per line; blank lines skipped).
// Extra keys are ignored. `names` empty = every sub-directory of root that has a train file,
// sorted by name. The kind of a loaded task is inferred from all its answers (infer_kind).
// Throws DataError naming the file (and index/line) for missing or malformed data.
std::vector<Task> load_trace_tasks(const std::string& root,
                                   const std::vector<std::string>& names = {});
// One split file, .json or .jsonl by extension. Throws DataError for a missing, malformed or
// empty file.
std::vector<Example> load_examples_file(const std::string& path);

// Letter if every answer is a single uppercase letter A-Z, Number if every answer is an
// integer or decimal number (optional sign, e.g. "12", "-3", "0.75"), else Text. An empty
// list is Text.
AnswerKind infer_kind(const std::vector<Example>& examples);
bool is_number_string(const std::string& s);

}  // namespace lorascape::core
