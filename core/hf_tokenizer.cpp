// Hugging Face tokenizer.json in C++ (core/hf_tokenizer.h). The pipeline follows the Rust
// `tokenizers` library; where its JavaScript port (npm @lenml/tokenizers, the reference of the
// tests) differs in a corner, the port is followed and the corner is named below.
//
// Supported, as far as the Llama-2/Mistral and Llama-3/Qwen2 files use them:
//   added tokens   split out of the raw text first, leftmost-longest match. `lstrip`/`rstrip`
//                  drop ASCII whitespace next to the token; `single_word` only matches between
//                  non-word characters (ASCII letters, digits and '_' are word characters).
//                  `normalized: true` tokens are matched in the raw text too (the library
//                  matches them after normalisation; neither real file has one).
//   normalizer     Prepend, Replace (string or regex pattern), Sequence. Others (NFC, NFKC,
//                  Lowercase, Strip, Precompiled, BertNormalizer, …) are refused.
//   pre_tokenizer  Split (string or regex, every behaviour, invert), ByteLevel (add_prefix_space,
//                  use_regex: the GPT-2 regex), Metaspace (replacement, prepend_scheme, split),
//                  Sequence. Others are refused.
//   model          BPE: merges as "a b" strings or [a, b] pairs, byte_fallback, ignore_merges,
//                  fuse_unk, unk_token. No dropout, continuing_subword_prefix or
//                  end_of_word_suffix (refused when set).
//   post_processor TemplateProcessing (single sequence), ByteLevel (no change to ids),
//                  BertProcessing/RobertaProcessing (cls … sep), Sequence. Pairs of sequences
//                  are not encoded.
//   decoder        ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence.
//   truncation, padding: ignored (transformers sets its own per call).
#include "core/hf_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "store/error.h"

namespace lorascape::core {

namespace {

using json = nlohmann::json;

constexpr int64_t kMaxId = int64_t{1} << 24;              // ids beyond are refused
constexpr uint64_t kMaxJsonBytes = uint64_t{1} << 30;     // tokenizer.json
constexpr uint64_t kMaxConfigBytes = uint64_t{64} << 20;  // tokenizer_config.json
constexpr int kMaxDepth = 16;                             // nested Sequence components
constexpr size_t kMaxCachedWord = 256;                    // bytes; longer words are not cached
constexpr size_t kCacheEntries = 1 << 16;

const char* const kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// ---- UTF-8 -----------------------------------------------------------------------------------

// Length of the well-formed UTF-8 character at s[i], or 0 when the bytes there are not one.
size_t utf8_char_len(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  const size_t left = s.size() - i;
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (left < n) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  return n;
}

// The characters of s: each well-formed UTF-8 character, or one byte where s is not UTF-8.
template <typename F>
void for_each_char(std::string_view s, F&& f) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_char_len(s, i);
    if (n == 0) n = 1;
    f(s.substr(i, n));
    i += n;
  }
}

// s with every ill-formed sequence replaced by U+FFFD (one per maximal subpart, as the WHATWG
// decoder and Rust's from_utf8_lossy do).
std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_char_len(s, i);
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    // Skip the maximal subpart: the lead byte and the continuation bytes that were valid so far.
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t skip = 1;
    size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    if (c >= 0xE0 && c <= 0xEF)
      need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    if (c >= 0xF0 && c <= 0xF4)
      need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    for (size_t k = 1; k <= need && i + k < s.size(); ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (d < lo || d > hi) : (d & 0xC0) != 0x80) break;
      ++skip;
    }
    out += "\xEF\xBF\xBD";
    i += skip;
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// GPT-2's byte <-> printable character table: bytes that are printable Latin-1 map to
// themselves, the other 68 to U+0100 onwards, in byte order.
struct ByteTable {
  std::array<std::string, 256> to_char;
  std::unordered_map<std::string, unsigned char> to_byte;
  ByteTable() {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      std::string c;
      append_utf8(c, printable ? b : next++);
      to_char[b] = c;
      to_byte.emplace(c, static_cast<unsigned char>(b));
    }
  }
};
const ByteTable& byte_table() {
  static const ByteTable t;
  return t;
}

std::string byte_token(unsigned char b) {
  static const char* hex = "0123456789ABCDEF";
  return std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
}

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool is_word_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out.append(to);
  }
  if (pos == 0) return;
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

// ---- JSON access with errors naming the file and key ---------------------------------------

// A message on one line, valid UTF-8: keys and values quoted from a hostile file may hold
// anything.
std::string one_line(const std::string& s) {
  std::string out;
  for (char c : utf8_lossy(s)) {
    if (static_cast<unsigned char>(c) < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += c == '\n' ? std::string("\\n") : std::string("\\x") + hex[(c >> 4) & 15] + hex[c & 15];
    } else {
      out += c;
    }
  }
  return out;
}

[[noreturn]] void fail(const std::string& file, const std::string& key, const std::string& what) {
  throw FormatError(one_line(file + ": \"" + key + "\" " + what));
}

const char* type_name(const json& j) {
  return j.type_name();
}

const json& member(const std::string& file, const json& obj, const std::string& path,
                   const char* key) {
  if (!obj.is_object()) fail(file, path, std::string("must be an object, not ") + type_name(obj));
  auto it = obj.find(key);
  if (it == obj.end()) fail(file, path + "." + key, "is missing");
  return *it;
}

std::string str_of(const std::string& file, const json& j, const std::string& path) {
  if (!j.is_string()) fail(file, path, std::string("must be a string, not ") + type_name(j));
  return j.get<std::string>();
}

std::string req_str(const std::string& file, const json& obj, const std::string& path,
                    const char* key) {
  return str_of(file, member(file, obj, path, key), path + "." + key);
}

// An optional member: null and absent read as `def`.
bool opt_bool(const std::string& file, const json& obj, const std::string& path, const char* key,
              bool def) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return def;
  if (!it->is_boolean())
    fail(file, path + "." + key, std::string("must be true or false, not ") + type_name(*it));
  return it->get<bool>();
}

std::optional<std::string> opt_str(const std::string& file, const json& obj,
                                   const std::string& path, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  return str_of(file, *it, path + "." + key);
}

