#include "core/corpus.h"

#include "core/rng.h"
#include "store/error.h"

namespace lorascape::core {

namespace {

using Words = std::vector<std::string>;

const Words kNames = {"Tom",  "Ann",  "Bob",  "Eve",  "Sam",   "Max",   "Lea",   "Ida",
                      "Joe",  "Kim",  "Ned",  "Sue",  "Mia",   "Leo",   "Zoe",   "Ben",
                      "Amy",  "Dan",  "Liz",  "Ray",  "Nora",  "Omar",  "Rosa",  "Hugo",
                      "Lena", "Paul", "Ruth", "Ivan", "Maya",  "Carl",  "Emma",  "Jack",
                      "Lily", "Noah", "Ella", "Finn", "Grace", "Oscar", "Clara", "Felix"};

// Countable nouns with regular plurals (see plural()).
const Words kNouns = {
    "book",   "cup",    "hat",    "box",    "key",    "pen",     "map",    "bag",    "car",
    "bus",    "boat",   "kite",   "ring",   "chair",  "table",   "lamp",   "door",   "window",
    "bottle", "glass",  "plate",  "spoon",  "fork",   "ball",    "doll",   "drum",   "bell",
    "coin",   "card",   "letter", "song",   "story",  "picture", "flower", "tree",   "rock",
    "stone",  "shell",  "river",  "hill",   "road",   "bridge",  "tower",  "garden", "house",
    "farm",   "shop",   "school", "park",   "train",  "bike",    "ship",   "plane",  "truck",
    "apple",  "pear",   "plum",   "lemon",  "grape",  "peach",   "melon",  "cherry", "carrot",
    "onion",  "cake",   "cookie", "egg",    "pie",    "cat",     "dog",    "bird",   "horse",
    "cow",    "frog",   "duck",   "goat",   "tiger",  "lion",    "rabbit", "fox",    "bear",
    "hammer", "brush",  "basket", "candle", "pillow", "jacket",  "shoe",   "sock",   "button",
    "ticket", "robot",  "puzzle", "rocket", "engine", "camera",  "radio",  "clock",  "phone",
    "mirror", "ladder", "rope",   "cloud",  "star",   "wheel",   "bench",  "nest",   "drawer"};

const Words kAdjectives = {
    "big",     "small", "old",   "new",   "happy", "sad",  "quick", "slow",  "quiet",  "loud",
    "bright",  "dark",  "warm",  "cold",  "soft",  "hard", "tall",  "short", "little", "long",
    "young",   "kind",  "brave", "shy",   "funny", "tiny", "huge",  "clean", "dirty",  "heavy",
    "light",   "sweet", "sour",  "round", "flat",  "busy", "lazy",  "calm",  "wild",   "gentle",
    "strange", "lucky", "fresh", "empty", "full",  "wet",  "dry",   "noisy", "pretty", "shiny"};

const Words kColors = {"red",  "green", "blue", "yellow", "white",  "black",
                       "pink", "brown", "gray", "purple", "orange", "gold"};

struct Verb {
  const char* base;
  const char* third;  // he/she ...
  const char* past;
};
const std::vector<Verb> kVerbs = {
    {"like", "likes", "liked"},      {"find", "finds", "found"},
    {"take", "takes", "took"},       {"carry", "carries", "carried"},
    {"paint", "paints", "painted"},  {"wash", "washes", "washed"},
    {"open", "opens", "opened"},     {"close", "closes", "closed"},
    {"hold", "holds", "held"},       {"buy", "buys", "bought"},
    {"sell", "sells", "sold"},       {"make", "makes", "made"},
    {"fix", "fixes", "fixed"},       {"draw", "draws", "drew"},
    {"watch", "watches", "watched"}, {"want", "wants", "wanted"},
    {"keep", "keeps", "kept"},       {"bring", "brings", "brought"},
    {"move", "moves", "moved"},      {"clean", "cleans", "cleaned"},
    {"need", "needs", "needed"},     {"throw", "throws", "threw"},
    {"catch", "catches", "caught"},  {"hide", "hides", "hid"},
    {"love", "loves", "loved"},      {"drop", "drops", "dropped"},
    {"kick", "kicks", "kicked"},     {"read", "reads", "read"},
    {"build", "builds", "built"},    {"count", "counts", "counted"},
    {"push", "pushes", "pushed"},    {"pull", "pulls", "pulled"},
    {"lose", "loses", "lost"},       {"borrow", "borrows", "borrowed"},
};
const std::vector<Verb> kIntransitive = {
    {"run", "runs", "ran"},         {"sleep", "sleeps", "slept"},  {"sing", "sings", "sang"},
    {"jump", "jumps", "jumped"},    {"wait", "waits", "waited"},   {"walk", "walks", "walked"},
    {"laugh", "laughs", "laughed"}, {"swim", "swims", "swam"},     {"dance", "dances", "danced"},
    {"rest", "rests", "rested"},    {"smile", "smiles", "smiled"}, {"work", "works", "worked"},
    {"play", "plays", "played"},    {"sit", "sits", "sat"},
};

const Words kAdverbs = {"quickly",   "slowly",   "quietly", "loudly", "happily", "sadly",
                        "carefully", "softly",   "early",   "late",   "often",   "again",
                        "today",     "together", "gently",  "calmly", "twice",   "yesterday"};

const Words kPlaces = {"in the garden", "at the park",     "near the river", "on the hill",
                       "by the door",   "under the table", "in the kitchen", "at school",
                       "at home",       "in the forest",   "on the bridge",  "behind the house",
                       "in the shop",   "on the farm",     "by the sea",     "in the car",
                       "on the roof",   "at the station",  "in the library", "near the lake"};

const Words kCities = {"Paris",  "Rome",   "Oslo",   "London", "Berlin", "Madrid", "Tokyo",
                       "Cairo",  "Lima",   "Vienna", "Dublin", "Prague", "Lisbon", "Athens",
                       "Boston", "Denver", "Sydney", "Delhi",  "Seoul",  "Quito"};

const Words kDays = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
const Words kMonths = {"January", "February", "March",     "April",   "May",      "June",
                       "July",    "August",   "September", "October", "November", "December"};

const Words kShout = {"STOP", "GO", "OPEN", "CLOSED", "EXIT", "SALE", "HELLO", "DANGER"};

bool is_vowel(char c) {
  return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

std::string plural(const std::string& w) {
  const size_t n = w.size();
  auto ends = [&](const char* s) {
    const std::string t(s);
    return n >= t.size() && w.compare(n - t.size(), t.size(), t) == 0;
  };
  if (ends("s") || ends("x") || ends("ch") || ends("sh")) return w + "es";
  if (n >= 2 && w[n - 1] == 'y' && !is_vowel(w[n - 2])) return w.substr(0, n - 1) + "ies";
  return w + "s";
}

std::string article(const std::string& w) {
  return (is_vowel(w[0]) ? "an " : "a ") + w;
}

std::string cap(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

class Grammar {
 public:
  explicit Grammar(Rng& r) : r_(r) {}

  std::string line() {
    switch (r_.uniform_int(0, 13)) {
      case 0:
        return simple();
      case 1:
        return counted();
      case 2:
        return repeat_word();
      case 3:
        return repeat_phrase();
      case 4:
        return list();
      case 5:
        return dialogue();
      case 6:
        return numbers();
      case 7:
        return question();
      case 8:
        return capitals();
      case 9:
        return intransitive();
      case 10:
        return compound();
      case 11:
        return triple();
      case 12:
        return repeat_word();
      default:
        return numbers();
    }
  }

  // Always 20..60 bytes (names have >= 3 letters, numbers two digits).
  std::string fallback() {
    const std::string m = name(), k = num(10, 99);
    return m + " is " + k + " years old.";
  }

 private:
  Rng& r_;

  const std::string& name() { return r_.pick(kNames); }
  const std::string& noun() { return r_.pick(kNouns); }
  const std::string& adj() { return r_.pick(kAdjectives); }
  const std::string& color() { return r_.pick(kColors); }
  const std::string& adverb() { return r_.pick(kAdverbs); }
  const std::string& place() { return r_.pick(kPlaces); }
  const std::string& city() { return r_.pick(kCities); }
  const std::string& day() { return r_.pick(kDays); }
  const Verb& verb() { return r_.pick(kVerbs); }
  const Verb& intrans() { return r_.pick(kIntransitive); }
  std::string num(int lo, int hi) { return std::to_string(r_.uniform_int(lo, hi)); }
  // A word that may be copied later in the line: a color, noun or adjective.
  const std::string& word() {
    switch (r_.uniform_int(0, 2)) {
      case 0:
        return color();
      case 1:
        return noun();
      default:
        return adj();
    }
  }
  std::string other_name(const std::string& not_this) {
    for (;;) {
      const std::string& n = name();
      if (n != not_this) return n;
    }
  }

  // Every random draw is made in its own statement (or in one declaration, whose declarators
  // are sequenced): the operands of a chain of string '+' are evaluated in an unspecified
  // order, which would make the data differ between compilers.
  std::string simple() {
    const std::string a = adj(), n = noun(), v = verb().third, o = noun(), p = place();
    return "The " + a + " " + n + " " + v + " the " + o + " " + p + ".";
  }
  std::string counted() {
    const std::string m = name(), v = verb().past, k = num(2, 99), n = plural(noun()), d = adverb();
    return m + " " + v + " " + k + " " + n + " " + d + ".";
  }
  std::string repeat_word() {
    const std::string n = name(), w = word();
    switch (r_.uniform_int(0, 2)) {
      case 0:
        return n + " said " + w + ", and then " + n + " said " + w + " again.";
      case 1:
        return "The word is " + w + ". Say it again, " + w + ".";
      default:
        return n + " likes " + w + ". Yes, " + n + " likes " + w + ".";
    }
  }
  std::string repeat_phrase() {
    const std::string a = adj(), n = noun();
    switch (r_.uniform_int(0, 2)) {
      case 0:
        return "I want the " + a + " " + n + ", only the " + a + " " + n + ".";
      case 1: {
        const std::string c = color(), m = name();
        return m + " wrote " + c + " " + n + ", then " + c + " " + n + " again.";
      }
      default: {
        const std::string m = name(), f = other_name(m), p = place();
        return m + " met " + m + "'s friend " + f + " " + p + ".";
      }
    }
  }
  std::string list() {
    switch (r_.uniform_int(0, 2)) {
      case 0: {
        const std::string m = name(), a = plural(noun()), b = plural(noun()), c = plural(noun());
        return m + " bought " + a + ", " + b + " and " + c + ".";
      }
      case 1: {
        const std::string a = color(), b = color(), c = color();
        return "The flag is " + a + ", " + b + " and " + c + ".";
      }
      default: {
        const std::string a = article(noun()), b = article(noun()), c = article(noun());
        return "We need " + a + ", " + b + " and " + c + ".";
      }
    }
  }
  std::string dialogue() {
    const std::string m = name();
    switch (r_.uniform_int(0, 3)) {
      case 0: {
        const std::string n = noun();
        return "\"Where is the " + n + "?\" asked " + m + ".";
      }
      case 1: {
        const std::string k = num(2, 99), n = plural(noun());
        return "\"I have " + k + " " + n + ",\" said " + m + ".";
      }
      case 2: {
        const std::string n = noun(), a = adj();
        return m + " said, \"The " + n + " is " + a + ".\"";
      }
      default: {
        const std::string f = other_name(m), d = adverb();
        return "\"Hello, " + f + "!\" said " + m + " " + d + ".";
      }
    }
  }
  std::string numbers() {
    switch (r_.uniform_int(0, 5)) {
      case 0: {
        const std::string y = num(1900, 2030), m = name(), c = city();
        return "In " + y + ", " + m + " lived in " + c + ".";
      }
      case 1: {
        const std::string k = num(2, 999), n = plural(noun()), p = place();
        return "There are " + k + " " + n + " " + p + ".";
      }
      case 2: {
        const std::string m = name(), k = num(4, 99);
        return m + " is " + k + " years old.";
      }
      case 3: {
        const std::string n = noun(), k = num(2, 500);
        return "The " + n + " costs " + k + " dollars.";
      }
      case 4: {
        const std::string k = num(-9, 40), d = day();
        return "It was " + k + " degrees on " + d + ".";
      }
      default: {
        const std::string a = num(1, 400), b = num(1, 20);
        return "Room " + a + " is on floor " + b + ".";
      }
    }
  }
  std::string question() {
    switch (r_.uniform_int(0, 2)) {
      case 0: {
        const std::string n = noun(), a = adj(), b = adj();
        return "Is the " + n + " " + a + "? Yes, the " + n + " is very " + b + ".";
      }
      case 1: {
        const std::string m = name(), v = verb().base, n = noun();
        return "Did " + m + " " + v + " the " + n + "? No, " + m + " did not.";
      }
      default: {
        const std::string n = noun(), a = adj();
        return "Why is the " + n + " so " + a + " today?";
      }
    }
  }
  std::string capitals() {
    const std::string m = name();
    switch (r_.uniform_int(0, 3)) {
      case 0: {
        const std::string f = other_name(m), c = city(), d = day();
        return m + " and " + f + " went to " + c + " on " + d + ".";
      }
      case 1: {
        const std::string mo = r_.pick(kMonths), c = city();
        return "In " + mo + ", " + m + " visits " + c + ".";
      }
      case 2: {
        const std::string n = noun(), w = r_.pick(kShout);
        return "The sign on the " + n + " said " + w + ".";
      }
      default: {
        const std::string a = city(), b = city();
        return m + " flew from " + a + " to " + b + ".";
      }
    }
  }
  std::string intransitive() {
    if (r_.uniform_int(0, 1) == 0) {
      const std::string m = name(), v = intrans().past, d = adverb(), p = place();
      return m + " " + v + " " + d + " " + p + ".";
    }
    const std::string a = adj(), n = noun(), v = intrans().third, p = place();
    return "The " + a + " " + n + " " + v + " " + p + ".";
  }
  std::string compound() {
    const std::string m = name(), v = verb().past, n = noun(), f = other_name(m), w = verb().past;
    return m + " " + v + " the " + n + ", but " + f + " " + w + " it.";
  }
  std::string triple() {
    const std::string w = word(), a = adj(), n = noun();
    return cap(w) + ", " + w + ", " + w + ", said the " + a + " " + n + ".";
  }
};

}  // namespace

std::vector<std::string> generic_corpus(uint64_t seed, int n_lines) {
  if (n_lines < 0)
    throw ConfigError("generic_corpus: n_lines must be >= 0 (got " + std::to_string(n_lines) +
                      "); hint: ask for a non-negative number of lines");
  Rng r(derive_seed(seed, "generic_corpus"));
  Grammar g(r);
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(n_lines));
  for (int i = 0; i < n_lines; ++i) {
    std::string s;
    bool ok = false;
    for (int attempt = 0; attempt < 32 && !ok; ++attempt) {
      s = g.line();
      ok = s.size() >= kCorpusMinLineBytes && s.size() <= kCorpusMaxLineBytes;
    }
    if (!ok) s = g.fallback();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace lorascape::core
