// Commands on real (Hugging Face) language models and on lorascape's files: tokenize, inspect,
// score, export-hf.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "core/adapter.h"
#include "core/base_model.h"
#include "core/device.h"
#include "core/hf_model.h"
#include "core/hf_tokenizer.h"
#include "core/prompt.h"
#include "core/safetensors.h"
#include "core/text_codec.h"
#include "core/tokenizer.h"
#include "store/error.h"
#include "store/run_file.h"
#include "store/scan_file.h"
#include "store/task_roles.h"

namespace lorascape::cli {

namespace {
// The options of this file's commands, kept alive by the command table.
// --text S | --file F: the texts a command works on.
struct TextOptions {
  std::string text, file;
  CLI::Option *text_opt = nullptr, *file_opt = nullptr;
  void add(CLI::App* app, const std::string& what) {
    text_opt = app->add_option("--text,-t", text, "one text to " + what);
    file_opt = app->add_option("--file,-f", file,
                               "a file of texts, one JSON string per line (blank lines are "
                               "skipped); one output line per text, in order");
    text_opt->excludes(file_opt);
  }
  std::vector<std::string> texts(const std::string& what) const;
};

struct ModelState {
  std::string tok_dir;
  TextOptions tok_texts;
  bool tok_special = false;
  std::string inspect_path;
  std::string export_base, export_out;
  std::string score_model, score_adapter, score_device = "cpu", score_dtype = "auto";
  TextOptions score_texts;
  bool score_json = false;
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

std::vector<std::string> TextOptions::texts(const std::string& what) const {
  if (text_opt->count() == 0 && file_opt->count() == 0)
    throw ConfigError("give the text to " + what + ": --text S or --file F");
  return file.empty() ? std::vector<std::string>{text} : read_text_lines(file);
}

int run_tokenize(const ModelState& s) {
  const std::vector<std::string> texts = s.tok_texts.texts("tokenize");
  const core::HfTokenizer tok = core::HfTokenizer::load(s.tok_dir);
  for (const std::string& t : texts) {
    const std::string line = nlohmann::json(tok.encode(t, s.tok_special)).dump();
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
  }
  return 0;
}
std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

std::string human_count(double n) {
  char buf[32];
  if (n >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  else if (n >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2f M", n / 1e6);
  else if (n >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1f k", n / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", n);
  return buf;
}

// The architecture of a model config, as lines "  key: value".
void print_model(const core::ModelConfig& m) {
  std::printf(
      "  layers %lld, hidden %lld, heads %lld (key/value heads %lld, head dim %lld), "
      "MLP %lld, vocabulary %lld, max sequence %lld\n",
      static_cast<long long>(m.n_layers), static_cast<long long>(m.d_model),
      static_cast<long long>(m.n_heads), static_cast<long long>(m.kv_heads()),
      static_cast<long long>(m.head_dim()), static_cast<long long>(m.d_ff),
      static_cast<long long>(m.vocab), static_cast<long long>(m.max_seq));
  std::vector<std::string> features;
  if (m.qkv_bias) features.push_back("q/k/v biases");
  if (m.o_bias) features.push_back("o_proj bias");
  if (m.mlp_bias) features.push_back("MLP biases");
  if (m.tie_embeddings) features.push_back("tied embeddings");
  if (m.rope_scaling.type != core::RopeScaling::Type::None)
    features.push_back(std::string("rope scaling ") + core::RopeScaling::name(m.rope_scaling.type) +
                       " x" + std::to_string(m.rope_scaling.factor));
  std::printf("  rope theta %g, RMSNorm eps %g%s%s\n", m.rope_theta, m.norm_eps,
              features.empty() ? "" : ", ", join(features).c_str());
  std::printf("  parameters: %s (%lld)\n", human_count(double(m.parameter_count())).c_str(),
              static_cast<long long>(m.parameter_count()));
}

void inspect_hf_model(const std::string& dir) {
  const core::ModelConfig m = core::hf_model_config(dir);
  std::ifstream in(dir + "/config.json");
  const auto j = nlohmann::json::parse(in, nullptr, false);
  std::printf("%s: Hugging Face model folder, %s (model_type %s)\n", dir.c_str(),
              j.value("architectures", nlohmann::json::array({"?"}))[0].get<std::string>().c_str(),
              j.value("model_type", std::string("?")).c_str());
  print_model(m);
  // Weights: dtypes and sizes from the files' headers (mapped, not read).
  std::map<std::string, int64_t> dtypes;
  double bytes = 0;
  const auto files = core::hf_weight_files(dir);
  for (const auto& f : files)
    for (const auto& [name, t] : core::map_safetensors(f).tensors) {
      dtypes[std::string(c10::toString(t.scalar_type()))] += t.numel();
      bytes += static_cast<double>(t.numel() * static_cast<int64_t>(t.element_size()));
    }
  std::vector<std::string> d;
  for (const auto& [type, n] : dtypes) d.push_back(type + " " + human_count(double(n)));
  std::printf("  weights: %zu file%s, %.2f GB, %s\n", files.size(), files.size() == 1 ? "" : "s",
              bytes / 1e9, join(d).c_str());
  if (!std::ifstream(dir + "/tokenizer.json")) {
    std::printf("  tokenizer: none (no tokenizer.json)\n");
    return;
  }
  const core::HfTokenizer tok = core::HfTokenizer::load(dir);
  std::printf("  tokenizer: %s, %lld tokens, BOS %lld, EOS %lld%s\n", tok.kind().c_str(),
              static_cast<long long>(tok.vocab_size()), static_cast<long long>(tok.bos_id()),
              static_cast<long long>(tok.eos_id()), tok.add_bos() ? ", adds BOS" : "");
}

void inspect_adapter(const std::string& path) {
  const core::PeftAdapter a = core::load_peft_adapter(path);
  if (core::is_prompt_adapter(a.adapter)) {
    for (const auto& [name, t] : a.adapter.entries())
      std::printf("%s: soft prompt (%s), %s (%lld, %lld)\n", path.c_str(),
                  name == core::kPromptEmbeddings ? "PEFT prompt tuning" : "lorascape L2P pool",
                  name.c_str(), static_cast<long long>(t.size(0)),
                  static_cast<long long>(t.size(1)));
    return;
  }
  std::printf(
      "%s: LoRA adapter (PEFT layout), rank %lld, alpha %g (scale %g), %zu tensors, %s "
      "parameters\n",
      path.c_str(), static_cast<long long>(a.lora.rank), a.lora.alpha, a.lora.scale(),
      a.adapter.size(), human_count(double(a.adapter.numel())).c_str());
  const core::LoraConfig& l = a.lora;
  std::printf("  targets: %s\n", l.target_regex.empty() ? join(l.targets).c_str()
                                                        : ("regex " + l.target_regex).c_str());
  if (!l.exclude.empty() || !l.exclude_regex.empty())
    std::printf("  excluded: %s\n",
                l.exclude_regex.empty() ? join(l.exclude).c_str() : l.exclude_regex.c_str());
  if (!l.layers.empty()) {
    std::vector<std::string> layers;
    for (int64_t i : l.layers) layers.push_back(std::to_string(i));
    std::printf("  layers: %s\n", join(layers).c_str());
  }
  if (l.rslora) std::printf("  rsLoRA: scale alpha/sqrt(r)\n");
  if (!l.rank_pattern.empty() || !l.alpha_pattern.empty()) {
    // Each module's rank and scale as the patterns give them, one line per distinct pair.
    std::map<std::pair<int64_t, double>, std::vector<std::string>> by;
    for (const auto& [name, t] : a.adapter.entries()) {
      const size_t at = name.find(".lora_A.");
      if (at == std::string::npos) continue;
      const std::string m = name.substr(0, at);
      by[{l.rank_of(m), l.scale_of(m)}].push_back(m);
    }
    for (const auto& [rs, mods] : by)
      std::printf("  rank %lld, scale %g: %zu modules (e.g. %s)\n",
                  static_cast<long long>(rs.first), rs.second, mods.size(), mods.front().c_str());
  }
  if (a.extra.contains("base_model"))
    std::printf("  base model: %s\n", a.extra.value("base_model", std::string()).c_str());
}

void inspect_run(const std::string& path) {
  const store::RunFileData r = store::read_run_file(path, store::TensorSelection::none());
  std::printf("%s: lorascape run file (format %d, written by %s on %s)\n", path.c_str(),
              r.format_version, r.software_version.c_str(), r.created.c_str());
  std::printf("  base model: %s\n  tasks (%zu): %s\n  LoRA: rank %lld, alpha %g, targets %s\n",
              r.base_model.c_str(), r.tasks.size(), join(r.tasks).c_str(),
              static_cast<long long>(r.lora_rank), r.lora_alpha, join(r.lora_targets).c_str());
  if (!r.lora_config.empty())
    std::printf("  LoRA per module (PEFT fields, format version 2): %s\n", r.lora_config.c_str());
  for (const auto& m : r.methods) {
    std::vector<std::string> learners;
    if (!m.stages.empty())
      for (const auto& [key, a] : m.stages.front().adapters) learners.push_back(key);
    std::printf("  method %s: %zu stage%s, %zu snapshot%s, adapters %s (reported: %s)\n",
                m.name.c_str(), m.stages.size(), m.stages.size() == 1 ? "" : "s",
                m.snapshots.size(), m.snapshots.size() == 1 ? "" : "s", join(learners).c_str(),
                m.reported.c_str());
  }
}

void inspect_scan(const std::string& path) {
  const store::ScanData d = store::read_scan_file(path);
  std::vector<std::string> shape;
  for (int64_t n : d.spec.grid_shape()) shape.push_back(std::to_string(n));
  int64_t done = 0;
  for (auto v : d.done) done += v != 0;
  std::printf("%s: lorascape scan file, %s, grid %s (%lld points, %lld done)\n", path.c_str(),
              d.spec.kind.c_str(), join(shape, "x").c_str(), static_cast<long long>(d.num_points()),
              static_cast<long long>(done));
  std::printf("  task sets: %s\n  scores: %s\n", join(d.spec.tasks).c_str(),
              join(d.spec.scores).c_str());
  // Task roles and the union's members (docs/hdf5-schema.md 16.1), where the file has them.
  if (d.text.count("roles")) {
    const std::vector<std::string> roles = store::split_lines(d.text.at("roles"));
    std::vector<std::string> parts;
    for (size_t t = 0; t < roles.size() && t < d.spec.tasks.size(); ++t)
      if (roles[t] != store::kRoleUnion)
        parts.push_back(d.spec.tasks[t] + " " + store::role_caption(roles[t]));
    std::printf("  roles: %s\n", join(parts).c_str());
  }
  if (d.text.count("union"))
    std::printf("  union of: %s\n", join(store::split_lines(d.text.at("union"))).c_str());
  // References are stored relative to the scan file's folder (16.2).
  for (const char* key : {"from", "to", "space"})
    if (d.text.count(key)) std::printf("  %s: %s\n", key, d.text.at(key).c_str());
}

void inspect_base_file(const std::string& path) {
  const core::SafetensorsData st = core::map_safetensors(path);
  const auto it = st.metadata.find("model_config");
  if (it == st.metadata.end())
    throw FormatError(path +
                      ": a safetensors file without lorascape's model_config (inspect takes a "
                      "model or adapter folder, a lorascape base model, a run or a scan file)");
  const auto m = core::ModelConfig::from_json(nlohmann::json::parse(it->second));
  std::printf("%s: lorascape base model (byte tokenizer)\n", path.c_str());
  print_model(m);
}

int run_inspect(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec))
    throw ConfigError(path +
                      ": no such file or folder (inspect takes a model or adapter folder, "
                      "a .safetensors base model, a run or a scan file)");
  if (fs::is_directory(path, ec)) {
    if (core::is_hf_model_dir(path)) {
      inspect_hf_model(path);
    } else if (fs::exists(fs::path(path) / "adapter_config.json", ec)) {
      inspect_adapter(path);
    } else if (fs::exists(fs::path(path) / "tokenizer.json", ec)) {
      const core::HfTokenizer tok = core::HfTokenizer::load(path);
      std::printf("%s: tokenizer folder, %s, %lld tokens\n", path.c_str(), tok.kind().c_str(),
                  static_cast<long long>(tok.vocab_size()));
    } else {
      throw FormatError(path +
                        ": a folder with neither config.json (a model), adapter_config.json (an "
                        "adapter) nor tokenizer.json");
    }
    return 0;
  }
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".safetensors") {
    inspect_base_file(path);
    return 0;
  }
  const std::string format = store::read_file_format(path);
  if (format == "lorascape-run")
    inspect_run(path);
  else if (format == "lorascape-scan")
    inspect_scan(path);
  else
    throw FormatError(path + ": an HDF5 file of format \"" + format +
                      "\", neither a lorascape run nor a scan file");
  return 0;
}
// `score`: each text's tokens as the model sees them — a model folder's tokenizer with its
// special tokens (what transformers' model(ids, labels=ids) scores), or lorascape's byte
// tokenizer as [BOS] text [EOS] — and the log-probability of every token after the first.
int run_score(const ModelState& s) {
  const std::vector<std::string> texts = s.score_texts.texts("score");
  core::set_threads(0);
  core::Transformer m =
      model_with_adapter(s.score_adapter, s.score_model, core::resolve_device(s.score_device));
  if (s.score_dtype == "float32" || s.score_dtype == "bfloat16")
    m->to(s.score_dtype == "float32" ? at::kFloat : at::kBFloat16);
  else if (s.score_dtype != "auto")
    throw ConfigError("`dtype` must be auto (as stored), float32 or bfloat16 (got '" +
                      s.score_dtype + "')");
  m->eval();
  // The model's own tokenizer, loaded with it: a folder's tokenizer.json, or the bytes (codec()
  // says in one line when a folder has no tokenizer.json).
  const auto* hf = dynamic_cast<const core::HfCodec*>(&m->codec());
  torch::NoGradGuard ng;
  const auto device = m->output_weight().device();
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int64_t> ids;
    if (hf) {
      ids = hf->tokenizer().encode(texts[i], true);
    } else {
      ids = core::encode_bytes(texts[i]);
      ids.insert(ids.begin(), core::tok::kBos);
      ids.push_back(core::tok::kEos);
    }
    if (ids.size() < 2)
      throw DataError("text " + std::to_string(i + 1) + " is " + std::to_string(ids.size()) +
                      " token long; scoring needs at least two (the first is only context)");
    const auto n = static_cast<int64_t>(ids.size());
    const at::Tensor input = at::tensor(ids, at::kLong).view({1, n}).to(device);
    const at::Tensor logp =
        m->forward(input).to(at::kCPU, at::kDouble).log_softmax(-1)[0];  // (n, V)
    std::vector<double> lp(static_cast<size_t>(n - 1));
    double sum = 0;
    for (int64_t t = 1; t < n; ++t) {
      lp[static_cast<size_t>(t - 1)] = logp[t - 1][ids[static_cast<size_t>(t)]].item<double>();
      sum -= lp[static_cast<size_t>(t - 1)];
    }
    const double loss = sum / static_cast<double>(n - 1);
    std::string line;
    if (s.score_json) {
      nlohmann::json tokens = nlohmann::json::array();
      tokens.push_back({{"id", ids[0]}, {"logprob", nullptr}});
      for (int64_t t = 1; t < n; ++t)
        tokens.push_back(
            {{"id", ids[static_cast<size_t>(t)]}, {"logprob", lp[static_cast<size_t>(t - 1)]}});
      line = nlohmann::json{{"loss", loss}, {"scored", n - 1}, {"tokens", tokens}}.dump();
    } else {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.9g", loss);
      line = buf;
    }
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
  }
  return 0;
}

int run_export_hf(const ModelState& s) {
  core::Transformer m = core::load_base_model(s.export_base);
  core::export_hf_model(*m, s.export_out);
  std::printf(
      "wrote %s (config.json, model.safetensors, tokenizer.json: a Hugging Face "
      "LlamaForCausalLM folder)\n",
      s.export_out.c_str());
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
  s->tok_texts.add(tokenize, "tokenize");
  tokenize->add_flag("--special", s->tok_special,
                     "add the special tokens (BOS/EOS) the tokenizer adds to every sequence "
                     "(tokenizer_config.json's add_bos_token/add_eos_token, else its template)");
  tokenize->footer(
      "Texts are tokenized as the Hugging Face `tokenizers` library does (added tokens such as "
      "<s> or <|eot_id|> in the text become their ids). Example:\n"
      "  lorascape tokenize ~/models/TinyLlama --text 'Hello world' --special");
  auto* inspect = app.add_subcommand(
      "inspect",
      "what a file or folder is: a Hugging Face model folder (architecture, sizes, parameters, "
      "dtypes, tokenizer), an adapter (rank, targets), a base model, a run or a scan file");
  inspect->add_option("path", s->inspect_path, "model or adapter folder, .safetensors, .h5")
      ->required();
  inspect->footer(
      "Reads headers and configuration only, never the weights. Examples:\n"
      "  lorascape inspect ~/models/TinyLlama-1.1B\n  lorascape inspect runs/demo/run.h5");
  table.push_back({inspect, [s] { return run_inspect(s->inspect_path); }});

  auto* score = app.add_subcommand(
      "score",
      "the mean next-token loss of texts under a model (with an adapter): perplexity checks, "
      "and the way to compare lorascape's arithmetic with another implementation");
  score
      ->add_option("model", s->score_model,
                   "a Hugging Face model folder (its tokenizer.json tokenizes) or a lorascape "
                   "base model (.safetensors, byte tokenizer)")
      ->required();
  score->add_option("--adapter,-a", s->score_adapter, "a PEFT adapter folder on the model");
  s->score_texts.add(score, "score");
  score->add_flag("--json", s->score_json,
                  "one JSON object per text: loss, scored tokens, and every token's id and "
                  "log-probability (null for the first, which is only context)");
  score->add_option("--device", s->score_device, "cpu | cuda | auto")->capture_default_str();
  score->add_option("--dtype", s->score_dtype, "auto (as stored) | float32 | bfloat16")
      ->capture_default_str();
  score->footer(
      "A model folder's texts are tokenized with its special tokens (BOS where the tokenizer "
      "adds one), as transformers' model(ids, labels=ids) scores them; a lorascape base model's "
      "as [BOS] text [EOS]. The loss is the mean of -log p(token | tokens before it) over every "
      "token after the first. Example:\n"
      "  lorascape score ~/models/TinyLlama-1.1B --text 'The capital of France is Paris.'");
  table.push_back({score, [s] { return run_score(*s); }});

  auto* exp = app.add_subcommand(
      "export-hf",
      "write a lorascape base model as a Hugging Face model folder (LlamaForCausalLM, "
      "safetensors, a byte-level tokenizer.json) for transformers + peft and for --base");
  exp->add_option("base", s->export_base,
                  "lorascape base model (.safetensors, e.g. from "
                  "`lorascape pretrain --out`)")
      ->required();
  exp->add_option("--out,-o", s->export_out, "the folder to write")->required();
  table.push_back({exp, [s] { return run_export_hf(*s); }});

  table.push_back({tokenize, [s] { return run_tokenize(*s); }});
}

}  // namespace lorascape::cli