int64_t id_of(const std::string& file, const json& j, const std::string& path) {
  if (!j.is_number_integer())
    fail(file, path, std::string("must be an integer id, not ") + type_name(j));
  const int64_t id =
      j.is_number_unsigned()
          ? static_cast<int64_t>(std::min<uint64_t>(j.get<uint64_t>(), uint64_t(kMaxId)))
          : j.get<int64_t>();
  if (id < 0 || id >= kMaxId)
    fail(file, path, "is " + j.dump() + ", outside 0.." + std::to_string(kMaxId - 1));
  return id;
}

std::string type_of(const std::string& file, const json& obj, const std::string& path) {
  return req_str(file, obj, path, "type");
}

// ---- regular expressions (PCRE2, UTF + Unicode properties) ---------------------------------

class Regex {
 public:
  // Throws FormatError naming `path` when the pattern does not compile.
  Regex(const std::string& pattern, const std::string& file, const std::string& path) {
    int err = 0;
    PCRE2_SIZE at = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &at, nullptr);
    if (!code_) {
      std::array<PCRE2_UCHAR, 256> msg{};
      pcre2_get_error_message(err, msg.data(), msg.size());
      fail(file, path,
           "is not a regular expression PCRE2 accepts (" +
               std::string(reinterpret_cast<char*>(msg.data())) + " at offset " +
               std::to_string(at) + ")");
    }
    jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Every non-empty, non-overlapping match of s, left to right, as [begin, end) byte offsets.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const {
    std::vector<std::pair<size_t, size_t>> out;
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
        pcre2_match_data_create_from_pattern(code_, nullptr), &pcre2_match_data_free);
    if (!md) throw std::bad_alloc();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
    size_t off = 0;
    while (off <= s.size()) {
      int rc = match(subject, s.size(), off, md.get(), 0);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0 && jit_) rc = match(subject, s.size(), off, md.get(), PCRE2_NO_JIT);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        std::array<PCRE2_UCHAR, 256> msg{};
        pcre2_get_error_message(rc, msg.data(), msg.size());
        throw DataError("tokenizer: the pre-tokenizer's regex failed on the text (" +
                        std::string(reinterpret_cast<char*>(msg.data())) +
                        "); split the text into shorter pieces");
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      const size_t a = ov[0], b = ov[1];
      if (b > a) {
        out.emplace_back(a, b);
        off = b;
      } else {  // an empty match: try again one character further
        if (a >= s.size()) break;
        off = a + 1;
        while (off < s.size() && (static_cast<unsigned char>(s[off]) & 0xC0) == 0x80) ++off;
      }
    }
    return out;
  }

 private:
  int match(PCRE2_SPTR subject, size_t n, size_t off, pcre2_match_data* md,
            uint32_t options) const {
    // One JIT stack per thread, up to 8 MiB (the default 32 KiB is too small for long runs).
    struct JitStack {
      pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
      pcre2_match_context* ctx = pcre2_match_context_create(nullptr);
      JitStack() {
        if (stack && ctx) pcre2_jit_stack_assign(ctx, nullptr, stack);
      }
      ~JitStack() {
        pcre2_match_context_free(ctx);
        pcre2_jit_stack_free(stack);
      }
    };
    thread_local JitStack js;
    return pcre2_match(code_, subject, n, off, options, md, js.ctx);
  }

  pcre2_code* code_ = nullptr;
  bool jit_ = false;
};

// A Replace/Split pattern: {"String": s} or {"Regex": r}.
struct Pattern {
  std::string literal;
  std::shared_ptr<const Regex> regex;

  static Pattern parse(const std::string& file, const json& j, const std::string& path) {
    Pattern p;
    if (!j.is_object()) fail(file, path, "must be {\"String\": …} or {\"Regex\": …}");
    if (j.contains("String")) {
      p.literal = str_of(file, j["String"], path + ".String");
      if (p.literal.empty()) fail(file, path + ".String", "is empty");
    } else if (j.contains("Regex")) {
      p.regex = std::make_shared<const Regex>(str_of(file, j["Regex"], path + ".Regex"), file,
                                              path + ".Regex");
    } else {
      fail(file, path, "must be {\"String\": …} or {\"Regex\": …}");
    }
    return p;
  }

  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const {
    if (regex) return regex->find_all(s);
    std::vector<std::pair<size_t, size_t>> out;
    for (size_t pos = 0, hit; (hit = s.find(literal, pos)) != std::string_view::npos;
         pos = hit + literal.size())
      out.emplace_back(hit, hit + literal.size());
    return out;
  }

  std::string replace(const std::string& s, const std::string& content) const {
    std::string out;
    size_t pos = 0;
    for (const auto& [a, b] : find_all(s)) {
      out.append(s, pos, a - pos);
      out += content;
      pos = b;
    }
    out.append(s, pos, std::string::npos);
    return out;
  }
};

// ---- the pipeline's steps ------------------------------------------------------------------

struct NormalizerStep {
  enum Kind { kPrepend, kReplace } kind;
  std::string text;  // Prepend: the prefix; Replace: the replacement
  Pattern pattern;   // Replace
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreTokStep {
  enum Kind { kSplit, kByteLevel, kMetaspace } kind;
  Pattern pattern;  // Split; ByteLevel with use_regex (the GPT-2 regex)
  bool use_pattern = false;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  // ByteLevel
  std::string replacement;        // Metaspace
  std::string prepend_scheme;     // Metaspace: always | first | never
  bool split = true;              // Metaspace
};

struct DecoderStep {
  enum Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip, kMetaspace } kind;
  Pattern pattern;      // Replace
  std::string content;  // Replace: the replacement; Strip: the character; Metaspace: replacement
  int64_t start = 0, stop = 0;  // Strip
  bool prepend = true;          // Metaspace: drop the first token's leading space
};

struct AddedToken {
  std::string content;
  int64_t id = 0;
  bool special = false, lstrip = false, rstrip = false, single_word = false;
};

// One piece of text on its way through the pipeline.
struct Piece {
  std::string text;
  int64_t added_id = -1;  // an added token's id: no further processing
};

