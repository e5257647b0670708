#include "core/tasks.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/rng.h"
#include "store/error.h"

namespace lorascape::core {

namespace fs = std::filesystem;
using nlohmann::json;

const char* to_string(AnswerKind kind) {
  switch (kind) {
    case AnswerKind::Letter:
      return "letter";
    case AnswerKind::Number:
      return "number";
    case AnswerKind::Text:
      return "text";
  }
  return "text";
}

// ------------------------------------------------------------------------------------------
// Built-in synthetic domains. Each task is a rule over a space of items far larger than a
// split (pseudo-words, number pairs, letter strings), and every item has a key: the word, the
// pair, the answer... A seeded partition of the keys (about one in four held out, chosen by a
// hash of the key) decides which items may appear in train (kept keys) and which in eval and
// test (held-out keys), so eval and test never repeat a training example: a model must learn
// the rule, not recall the examples. Where the key determines the answer one-to-one (upper,
// brackets, translate), the answers are held out too.
// ------------------------------------------------------------------------------------------
namespace {

using Words = std::vector<std::string>;

struct Item {
  Example example;
  std::string key;  // what the train / held-out partition is decided on
};

std::string letter(int i) {
  return std::string(1, static_cast<char>('A' + i));
}

int pick_index(Rng& r, size_t n) {
  return static_cast<int>(r.uniform_int(0, static_cast<int64_t>(n) - 1));
}

const std::string kConsonants = "bcdfghjklmnprstvz";  // 17
const std::string kVowels = "aeiou";

// A pronounceable pseudo-word of consonant-vowel letters: "bam", "kitu", ...
std::string pseudo_word(Rng& r, int letters) {
  std::string w;
  for (int i = 0; i < letters; ++i)
    w.push_back(i % 2 == 0 ? kConsonants[static_cast<size_t>(pick_index(r, kConsonants.size()))]
                           : kVowels[static_cast<size_t>(pick_index(r, kVowels.size()))]);
  return w;
}

// 1. topic: a pseudo-noun's category is marked by its ending, two endings per category; the
// noun stems are held out, so test nouns are new words with familiar endings.
const std::array<Words, 4>& topic_endings() {
  static const std::array<Words, 4> e = {{{"on", "ul"}, {"ek", "is"}, {"ar", "ix"}, {"um", "ed"}}};
  return e;
}
// Adjectives start with a consonant so that "a <adj>" always reads well.
const Words& topic_adjectives() {
  static const Words w = {"tiny", "big", "small", "large", "nice", "good",
                          "soft", "new", "dull",  "fine",  "cool", "fancy"};
  return w;
}
Item gen_topic(Rng& r) {
  const int cat = pick_index(r, 4);
  const std::string stem = pseudo_word(r, 3);
  const std::string& ending = r.pick(topic_endings()[static_cast<size_t>(cat)]);
  const std::string& adj = r.pick(topic_adjectives());
  return {{"topic: a " + adj + " " + stem + ending + " A/B/C/D?", letter(cat)}, stem};
}

// 2. arith: one-digit addition "in row N" (1-50) of a worksheet; the (row, a, b) triples are
// held out, so test prompts are new, but every one of the 100 facts also occurs in training.
// Addition over held-out pairs did not generalise for this model: trained alone, two-digit
// plus one-digit sums reached 0.03 exact match with the sums held out and 0.075 with the
// (a, b) pairs held out (docs/task-suite.md).
Item arith_in(Rng& r, const char* context) {
  const int a = static_cast<int>(r.uniform_int(0, 9));
  const int b = static_cast<int>(r.uniform_int(0, 9));
  const int n = static_cast<int>(r.uniform_int(1, 50));
  const std::string prompt = std::string("arith: ") + context + " " + std::to_string(n) + ", " +
                             std::to_string(a) + "+" + std::to_string(b) + "=";
  return {{prompt, std::to_string(a + b)}, prompt};
}
Item gen_arith(Rng& r) {
  return arith_in(r, "row");
}

// 3. upper: a random three-letter lowercase string to upper case.
Item gen_upper(Rng& r) {
  std::string s(3, 'a'), u(3, 'A');
  for (size_t i = 0; i < 3; ++i) {
    const int c = static_cast<int>(r.uniform_int(0, 25));
    s[i] = static_cast<char>('a' + c);
    u[i] = static_cast<char>('A' + c);
  }
  return {{"upper: " + s, u}, s};
}

// 4. brackets: close three to five opening brackets in reverse order.
Item gen_brackets(Rng& r) {
  static const std::string open = "([{<", close = ")]}>";
  std::string o, c;
  const int n = static_cast<int>(r.uniform_int(3, 5));
  for (int i = 0; i < n; ++i) {
    const size_t k = static_cast<size_t>(r.uniform_int(0, 3));
    o.push_back(open[k]);
    c.insert(c.begin(), close[k]);
  }
  return {{"close: " + o, c}, o};
}

// 5. extract: pull the object out of a one-sentence "report" in one of two word orders; the
// sentences are held out (new combinations of name, object, city and order). (With made-up
// objects held out instead, so that no eval/test answer occurs in training, a task trained
// alone reached 0.37 exact match: docs/task-suite.md.)
const Words& extract_names() {
  static const Words w = {"tom", "ann", "bob", "eve", "sam", "max",
                          "lea", "ida", "joe", "kim", "ned", "sue"};
  return w;
}
const Words& extract_nouns() {
  static const Words w = {"cup",  "hat",  "box",  "key",  "pen",  "map",  "bag",  "car",
                          "bus",  "boat", "kite", "ring", "lamp", "coin", "drum", "fork",
                          "vase", "sock", "bell", "rope", "shoe", "jar",  "mug",  "net"};
  return w;
}
const Words& extract_cities() {
  static const Words w = {"rome", "oslo", "lima",  "kyiv",  "baku",  "riga",
                          "doha", "bern", "cairo", "paris", "milan", "delhi"};
  return w;
}
Item extract_from(Rng& r, const Words& names, const Words& cities) {
  const std::string& name = r.pick(names);
  const std::string& noun = r.pick(extract_nouns());
  const std::string& city = r.pick(cities);
  const bool city_first = r.uniform_int(0, 1) == 1;
  std::string p = city_first ? "extract: in " + city + " " + name + " saw a " + noun
                             : "extract: " + name + " saw a " + noun + " in " + city;
  std::string key = p;
  return {{std::move(p), noun}, std::move(key)};
}
Item gen_extract(Rng& r) {
  return extract_from(r, extract_names(), extract_cities());
}

// 6. translate: a regular cipher on pseudo-words, letter by letter: every vowel becomes the
// next vowel (a->e ... u->a), every consonant the next consonant of kConsonants (b->c, d->f,
// ... z->b). The words are held out.
char translate_letter(char c) {
  for (const std::string* set : {&kVowels, &kConsonants}) {
    const size_t i = set->find(c);
    if (i != std::string::npos) return (*set)[(i + 1) % set->size()];
  }
  return c;
}
Item gen_translate(Rng& r) {
  const std::string w = pseudo_word(r, static_cast<int>(r.uniform_int(3, 4)));
  std::string t = w;
  for (char& c : t) c = translate_letter(c);
  return {{"translate: " + w, t}, w};
}

// 7. compare: which of two distinct two-digit numbers is larger; the pairs (in either order)
// are held out. (compare_in draws from [lo, hi]; the variant compare-hundreds: 100-999.)
Item compare_in(Rng& r, int lo, int hi) {
  const int a = static_cast<int>(r.uniform_int(lo, hi));
  int b = static_cast<int>(r.uniform_int(lo, hi - 1));
  if (b >= a) ++b;  // uniform over the other values of [lo, hi]
  return {
      {"compare: " + std::to_string(a) + " or " + std::to_string(b) + "? A/B", a > b ? "A" : "B"},
      std::to_string(std::min(a, b)) + "," + std::to_string(std::max(a, b))};
}
Item gen_compare(Rng& r) {
  return compare_in(r, 10, 99);
}

// 8. weekday: add 1-6 days to a weekday, "in week N" (1-52) of a year; the (day, offset, week)
// triples are held out, so test prompts are new, but every (day, offset) fact is in training:
// with (day, offset) pairs held out (offsets 1-13) a task trained alone reached 0.04 exact
// match (docs/task-suite.md), so this one task tests the rule under a changing context.
const Words& weekdays() {
  static const Words w = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  return w;
}
Item weekday_in(Rng& r, const char* context, int periods) {
  const int d = static_cast<int>(r.uniform_int(0, 6));
  const int k = static_cast<int>(r.uniform_int(1, 6));
  const int n = static_cast<int>(r.uniform_int(1, periods));
  const std::string prompt = "weekday: " + weekdays()[static_cast<size_t>(d)] + "+" +
                             std::to_string(k) + " in " + context + " " + std::to_string(n);
  return {{prompt, weekdays()[static_cast<size_t>((d + k) % 7)]}, prompt};
}
Item gen_weekday(Rng& r) {
  return weekday_in(r, "week", 52);
}

// Variants: four of the tasks above in a shifted domain, with the same tag, rule and answers,
// so that what a model learned on the original carries over in part (docs/task-suite.md,
// "Variants and the revisit sequence"). They are not in the default sequence;
// data/configs/revisit.toml revisits each original as its variant.
Item gen_arith_pages(Rng& r) {  // the same sums on the pages of a workbook
  return arith_in(r, "page");
}
Item gen_weekday_months(Rng& r) {  // the same day arithmetic in a month of the year
  return weekday_in(r, "month", 12);
}
Item gen_compare_hundreds(Rng& r) {  // three-digit numbers
  return compare_in(r, 100, 999);
}
Item gen_extract_places(Rng& r) {  // the same objects, other people and cities
  static const Words names = {"zoe", "liv", "ray", "dan", "amy", "ben",
                              "gus", "pam", "ted", "fay", "hal", "roy"};
  static const Words cities = {"tokyo", "quito", "accra", "perth",
                               "dubai", "minsk", "sofia", "tunis"};
  return extract_from(r, names, cities);
}

struct BuiltinSpec {
  const char* name;
  const char* description;
  AnswerKind kind;
  Item (*generate)(Rng&);
  const char* variant_of = nullptr;  // a variant: the task whose domain it shifts
};

const std::vector<BuiltinSpec>& builtin_specs() {
  static const std::vector<BuiltinSpec> specs = {
      {"topic", "classify a made-up noun by its ending into one of four categories (A-D)",
       AnswerKind::Letter, gen_topic},
      {"arith", "add two one-digit numbers (in a row of a worksheet)", AnswerKind::Number,
       gen_arith},
      {"upper", "convert a three-letter lowercase string to upper case", AnswerKind::Text,
       gen_upper},
      {"brackets", "close three to five opening brackets in the right order (code-like)",
       AnswerKind::Text, gen_brackets},
      {"extract", "extract the object from a one-sentence report", AnswerKind::Text, gen_extract},
      {"translate", "translate a made-up word with a letter-by-letter cipher", AnswerKind::Text,
       gen_translate},
      {"compare", "choose the larger of two two-digit numbers (A or B)", AnswerKind::Letter,
       gen_compare},
      {"weekday", "add 1-6 days to a weekday (in a week of the year)", AnswerKind::Text,
       gen_weekday},
      {"arith-pages", "arith's sums on the pages of a workbook (variant of arith)",
       AnswerKind::Number, gen_arith_pages, "arith"},
      {"weekday-months", "weekday's day arithmetic in a month of the year (variant of weekday)",
       AnswerKind::Text, gen_weekday_months, "weekday"},
      {"compare-hundreds", "choose the larger of two three-digit numbers (variant of compare)",
       AnswerKind::Letter, gen_compare_hundreds, "compare"},
      {"extract-places", "extract with other people and cities (variant of extract)",
       AnswerKind::Text, gen_extract_places, "extract"},
  };
  return specs;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += sep;
    s += v[i];
  }
  return s;
}

// About one key in four is held out, decided by a seeded hash of the key.
bool held_out(uint64_t partition_seed, const std::string& key) {
  return derive_seed(partition_seed, key) % 4 == 0;
}

std::vector<Example> generate_split(const BuiltinSpec& spec, uint64_t seed, const char* split,
                                    int n) {
  Rng r(derive_seed(seed, std::string(spec.name) + "/" + split));
  const uint64_t partition = derive_seed(seed, std::string(spec.name) + "/held-out");
  const bool want_held = std::string(split) != "train";
  std::vector<Example> out;
  out.reserve(static_cast<size_t>(n));
  while (out.size() < static_cast<size_t>(n)) {
    Item item = spec.generate(r);
    if (held_out(partition, item.key) == want_held) out.push_back(std::move(item.example));
  }
  return out;
}

// The spec of a built-in task (of the eight or a variant); nullptr for an unknown name.
const BuiltinSpec* find_spec(const std::string& name) {
  const auto& specs = builtin_specs();
  const auto it = std::find_if(specs.begin(), specs.end(),
                               [&](const BuiltinSpec& s) { return name == s.name; });
  return it == specs.end() ? nullptr : &*it;
}

// The names of the eight (variants = false) or of the variants, in the order of the specs.
std::vector<std::string> spec_names(bool variants) {
  std::vector<std::string> v;
  for (const auto& s : builtin_specs())
    if ((s.variant_of != nullptr) == variants) v.emplace_back(s.name);
  return v;
}

}  // namespace

