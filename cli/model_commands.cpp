// Commands on real (Hugging Face) language models: tokenize for now; inspect, score and export-hf
// will join it here.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "core/hf_tokenizer.h"
#include "store/error.h"

namespace lorascape::cli {

namespace {
// The options of this file's commands, kept alive by the command table.
struct ModelState {
  std::string tok_dir;
  std::string tok_text;
  std::string tok_file;
  bool tok_special = false;
};

// The texts of --file: one JSON string per line; blank lines are skipped.
std::vector<std::string> read_text_lines(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw DataError(path + ": cannot be read; give a file of one JSON string per line");
  std::vector<std::string> texts;
  std::string line;
  for (size_t n = 1; std::getline(f, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw DataError(path + ":" + std::to_string(n) +
                      ": not JSON; write each text as a JSON string, e.g. \"Hello\\nworld\"");
    }
    if (!j.is_string())
      throw DataError(path + ":" + std::to_string(n) + ": a JSON " + j.type_name() +
                      ", not a string; write each text as a JSON string");
    texts.push_back(j.get<std::string>());
  }
  return texts;
}

int run_tokenize(const ModelState& s) {
  const core::HfTokenizer tok = core::HfTokenizer::load(s.tok_dir);
  std::vector<std::string> texts;
  if (!s.tok_file.empty())
    texts = read_text_lines(s.tok_file);
  else
    texts.push_back(s.tok_text);
  for (const std::string& t : texts) {
    const std::string line = nlohmann::json(tok.encode(t, s.tok_special)).dump();
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
  }
  return 0;
}
}  // namespace

void add_model_commands(CLI::App& app, CommandTable& table) {
  auto s = std::make_shared<ModelState>();
  auto* tokenize = app.add_subcommand(
      "tokenize",
      "token ids of texts by a Hugging Face tokenizer (tokenizer.json + tokenizer_config.json; "
      "BPE: Llama-2/Mistral SentencePiece, Llama-3/Qwen2 byte-level), one JSON array per text");
  tokenize
      ->add_option("dir", s->tok_dir,
                   "a model folder, or a folder holding only tokenizer.json and "
                   "tokenizer_config.json")
      ->required();
  auto* text = tokenize->add_option("--text,-t", s->tok_text, "one text to tokenize");
  auto* file = tokenize->add_option("--file,-f", s->tok_file,
                                    "a file of texts, one JSON string per line (blank lines are "
                                    "skipped); one output line per text, in order");
  text->excludes(file);
  tokenize->add_flag("--special", s->tok_special,
                     "add the special tokens (BOS/EOS) the tokenizer adds to every sequence "
                     "(tokenizer_config.json's add_bos_token/add_eos_token, else its template)");
  tokenize->footer(
      "Texts are tokenized as the Hugging Face `tokenizers` library does (added tokens such as "
      "<s> or <|eot_id|> in the text become their ids). Example:\n"
      "  lorascape tokenize ~/models/TinyLlama --text 'Hello world' --special");
  table.push_back({tokenize, [s, text, file] {
                     if (text->count() == 0 && file->count() == 0)
                       throw ConfigError("give the text to tokenize: --text S or --file F");
                     return run_tokenize(*s);
                   }});
}

}  // namespace lorascape::cli