// Splits s at the matches of a pattern (Split pre-tokenizer, behaviours as in the library).
std::vector<std::string> split_with(const std::string& s,
                                    const std::vector<std::pair<size_t, size_t>>& matches,
                                    SplitBehavior behavior, bool invert) {
  struct Part {
    size_t a, b;
    bool match;
  };
  std::vector<Part> parts;
  size_t pos = 0;
  for (const auto& [a, b] : matches) {
    if (a > pos) parts.push_back({pos, a, invert});
    parts.push_back({a, b, !invert});
    pos = b;
  }
  if (pos < s.size()) parts.push_back({pos, s.size(), invert});

  std::vector<Part> kept;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      kept.swap(parts);
      break;
    case SplitBehavior::kRemoved:
      for (const Part& p : parts)
        if (!p.match) kept.push_back(p);
      break;
    case SplitBehavior::kContiguous:
      for (const Part& p : parts) {
        if (p.match && !kept.empty() && kept.back().match)
          kept.back().b = p.b;
        else
          kept.push_back(p);
      }
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Part& p : parts) {
        if (p.match && !previous_match && !kept.empty())
          kept.back().b = p.b;
        else
          kept.push_back(p);
        previous_match = p.match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;  // walking from the end
      std::vector<Part> rev;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->match && !previous_match && !rev.empty())
          rev.back().a = it->a;
        else
          rev.push_back(*it);
        previous_match = it->match;
      }
      std::reverse(rev.begin(), rev.end());
      kept.swap(rev);
      break;
    }
  }
  std::vector<std::string> out;
  for (const Part& p : kept)
    if (p.b > p.a) out.push_back(s.substr(p.a, p.b - p.a));
  return out;
}

}  // namespace

// ---- the tokenizer -------------------------------------------------------------------------

struct HfTokenizer::Impl {
  std::string origin;
  // Model vocabulary + added tokens.
  std::unordered_map<std::string, int32_t> vocab;  // the model's vocabulary
  std::vector<std::string> tokens;                 // id -> token ("" for holes)
  std::vector<char> present;                       // id names a token
  std::vector<char> special;                       // id is a special added token
  std::vector<char> added;                         // id is an added token
  std::vector<AddedToken> added_tokens;
  std::unordered_map<std::string, int64_t> added_ids;
  std::array<std::vector<int32_t>, 256> added_by_first_byte;  // indices, longest first

  // BPE.
  struct Merge {
    int32_t rank, new_id;
  };
  std::unordered_map<uint64_t, Merge> merges;
  bool byte_fallback = false, ignore_merges = false, fuse_unk = false;
  int32_t unk_id = -1;
  std::array<int32_t, 256> byte_ids{};  // <0xNN> tokens, -1 when absent

  std::vector<NormalizerStep> normalizers;
  std::vector<PreTokStep> pre_tokenizers;
  std::vector<DecoderStep> decoders;
  bool has_decoder = false;
  std::vector<int64_t> prefix, suffix;  // added by add_special_tokens

  int64_t bos = -1, eos = -1, pad = -1;
  bool add_bos = false, add_eos = false;
  bool clean_up = true;
  bool byte_level = false;
  // SentencePiece-style files without a pre-tokenizer run BPE over a whole piece of text. When
  // the metaspace character (the Replace normalizer's " " -> "▁") only ever begins a vocabulary
  // token, no merge can join a character to a "▁" after it, so the piece is cut before every
  // "▁" that follows another character and the words are encoded (and cached) one by one: the
  // same ids, much faster. Empty when that does not hold.
  std::string word_start;

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  void bpe(const std::string& word, std::vector<int64_t>& out) const;
  std::vector<Piece> split_added(const std::string& text) const;
  std::vector<std::string> pre_tokenize(std::string s, bool first_section) const;
};

void HfTokenizer::Impl::bpe(const std::string& word, std::vector<int64_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges) {
    auto it = vocab.find(word);
    if (it != vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() < kMaxCachedWord;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = cache.find(word);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }

  // The symbols: one per character, linked both ways; a merged pair lives on in its left symbol.
  struct Sym {
    int32_t id, prev, next;
    bool alive;
  };
  std::vector<Sym> syms;
  syms.reserve(word.size());
  bool last_unk = false;
  std::string ch;
  for_each_char(word, [&](std::string_view c) {
    ch.assign(c);
    auto it = vocab.find(ch);
    if (it != vocab.end()) {
      syms.push_back({it->second, 0, 0, true});
      last_unk = false;
      return;
    }
    if (byte_fallback) {
      bool all = true;
      for (char b : c) all = all && byte_ids[static_cast<unsigned char>(b)] >= 0;
      if (all) {
        for (char b : c) syms.push_back({byte_ids[static_cast<unsigned char>(b)], 0, 0, true});
        last_unk = false;
        return;
      }
    }
    if (unk_id < 0) return;  // no unknown token: the character is dropped (as the library does)
    if (fuse_unk && last_unk) return;
    syms.push_back({unk_id, 0, 0, true});
    last_unk = true;
  });
  const int32_t n = static_cast<int32_t>(syms.size());
  for (int32_t i = 0; i < n; ++i) {
    syms[i].prev = i - 1;
    syms[i].next = i + 1 < n ? i + 1 : -1;
  }

  // Candidate merges ordered by (rank, position of the left symbol): the lowest rank first,
  // the leftmost first among equal ranks. Stale candidates are skipped when popped.
  struct Cand {
    int32_t rank, pos;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> queue;
  const auto consider = [&](int32_t pos) {
    const int32_t nx = syms[pos].next;
    if (nx < 0) return;
    auto it = merges.find(key(syms[pos].id, syms[nx].id));
    if (it != merges.end()) queue.push({it->second.rank, pos});
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);
  while (!queue.empty()) {
    const Cand c = queue.top();
    queue.pop();
    Sym& s = syms[c.pos];
    if (!s.alive || s.next < 0) continue;
    const int32_t nx = s.next;
    auto it = merges.find(key(s.id, syms[nx].id));
    if (it == merges.end() || it->second.rank != c.rank) continue;  // the pair has changed
    s.id = it->second.new_id;
    s.next = syms[nx].next;
    syms[nx].alive = false;
    if (s.next >= 0) syms[s.next].prev = c.pos;
    if (s.prev >= 0) consider(s.prev);
    consider(c.pos);
  }

  std::vector<int32_t> ids;
  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = syms[i].next) ids.push_back(syms[i].id);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (cache.size() >= kCacheEntries) cache.clear();
    cache.emplace(word, std::move(ids));
  }
}