const std::vector<std::string>& builtin_task_names() {
  static const std::vector<std::string> names = spec_names(false);
  return names;
}

const std::vector<std::string>& builtin_variant_names() {
  static const std::vector<std::string> names = spec_names(true);
  return names;
}

std::string builtin_variant_of(const std::string& name) {
  const BuiltinSpec* spec = find_spec(name);
  return spec && spec->variant_of ? spec->variant_of : "";
}

bool is_builtin_task(const std::string& name) {
  return find_spec(name) != nullptr;
}

Task make_builtin_task(const std::string& name, uint64_t seed, const SplitSizes& sizes) {
  const BuiltinSpec* it = find_spec(name);
  if (!it)
    throw ConfigError("unknown built-in task '" + name + "'; hint: use one of " +
                      join(builtin_task_names(), ", ") +
                      " (or a variant: " + join(builtin_variant_names(), ", ") + ")");
  if (sizes.train < 0 || sizes.eval < 0 || sizes.test < 0)
    throw ConfigError("task '" + name + "': split sizes must be >= 0 (got train=" +
                      std::to_string(sizes.train) + ", eval=" + std::to_string(sizes.eval) +
                      ", test=" + std::to_string(sizes.test) + "); hint: fix the split sizes");
  Task t;
  t.name = it->name;
  t.description = it->description;
  t.kind = it->kind;
  t.train = generate_split(*it, seed, "train", sizes.train);
  t.eval = generate_split(*it, seed, "eval", sizes.eval);
  t.test = generate_split(*it, seed, "test", sizes.test);
  return t;
}