std::vector<Piece> HfTokenizer::Impl::split_added(const std::string& text) const {
  std::vector<Piece> pieces;
  size_t start = 0;  // start of the pending plain text
  for (size_t i = 0; i < text.size();) {
    const AddedToken* hit = nullptr;
    for (int32_t k : added_by_first_byte[static_cast<unsigned char>(text[i])]) {
      const AddedToken& t = added_tokens[k];
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      if (t.single_word) {
        const size_t end = i + t.content.size();
        if ((i > 0 && is_word_byte(text[i - 1])) || (end < text.size() && is_word_byte(text[end])))
          continue;
      }
      hit = &t;
      break;
    }
    if (!hit) {
      ++i;
      continue;
    }
    if (i > start) pieces.push_back({text.substr(start, i - start), -1});
    pieces.push_back({hit->content, hit->id});
    i += hit->content.size();
    start = i;
  }
  if (start < text.size()) pieces.push_back({text.substr(start), -1});

  // lstrip/rstrip: the whitespace next to such a token goes.
  for (size_t k = 0; k < pieces.size(); ++k) {
    if (pieces[k].added_id < 0) continue;
    const AddedToken* t = nullptr;
    for (const AddedToken& a : added_tokens)
      if (a.id == pieces[k].added_id && a.content == pieces[k].text) t = &a;
    if (!t) continue;
    if (t->lstrip && k > 0 && pieces[k - 1].added_id < 0) {
      std::string& p = pieces[k - 1].text;
      while (!p.empty() && is_ascii_space(p.back())) p.pop_back();
    }
    if (t->rstrip && k + 1 < pieces.size() && pieces[k + 1].added_id < 0) {
      std::string& p = pieces[k + 1].text;
      size_t j = 0;
      while (j < p.size() && is_ascii_space(p[j])) ++j;
      p.erase(0, j);
    }
  }
  return pieces;
}

std::vector<std::string> HfTokenizer::Impl::pre_tokenize(std::string s, bool first_section) const {
  std::vector<std::string> words{std::move(s)};
  const ByteTable& bt = byte_table();
  for (const PreTokStep& step : pre_tokenizers) {
    std::vector<std::string> next;
    for (std::string& w : words) {
      switch (step.kind) {
        case PreTokStep::kSplit: {
          auto parts = split_with(w, step.pattern.find_all(w), step.behavior, step.invert);
          next.insert(next.end(), std::make_move_iterator(parts.begin()),
                      std::make_move_iterator(parts.end()));
          break;
        }
        case PreTokStep::kByteLevel: {
          if (step.add_prefix_space && (w.empty() || w[0] != ' ')) w.insert(0, " ");
          std::vector<std::string> parts;
          if (step.use_pattern)
            parts = split_with(w, step.pattern.find_all(w), SplitBehavior::kIsolated, false);
          else
            parts.push_back(std::move(w));
          for (const std::string& p : parts) {
            std::string mapped;
            mapped.reserve(p.size() * 2);
            for (char b : p) mapped += bt.to_char[static_cast<unsigned char>(b)];
            next.push_back(std::move(mapped));
          }
          break;
        }
        case PreTokStep::kMetaspace: {
          replace_all(w, " ", step.replacement);
          const bool prepend =
              step.prepend_scheme == "always" || (step.prepend_scheme == "first" && first_section);
          if (prepend && w.compare(0, step.replacement.size(), step.replacement) != 0)
            w.insert(0, step.replacement);
          if (step.split) {
            Pattern p;
            p.literal = step.replacement;
            auto parts = split_with(w, p.find_all(w), SplitBehavior::kMergedWithNext, false);
            next.insert(next.end(), std::make_move_iterator(parts.begin()),
                        std::make_move_iterator(parts.end()));
          } else {
            next.push_back(std::move(w));
          }
          break;
        }
      }
    }
    words = std::move(next);
  }
  return words;
}