std::vector<Task> builtin_suite(uint64_t seed, const SplitSizes& sizes,
                                const std::vector<std::string>& names) {
  const std::vector<std::string>& list = names.empty() ? builtin_task_names() : names;
  std::set<std::string> seen;
  std::vector<Task> out;
  out.reserve(list.size());
  for (const auto& n : list) {
    if (!seen.insert(n).second)
      throw ConfigError("task '" + n + "' is listed twice; hint: name each task once");
    out.push_back(make_builtin_task(n, seed, sizes));
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// Answer kinds.
// ------------------------------------------------------------------------------------------
bool is_number_string(const std::string& s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac_digits;
  }
  return i == s.size() && int_digits + frac_digits > 0;
}

namespace {
bool is_letter_string(const std::string& s) {
  return s.size() == 1 && s[0] >= 'A' && s[0] <= 'Z';
}

AnswerKind infer_kind_of(std::initializer_list<const std::vector<Example>*> lists) {
  bool any = false, letters = true, numbers = true;
  for (const auto* l : lists)
    for (const auto& e : *l) {
      any = true;
      letters = letters && is_letter_string(e.answer);
      numbers = numbers && is_number_string(e.answer);
    }
  if (!any) return AnswerKind::Text;
  if (letters) return AnswerKind::Letter;
  if (numbers) return AnswerKind::Number;
  return AnswerKind::Text;
}
}  // namespace

AnswerKind infer_kind(const std::vector<Example>& examples) {
  return infer_kind_of({&examples});
}

// ------------------------------------------------------------------------------------------
// Loading TRACE/LLMCL-style datasets.
// ------------------------------------------------------------------------------------------
namespace {

const char* kElementHint =
    "hint: each example must be an object like {\"prompt\": \"...\", \"answer\": \"...\"}";

// Error messages stay on one line.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

// nlohmann's what() without the "[json.exception.parse_error.101] " prefix.
std::string parse_detail(const json::exception& e) {
  std::string w = e.what();
  if (!w.empty() && w[0] == '[') {
    const size_t p = w.find("] ");
    if (p != std::string::npos) w = w.substr(p + 2);
  }
  return one_line(w);
}

std::string read_whole_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw DataError(path + ": file does not exist; hint: check the path");
  if (fs::is_directory(path, ec))
    throw DataError(path + ": is a directory, not a file; hint: pass a .json or .jsonl file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot open file; hint: check that it is readable");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw DataError(path + ": read error; hint: check that the file is readable");
  return ss.str();
}

// `where` is "<path>: index i" or "<path>: line n".
Example to_example(const json& j, const std::string& where) {
  if (!j.is_object())
    throw DataError(where + ": not a JSON object (got " + j.type_name() + "); " + kElementHint);
  Example e;
  for (const char* key : {"prompt", "answer"}) {
    const auto it = j.find(key);
    if (it == j.end()) throw DataError(where + ": missing \"" + key + "\" key; " + kElementHint);
    if (!it->is_string())
      throw DataError(where + ": \"" + key + "\" is not a string (got " + it->type_name() +
                      "); hint: quote the value, e.g. \"" + key + "\": \"12\"");
    (key[0] == 'p' ? e.prompt : e.answer) = it->get<std::string>();
  }
  if (e.answer.empty())
    throw DataError(where + ": \"answer\" is empty; hint: every example needs a non-empty answer");
  return e;
}

std::vector<Example> parse_json_array(const std::string& path, const std::string& text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    throw DataError(path + ": malformed JSON at byte " + std::to_string(e.byte) + " (" +
                    parse_detail(e) +
                    "); hint: fix the syntax, or use .jsonl for one object per line");
  } catch (const json::exception& e) {  // e.g. a number out of range: 1e999
    throw DataError(path + ": " + parse_detail(e) + "; hint: fix the value in the file");
  }
  if (!doc.is_array())
    throw DataError(path + ": top level is a JSON " + doc.type_name() +
                    ", not an array; hint: a .json split must be an array of {\"prompt\", "
                    "\"answer\"} objects (use .jsonl for one object per line)");
  std::vector<Example> out;
  out.reserve(doc.size());
  for (size_t i = 0; i < doc.size(); ++i)
    out.push_back(to_example(doc[i], path + ": index " + std::to_string(i)));
  return out;
}

std::vector<Example> parse_jsonl(const std::string& path, const std::string& text) {
  std::vector<Example> out;
  size_t start = 0, line_no = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r\f\v") == std::string::npos) continue;  // blank
    const std::string where = path + ": line " + std::to_string(line_no);
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      throw DataError(where + ": malformed JSON (" + parse_detail(e) +
                      "); hint: each non-blank line must be one complete JSON object");
    } catch (const json::exception& e) {  // e.g. a number out of range: 1e999
      throw DataError(where + ": " + parse_detail(e) + "; hint: fix the value in the file");
    }
    out.push_back(to_example(j, where));
  }
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// The split file of a task directory: <dir>/<split>.json or <dir>/<split>.jsonl.
std::string find_split_file(const fs::path& dir, const std::string& split) {
  const fs::path js = dir / (split + ".json"), jl = dir / (split + ".jsonl");
  const bool has_js = is_file(js), has_jl = is_file(jl);
  if (has_js && has_jl)
    throw DataError(js.string() + " and " + jl.string() +
                    " both exist; hint: keep only one of them");
  if (has_js) return js.string();
  if (has_jl) return jl.string();
  throw DataError((dir / split).string() + ": split file missing (looked for " + split +
                  ".json and " + split + ".jsonl); hint: add one of them to " + dir.string());
}