namespace {

// ---- loading -------------------------------------------------------------------------------

void parse_normalizer(const std::string& file, const json& j, const std::string& path, int depth,
                      std::vector<NormalizerStep>& out) {
  if (j.is_null()) return;
  if (depth > kMaxDepth) fail(file, path, "nests Sequences too deeply");
  const std::string type = type_of(file, j, path);
  if (type == "Sequence") {
    const json& list = member(file, j, path, "normalizers");
    if (!list.is_array()) fail(file, path + ".normalizers", "must be a list");
    for (size_t i = 0; i < list.size(); ++i)
      parse_normalizer(file, list[i], path + ".normalizers[" + std::to_string(i) + "]", depth + 1,
                       out);
  } else if (type == "Prepend") {
    out.push_back({NormalizerStep::kPrepend, req_str(file, j, path, "prepend"), {}});
  } else if (type == "Replace") {
    out.push_back({NormalizerStep::kReplace, req_str(file, j, path, "content"),
                   Pattern::parse(file, member(file, j, path, "pattern"), path + ".pattern")});
  } else {
    fail(file, path + ".type",
         "is \"" + type +
             "\", a normalizer lorascape does not implement (it reads Prepend, Replace and "
             "Sequence: the Llama-2/Mistral and Llama-3/Qwen2 tokenizers)");
  }
}

void parse_pre_tokenizer(const std::string& file, const json& j, const std::string& path, int depth,
                         std::vector<PreTokStep>& out) {
  if (j.is_null()) return;
  if (depth > kMaxDepth) fail(file, path, "nests Sequences too deeply");
  const std::string type = type_of(file, j, path);
  PreTokStep step{};
  if (type == "Sequence") {
    const json& list = member(file, j, path, "pretokenizers");
    if (!list.is_array()) fail(file, path + ".pretokenizers", "must be a list");
    for (size_t i = 0; i < list.size(); ++i)
      parse_pre_tokenizer(file, list[i], path + ".pretokenizers[" + std::to_string(i) + "]",
                          depth + 1, out);
    return;
  } else if (type == "Split") {
    step.kind = PreTokStep::kSplit;
    step.pattern = Pattern::parse(file, member(file, j, path, "pattern"), path + ".pattern");
    const std::string b = req_str(file, j, path, "behavior");
    if (b == "Removed") {
      step.behavior = SplitBehavior::kRemoved;
    } else if (b == "Isolated") {
      step.behavior = SplitBehavior::kIsolated;
    } else if (b == "MergedWithPrevious") {
      step.behavior = SplitBehavior::kMergedWithPrevious;
    } else if (b == "MergedWithNext") {
      step.behavior = SplitBehavior::kMergedWithNext;
    } else if (b == "Contiguous") {
      step.behavior = SplitBehavior::kContiguous;
    } else {
      fail(file, path + ".behavior", "is \"" + b + "\", not a split behaviour");
    }
    step.invert = opt_bool(file, j, path, "invert", false);
  } else if (type == "ByteLevel") {
    step.kind = PreTokStep::kByteLevel;
    step.add_prefix_space = opt_bool(file, j, path, "add_prefix_space", true);
    step.use_pattern = opt_bool(file, j, path, "use_regex", true);
    if (step.use_pattern) {
      static const std::shared_ptr<const Regex> gpt2 =
          std::make_shared<const Regex>(kGpt2Regex, "(built in)", "GPT-2 regex");
      step.pattern.regex = gpt2;
    }
  } else if (type == "Metaspace") {
    step.kind = PreTokStep::kMetaspace;
    step.replacement = req_str(file, j, path, "replacement");
    if (step.replacement.empty()) fail(file, path + ".replacement", "is empty");
    if (auto scheme = opt_str(file, j, path, "prepend_scheme")) {
      step.prepend_scheme = *scheme;
      if (*scheme != "always" && *scheme != "first" && *scheme != "never")
        fail(file, path + ".prepend_scheme", "is \"" + *scheme + "\", not always/first/never");
    } else {
      step.prepend_scheme = opt_bool(file, j, path, "add_prefix_space", true) ? "always" : "never";
    }
    step.split = opt_bool(file, j, path, "split", true);
  } else {
    fail(file, path + ".type",
         "is \"" + type +
             "\", a pre-tokenizer lorascape does not implement (it reads Split, ByteLevel, "
             "Metaspace and Sequence)");
  }
  out.push_back(std::move(step));
}

void parse_decoder(const std::string& file, const json& j, const std::string& path, int depth,
                   std::vector<DecoderStep>& out) {
  if (j.is_null()) return;
  if (depth > kMaxDepth) fail(file, path, "nests Sequences too deeply");
  const std::string type = type_of(file, j, path);
  DecoderStep step{};
  if (type == "Sequence") {
    const json& list = member(file, j, path, "decoders");
    if (!list.is_array()) fail(file, path + ".decoders", "must be a list");
    for (size_t i = 0; i < list.size(); ++i)
      parse_decoder(file, list[i], path + ".decoders[" + std::to_string(i) + "]", depth + 1, out);
    return;
  } else if (type == "ByteLevel") {
    step.kind = DecoderStep::kByteLevel;
  } else if (type == "Replace") {
    step.kind = DecoderStep::kReplace;
    step.pattern = Pattern::parse(file, member(file, j, path, "pattern"), path + ".pattern");
    step.content = req_str(file, j, path, "content");
  } else if (type == "ByteFallback") {
    step.kind = DecoderStep::kByteFallback;
  } else if (type == "Fuse") {
    step.kind = DecoderStep::kFuse;
  } else if (type == "Strip") {
    step.kind = DecoderStep::kStrip;
    step.content = req_str(file, j, path, "content");
    if (step.content.empty() || utf8_char_len(step.content, 0) != step.content.size())
      fail(file, path + ".content", "must be one character");
    step.start = id_of(file, member(file, j, path, "start"), path + ".start");
    step.stop = id_of(file, member(file, j, path, "stop"), path + ".stop");
  } else if (type == "Metaspace") {
    step.kind = DecoderStep::kMetaspace;
    step.content = req_str(file, j, path, "replacement");
    if (step.content.empty()) fail(file, path + ".replacement", "is empty");
    if (auto scheme = opt_str(file, j, path, "prepend_scheme"))
      step.prepend = *scheme != "never";
    else
      step.prepend = opt_bool(file, j, path, "add_prefix_space", true);
  } else {
    fail(file, path + ".type",
         "is \"" + type +
             "\", a decoder lorascape does not implement (it reads ByteLevel, Replace, "
             "ByteFallback, Fuse, Strip, Metaspace and Sequence)");
  }
  out.push_back(std::move(step));
}

// TemplateProcessing / BertProcessing / RobertaProcessing / ByteLevel / Sequence: the ids
// added before and after a single sequence.
void parse_post_processor(const std::string& file, const json& j, const std::string& path,
                          int depth, std::vector<int64_t>& prefix, std::vector<int64_t>& suffix) {
  if (j.is_null()) return;
  if (depth > kMaxDepth) fail(file, path, "nests Sequences too deeply");
  const std::string type = type_of(file, j, path);
  if (type == "ByteLevel") return;  // offsets only
  if (type == "Sequence") {
    const json& list = member(file, j, path, "processors");
    if (!list.is_array()) fail(file, path + ".processors", "must be a list");
    for (size_t i = 0; i < list.size(); ++i)
      parse_post_processor(file, list[i], path + ".processors[" + std::to_string(i) + "]",
                           depth + 1, prefix, suffix);
    return;
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    for (const char* k : {"cls", "sep"}) {
      const json& pair = member(file, j, path, k);
      if (!pair.is_array() || pair.size() != 2) fail(file, path + "." + k, "must be [token, id]");
      const int64_t id = id_of(file, pair[1], path + "." + k + "[1]");
      (std::string(k) == "cls" ? prefix : suffix).push_back(id);
    }
    return;
  }
  if (type != "TemplateProcessing")
    fail(file, path + ".type",
         "is \"" + type +
             "\", a post-processor lorascape does not implement (it reads TemplateProcessing, "
             "ByteLevel, BertProcessing, RobertaProcessing and Sequence)");
  const json& single = member(file, j, path, "single");
  const json& specials = member(file, j, path, "special_tokens");
  if (!single.is_array()) fail(file, path + ".single", "must be a list");
  if (!specials.is_object()) fail(file, path + ".special_tokens", "must be an object");
  bool seen_a = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string p = path + ".single[" + std::to_string(i) + "]";
    const json& item = single[i];
    if (!item.is_object()) fail(file, p, "must be {\"SpecialToken\": …} or {\"Sequence\": …}");
    if (item.contains("Sequence")) {
      seen_a = true;
      continue;
    }
    if (!item.contains("SpecialToken"))
      fail(file, p, "must be {\"SpecialToken\": …} or {\"Sequence\": …}");
    const std::string name = req_str(file, item["SpecialToken"], p + ".SpecialToken", "id");
    const json& entry = member(file, specials, path + ".special_tokens", name.c_str());
    const json& ids = member(file, entry, path + ".special_tokens." + name, "ids");
    if (!ids.is_array()) fail(file, path + ".special_tokens." + name + ".ids", "must be a list");
    for (size_t k = 0; k < ids.size(); ++k)
      (seen_a ? suffix : prefix)
          .push_back(id_of(file, ids[k], path + ".special_tokens." + name + ".ids"));
  }
}

// A token setting of tokenizer_config.json: a string, {"content": …} (AddedToken) or null.
std::optional<std::string> config_token(const std::string& file, const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return req_str(file, *it, key, "content");
  fail(file, key, std::string("must be a string or an AddedToken object, not ") + type_name(*it));
}

std::string read_file(const std::string& path, uint64_t max_bytes, bool required) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (!required) return {};
    throw FormatError(path +
                      ": not found; point at a Hugging Face model folder, or a folder holding "
                      "its tokenizer.json and tokenizer_config.json");
  }
  if (!S_ISREG(st.st_mode)) throw FormatError(path + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    throw FormatError(path + ": " + std::to_string(st.st_size) + " bytes, more than the " +
                      std::to_string(max_bytes >> 20) + " MiB a tokenizer file may have");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FormatError(path + ": cannot be read (check its permissions)");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw FormatError(path + ": read error");
  return s;
}

json parse_json(const std::string& text, const std::string& file) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw FormatError(one_line(file + ": not valid JSON (" + e.what() + ")"));
  }
}

}  // namespace

HfTokenizer HfTokenizer::load(const std::string& dir) {
  const std::string tj = dir + "/tokenizer.json";
  const std::string cj = dir + "/tokenizer_config.json";
  const std::string tok = read_file(tj, kMaxJsonBytes, true);
  const std::string cfg = read_file(cj, kMaxConfigBytes, false);
  return from_json(tok, cfg, tj);
}