// Sub-directories of root that hold a train.json or train.jsonl, sorted.
std::vector<std::string> discover_tasks(const fs::path& root) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code ec2;
    if (!it->is_directory(ec2)) continue;
    if (is_file(it->path() / "train.json") || is_file(it->path() / "train.jsonl"))
      names.push_back(it->path().filename().string());
  }
  if (ec)
    throw DataError(root.string() + ": cannot list directory (" + ec.message() +
                    "); hint: check the permissions");
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::vector<Example> load_examples_file(const std::string& path) {
  const bool jsonl = ends_with(path, ".jsonl");
  if (!jsonl && !ends_with(path, ".json"))
    throw DataError(path +
                    ": unsupported file extension; hint: use .json (an array) or "
                    ".jsonl (one object per line)");
  const std::string text = read_whole_file(path);
  std::vector<Example> out = jsonl ? parse_jsonl(path, text) : parse_json_array(path, text);
  if (out.empty())
    throw DataError(path +
                    ": has no examples; hint: add at least one {\"prompt\": ..., "
                    "\"answer\": ...} example");
  return out;
}

std::vector<Task> load_trace_tasks(const std::string& root, const std::vector<std::string>& names) {
  const fs::path r(root);
  std::error_code ec;
  if (!fs::exists(r, ec))
    throw DataError(root +
                    ": task root directory does not exist; hint: pass the directory "
                    "that holds one sub-directory per task (<root>/<task>/train.json)");
  if (!fs::is_directory(r, ec))
    throw DataError(root +
                    ": task root is not a directory; hint: pass the directory that "
                    "holds one sub-directory per task (<root>/<task>/train.json)");
  std::vector<std::string> list = names;
  if (list.empty()) {
    list = discover_tasks(r);
    if (list.empty())
      throw DataError(root +
                      ": no task directories with a train.json or train.jsonl; hint: "
                      "lay data out as <root>/<task>/{train,eval,test}.json");
  }
  std::set<std::string> seen;
  std::vector<Task> tasks;
  tasks.reserve(list.size());
  for (const auto& name : list) {
    if (!seen.insert(name).second)
      throw ConfigError("task '" + name + "' is listed twice; hint: name each task once");
    const fs::path dir = r / name;
    if (!fs::is_directory(dir, ec)) {
      const auto avail = discover_tasks(r);
      throw DataError(dir.string() + ": task directory does not exist; hint: " +
                      (avail.empty() ? std::string("create it with train/eval/test files")
                                     : "tasks found under " + root + ": " + join(avail, ", ")));
    }
    Task t;
    t.name = name;
    t.description = "loaded from " + dir.string();
    t.train = load_examples_file(find_split_file(dir, "train"));
    t.eval = load_examples_file(find_split_file(dir, "eval"));
    t.test = load_examples_file(find_split_file(dir, "test"));
    t.kind = infer_kind_of({&t.train, &t.eval, &t.test});
    tasks.push_back(std::move(t));
  }
  return tasks;
}

}  // namespace lorascape::core