HfTokenizer HfTokenizer::from_json(const std::string& tokenizer_json,
                                   const std::string& config_json, const std::string& origin) {
  auto impl = std::make_shared<Impl>();
  Impl& t = *impl;
  t.origin = origin;
  const std::string& file = origin;
  std::string cfg_file = origin;
  {
    const size_t slash = origin.rfind('/');
    cfg_file =
        (slash == std::string::npos ? "" : origin.substr(0, slash + 1)) + "tokenizer_config.json";
  }
  const json root = parse_json(tokenizer_json, file);
  if (!root.is_object()) fail(file, "(top level)", "must be an object");
  const json cfg = config_json.empty() ? json::object() : parse_json(config_json, cfg_file);
  if (!cfg.is_object()) fail(cfg_file, "(top level)", "must be an object");

  // The model.
  const json& model = member(file, root, "(top level)", "model");
  if (!model.is_object()) fail(file, "model", "must be an object");
  const std::string mtype =
      model.contains("type") ? req_str(file, model, "model", "type") : std::string("BPE");
  if (mtype != "BPE")
    fail(file, "model.type",
         "is \"" + mtype +
             "\"; lorascape reads BPE tokenizers only (SentencePiece-style BPE as in "
             "Llama-2/Mistral, byte-level BPE as in Llama-3/Qwen2)");
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0))
    fail(file, "model.dropout", "is set; BPE dropout (random merges) is not supported");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (auto v = opt_str(file, model, "model", k); v && !v->empty())
      fail(file, std::string("model.") + k, "is set; lorascape's BPE does not support it");
  t.byte_fallback = opt_bool(file, model, "model", "byte_fallback", false);
  t.ignore_merges = opt_bool(file, model, "model", "ignore_merges", false);
  t.fuse_unk = opt_bool(file, model, "model", "fuse_unk", false);

  const json& vocab = member(file, model, "model", "vocab");
  if (!vocab.is_object()) fail(file, "model.vocab", "must be an object of token: id");
  if (vocab.size() > static_cast<size_t>(kMaxId)) fail(file, "model.vocab", "is too large");
  int64_t max_id = -1;
  t.vocab.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const int64_t id = id_of(file, it.value(), "model.vocab." + it.key());
    t.vocab[it.key()] = static_cast<int32_t>(id);
    max_id = std::max(max_id, id);
  }
  const json& added = root.contains("added_tokens") ? root["added_tokens"] : json::array();
  if (!added.is_null() && !added.is_array()) fail(file, "added_tokens", "must be a list");
  for (size_t i = 0; added.is_array() && i < added.size(); ++i) {
    const std::string p = "added_tokens[" + std::to_string(i) + "]";
    AddedToken a;
    a.content = req_str(file, added[i], p, "content");
    a.id = id_of(file, member(file, added[i], p, "id"), p + ".id");
    a.special = opt_bool(file, added[i], p, "special", false);
    a.lstrip = opt_bool(file, added[i], p, "lstrip", false);
    a.rstrip = opt_bool(file, added[i], p, "rstrip", false);
    a.single_word = opt_bool(file, added[i], p, "single_word", false);
    opt_bool(file, added[i], p, "normalized", false);  // type-checked; see the header comment
    max_id = std::max(max_id, a.id);
    t.added_tokens.push_back(std::move(a));
  }
  const size_t size = static_cast<size_t>(max_id + 1);
  t.tokens.assign(size, std::string());
  t.present.assign(size, 0);
  t.special.assign(size, 0);
  t.added.assign(size, 0);
  for (const auto& [tok, id] : t.vocab) {
    t.tokens[id] = tok;
    t.present[id] = 1;
  }
  for (size_t i = 0; i < t.added_tokens.size(); ++i) {
    const AddedToken& a = t.added_tokens[i];
    t.tokens[a.id] = a.content;
    t.present[a.id] = 1;
    t.added[a.id] = 1;
    t.special[a.id] = a.special;
    t.added_ids[a.content] = a.id;
    if (!a.content.empty())
      t.added_by_first_byte[static_cast<unsigned char>(a.content[0])].push_back(
          static_cast<int32_t>(i));
  }
  for (auto& list : t.added_by_first_byte)
    std::stable_sort(list.begin(), list.end(), [&](int32_t a, int32_t b) {
      return t.added_tokens[a].content.size() > t.added_tokens[b].content.size();
    });

  if (auto unk = opt_str(file, model, "model", "unk_token")) {
    auto it = t.vocab.find(*unk);
    if (it == t.vocab.end())
      fail(file, "model.unk_token", "is \"" + *unk + "\", which is not in \"model.vocab\"");
    t.unk_id = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    auto it = t.vocab.find(byte_token(static_cast<unsigned char>(b)));
    t.byte_ids[b] = it == t.vocab.end() ? -1 : it->second;
  }

  const json& merges = member(file, model, "model", "merges");
  if (!merges.is_array()) fail(file, "model.merges", "must be a list");
  t.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string p = "model.merges[" + std::to_string(i) + "]";
    std::string a, b;
    if (merges[i].is_string()) {
      const std::string m = merges[i].get<std::string>();
      const size_t sp = m.find(' ');
      if (sp == std::string::npos) fail(file, p, "is \"" + m + "\", not \"left right\"");
      a = m.substr(0, sp);
      b = m.substr(sp + 1);
      if (b.find(' ') != std::string::npos) b = b.substr(0, b.find(' '));
    } else if (merges[i].is_array() && merges[i].size() == 2) {
      a = str_of(file, merges[i][0], p + "[0]");
      b = str_of(file, merges[i][1], p + "[1]");
    } else {
      fail(file, p, "must be \"left right\" or [left, right]");
    }
    auto ia = t.vocab.find(a), ib = t.vocab.find(b), im = t.vocab.find(a + b);
    if (ia == t.vocab.end() || ib == t.vocab.end() || im == t.vocab.end())
      fail(file, p,
           "merges \"" + a + "\" and \"" + b +
               "\", which are not both in \"model.vocab\" "
               "with their merge");
    t.merges.insert_or_assign(Impl::key(ia->second, ib->second),
                              Impl::Merge{static_cast<int32_t>(i), im->second});
  }
  if (merges.size() >= static_cast<size_t>(INT32_MAX)) fail(file, "model.merges", "is too large");

  // The pipeline.
  parse_normalizer(file, root.value("normalizer", json()), "normalizer", 0, t.normalizers);
  parse_pre_tokenizer(file, root.value("pre_tokenizer", json()), "pre_tokenizer", 0,
                      t.pre_tokenizers);
  const json decoder = root.value("decoder", json());
  t.has_decoder = !decoder.is_null();
  parse_decoder(file, decoder, "decoder", 0, t.decoders);
  parse_post_processor(file, root.value("post_processor", json()), "post_processor", 0, t.prefix,
                       t.suffix);
  for (int64_t id : t.prefix)
    if (id >= static_cast<int64_t>(size))
      fail(file, "post_processor", "adds id " + std::to_string(id) + ", beyond the vocabulary");
  for (int64_t id : t.suffix)
    if (id >= static_cast<int64_t>(size))
      fail(file, "post_processor", "adds id " + std::to_string(id) + ", beyond the vocabulary");
  t.byte_level =
      std::any_of(t.pre_tokenizers.begin(), t.pre_tokenizers.end(),
                  [](const PreTokStep& s) { return s.kind == PreTokStep::kByteLevel; }) ||
      std::any_of(t.decoders.begin(), t.decoders.end(),
                  [](const DecoderStep& s) { return s.kind == DecoderStep::kByteLevel; });

  if (t.pre_tokenizers.empty() && !t.ignore_merges) {
    for (const NormalizerStep& n : t.normalizers)
      if (n.kind == NormalizerStep::kReplace && n.pattern.literal == " " && !n.text.empty())
        t.word_start = n.text;
    const std::string& m = t.word_start;
    bool ok = !m.empty() && t.vocab.count(m) > 0;
    for (auto it = t.vocab.begin(); ok && it != t.vocab.end(); ++it) {
      size_t lead = 0;
      while (it->first.compare(lead, m.size(), m) == 0) lead += m.size();
      ok = it->first.find(m, lead) == std::string::npos;
    }
    if (!ok) t.word_start.clear();
  }

  // tokenizer_config.json: the special tokens and whether BOS/EOS are added.
  const auto lookup = [&](const std::optional<std::string>& token) -> int64_t {
    if (!token) return -1;
    if (auto it = t.added_ids.find(*token); it != t.added_ids.end()) return it->second;
    if (auto it = t.vocab.find(*token); it != t.vocab.end()) return it->second;
    return -1;
  };
  t.bos = lookup(config_token(cfg_file, cfg, "bos_token"));
  t.eos = lookup(config_token(cfg_file, cfg, "eos_token"));
  t.pad = lookup(config_token(cfg_file, cfg, "pad_token"));
  if (t.bos < 0 && t.prefix.size() == 1) t.bos = t.prefix[0];
  if (t.eos < 0 && t.suffix.size() == 1) t.eos = t.suffix[0];
  t.clean_up = opt_bool(cfg_file, cfg, "(top level)", "clean_up_tokenization_spaces", true);
  if (auto it = cfg.find("additional_special_tokens"); it != cfg.end() && !it->is_null()) {
    if (!it->is_array()) fail(cfg_file, "additional_special_tokens", "must be a list");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& e = (*it)[i];
      const std::string p = "additional_special_tokens[" + std::to_string(i) + "]";
      const std::string c =
          e.is_object() ? req_str(cfg_file, e, p, "content") : str_of(cfg_file, e, p);
      const int64_t id = lookup(c);
      if (id >= 0) t.special[id] = 1;
    }
  }
  const auto has = [](const std::vector<int64_t>& v, int64_t id) {
    return id >= 0 && std::find(v.begin(), v.end(), id) != v.end();
  };
  t.add_bos = has(t.prefix, t.bos);
  t.add_eos = has(t.suffix, t.eos);
  const bool cfg_bos = cfg.contains("add_bos_token") && !cfg["add_bos_token"].is_null();
  const bool cfg_eos = cfg.contains("add_eos_token") && !cfg["add_eos_token"].is_null();
  if (cfg_bos || cfg_eos) {
    // As transformers' Llama tokenizers: the template becomes [BOS] $A [EOS] by the settings.
    t.add_bos = opt_bool(cfg_file, cfg, "(top level)", "add_bos_token", t.add_bos);
    t.add_eos = opt_bool(cfg_file, cfg, "(top level)", "add_eos_token", t.add_eos);
    if (t.add_bos && t.bos < 0)
      fail(cfg_file, "add_bos_token", "is true but there is no \"bos_token\" in the vocabulary");
    if (t.add_eos && t.eos < 0)
      fail(cfg_file, "add_eos_token", "is true but there is no \"eos_token\" in the vocabulary");
    t.prefix.clear();
    t.suffix.clear();
    if (t.add_bos) t.prefix.push_back(t.bos);
    if (t.add_eos) t.suffix.push_back(t.eos);
  }
  return HfTokenizer(std::move(impl));
}

std::vector<int64_t> HfTokenizer::encode(const std::string& text, bool add_special_tokens) const {
  const Impl& t = *impl_;
  std::vector<int64_t> ids;
  if (add_special_tokens) ids = t.prefix;
  const std::vector<Piece> pieces = t.split_added(text);
  for (size_t k = 0; k < pieces.size(); ++k) {
    const Piece& p = pieces[k];
    if (p.added_id >= 0) {
      ids.push_back(p.added_id);
      continue;
    }
    if (p.text.empty()) continue;
    std::string s = p.text;
    for (const NormalizerStep& n : t.normalizers) {
      if (n.kind == NormalizerStep::kPrepend) {
        if (!s.empty()) s.insert(0, n.text);
      } else {
        s = n.pattern.replace(s, n.text);
      }
    }
    if (s.empty()) continue;
    if (!t.word_start.empty()) {
      const std::string& m = t.word_start;
      size_t begin = 0;
      for (size_t pos = s.find(m, 1); pos != std::string::npos; pos = s.find(m, pos + m.size())) {
        if (pos >= m.size() && s.compare(pos - m.size(), m.size(), m) == 0) continue;  // a run
        t.bpe(s.substr(begin, pos - begin), ids);
        begin = pos;
      }
      t.bpe(s.substr(begin), ids);
      continue;
    }
    for (const std::string& w : t.pre_tokenize(std::move(s), k == 0)) t.bpe(w, ids);
  }
  if (add_special_tokens) ids.insert(ids.end(), t.suffix.begin(), t.suffix.end());
  return ids;
}

std::string HfTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const Impl& t = *impl_;
  std::vector<std::string> toks;
  std::vector<char> is_added;  // added tokens pass the ByteLevel decoder unchanged
  for (int64_t id : ids) {
    if (id < 0 || id >= static_cast<int64_t>(t.tokens.size()) || !t.present[id]) continue;
    if (skip_special_tokens && t.special[id]) continue;
    toks.push_back(t.tokens[id]);
    is_added.push_back(t.added[id]);
  }
  if (!t.has_decoder) {
    std::string out;
    for (size_t i = 0; i < toks.size(); ++i) out += (i ? " " : "") + toks[i];
    return utf8_lossy(out);
  }
  const ByteTable& bt = byte_table();
  for (const DecoderStep& d : t.decoders) {
    std::vector<std::string> next;
    std::vector<char> next_added;
    switch (d.kind) {
      case DecoderStep::kByteLevel: {
        std::string bytes;
        bool pending = false;
        const auto flush = [&] {
          if (pending) next.push_back(utf8_lossy(bytes)), next_added.push_back(0);
          bytes.clear();
          pending = false;
        };
        for (size_t i = 0; i < toks.size(); ++i) {
          if (is_added[i]) {
            flush();
            next.push_back(toks[i]);
            next_added.push_back(1);
            continue;
          }
          pending = true;
          for_each_char(toks[i], [&](std::string_view c) {
            auto it = bt.to_byte.find(std::string(c));
            if (it != bt.to_byte.end())
              bytes += static_cast<char>(it->second);
            else
              bytes.append(c);
          });
        }
        flush();
        break;
      }
      case DecoderStep::kReplace:
        for (size_t i = 0; i < toks.size(); ++i)
          next.push_back(d.pattern.replace(toks[i], d.content)), next_added.push_back(is_added[i]);
        break;
      case DecoderStep::kByteFallback: {
        std::string bytes;
        const auto flush = [&] {
          if (!bytes.empty()) next.push_back(utf8_lossy(bytes)), next_added.push_back(0);
          bytes.clear();
        };
        for (size_t i = 0; i < toks.size(); ++i) {
          const std::string& s = toks[i];
          const auto hex = [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
          };
          if (s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>' && hex(s[3]) &&
              hex(s[4])) {
            bytes += static_cast<char>(std::stoi(s.substr(3, 2), nullptr, 16));
            continue;
          }
          flush();
          next.push_back(s);
          next_added.push_back(is_added[i]);
        }
        flush();
        break;
      }
      case DecoderStep::kFuse: {
        std::string all;
        for (const std::string& s : toks) all += s;
        next.push_back(std::move(all));
        next_added.push_back(0);
        break;
      }
      case DecoderStep::kStrip:
        for (size_t i = 0; i < toks.size(); ++i) {
          std::string s = toks[i];
          const size_t c = d.content.size();
          for (int64_t k = 0; k < d.start && s.compare(0, c, d.content) == 0; ++k) s.erase(0, c);
          for (int64_t k = 0;
               k < d.stop && s.size() >= c && s.compare(s.size() - c, c, d.content) == 0; ++k)
            s.erase(s.size() - c);
          next.push_back(std::move(s));
          next_added.push_back(is_added[i]);
        }
        break;
      case DecoderStep::kMetaspace:
        for (size_t i = 0; i < toks.size(); ++i) {
          std::string s = toks[i];
          replace_all(s, d.content, " ");
          if (d.prepend && i == 0 && !s.empty() && s[0] == ' ') s.erase(0, 1);
          next.push_back(std::move(s));
          next_added.push_back(is_added[i]);
        }
        break;
    }
    toks = std::move(next);
    is_added = std::move(next_added);
  }
  std::string out;
  for (const std::string& s : toks) out += s;
  return utf8_lossy(out);
}

int64_t HfTokenizer::bos_id() const {
  return impl_->bos;
}
int64_t HfTokenizer::eos_id() const {
  return impl_->eos;
}
int64_t HfTokenizer::pad_id() const {
  return impl_->pad;
}
int64_t HfTokenizer::vocab_size() const {
  return static_cast<int64_t>(impl_->tokens.size());
}
std::string HfTokenizer::kind() const {
  return impl_->byte_level ? "byte-level-bpe" : "sentencepiece-bpe";
}
bool HfTokenizer::add_bos() const {
  return impl_->add_bos;
}
bool HfTokenizer::add_eos() const {
  return impl_->add_eos;
}
bool HfTokenizer::clean_up_tokenization_spaces() const {
  return impl_->clean_up;
}

bool HfTokenizer::is_special(int64_t id) const {
  return id >= 0 && id < vocab_size() && impl_->special[id];
}

std::optional<int64_t> HfTokenizer::token_to_id(const std::string& token) const {
  if (auto it = impl_->added_ids.find(token); it != impl_->added_ids.end()) return it->second;
  if (auto it = impl_->vocab.find(token); it != impl_->vocab.end()) return it->second;
  return std::nullopt;
}

std::string HfTokenizer::id_to_token(int64_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return impl_->tokens[id];
}

}  // namespace lorascape::core
