#include "core/hf_model.h"

#include <torch/nn/module.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/run.h"
#include "core/safetensors.h"
#include "core/text_codec.h"
#include "store/error.h"

namespace lorascape::core {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json read_json(const std::string& path) {
  // A folder under the file's name failed inside the stream without naming the file.
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec))
    throw FormatError(path + ": not a regular file (a model folder holds config.json)");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FormatError(path + ": cannot open (check the path and permissions)");
  std::string text;
  try {
    text.assign(std::istreambuf_iterator<char>(f), {});
  } catch (const std::ios_base::failure& e) {
    throw FormatError(path + ": cannot be read (" + e.what() + ")");
  }
  if (text.size() > 64u << 20)
    throw FormatError(path + ": " + std::to_string(text.size()) +
                      " bytes, too large for a model's JSON file");
  bool too_deep = false;
  json j;
  try {
    // Nesting is bounded here, so that nothing later recurses deeply through a hostile file.
    j = json::parse(text, [&too_deep](int depth, json::parse_event_t, json&) {
      too_deep = too_deep || depth > 64;
      return !too_deep;
    });
  } catch (const json::exception& e) {
    throw FormatError(path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  if (too_deep) throw FormatError(path + ": not valid JSON (nested deeper than 64 levels)");
  return j;
}

// Typed access to config.json's fields; each error names the file and the field.
struct Fields {
  const json& j;
  const std::string& origin;

  bool has(const char* key) const { return j.contains(key) && !j.at(key).is_null(); }
  [[noreturn]] void bad(const char* key, const std::string& what) const {
    throw FormatError(origin + ": field \"" + key + "\" " + what);
  }
  int64_t integer(const char* key) const {
    if (!has(key)) bad(key, "is missing (every Llama-family config.json has it)");
    const json& v = j.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < 1)
      bad(key, "must be a positive integer, got " + v.dump());
    return v.get<int64_t>();
  }
  int64_t integer(const char* key, int64_t fallback) const {
    return has(key) ? integer(key) : fallback;
  }
  double number(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    const json& v = j.at(key);
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0)
      bad(key, "must be a positive number, got " + v.dump());
    return v.get<double>();
  }
  bool boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j.at(key).is_boolean()) bad(key, "must be true or false, got " + j.at(key).dump());
    return j.at(key).get<bool>();
  }
  std::string string(const char* key) const {
    if (!has(key)) return "";
    if (!j.at(key).is_string()) bad(key, "must be a string, got " + j.at(key).dump());
    return j.at(key).get<std::string>();
  }
};

const std::map<std::string, std::string> kArchitectures = {{"llama", "LlamaForCausalLM"},
                                                           {"mistral", "MistralForCausalLM"},
                                                           {"qwen2", "Qwen2ForCausalLM"}};

RopeScaling rope_scaling(const json& r, const std::string& origin) {
  RopeScaling out;
  if (r.is_null()) return out;
  if (!r.is_object())
    throw FormatError(origin + ": field \"rope_scaling\" must be an object or null, got " +
                      r.dump());
  const Fields f{r, origin};
  // transformers reads "rope_type", and the older "type" where it is absent.
  std::string type = f.string("rope_type");
  if (type.empty()) type = f.string("type");
  if (type.empty() || type == "default") return out;
  if (type == "linear") {
    out.type = RopeScaling::Type::Linear;
    if (!f.has("factor")) f.bad("factor", "is missing (rope_scaling linear needs it)");
    out.factor = f.number("factor", 1.0);
    return out;
  }
  if (type == "llama3") {
    out.type = RopeScaling::Type::Llama3;
    for (const char* k :
         {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
      if (!f.has(k))
        throw FormatError(origin + ": field \"rope_scaling." + k +
                          "\" is missing (rope_scaling llama3 needs it)");
    out.factor = f.number("factor", 1.0);
    out.low_freq_factor = f.number("low_freq_factor", 1.0);
    out.high_freq_factor = f.number("high_freq_factor", 4.0);
    out.original_max_positions = f.integer("original_max_position_embeddings");
    if (out.high_freq_factor <= out.low_freq_factor)
      throw FormatError(origin + ": rope_scaling llama3 needs high_freq_factor > low_freq_factor");
    return out;
  }
  throw ConfigError(origin + ": field \"rope_scaling.rope_type\" is \"" + type +
                    "\", which lorascape does not compute (supported: default, linear, llama3)");
}

}  // namespace

bool is_hf_model_dir(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::exists(fs::path(path) / "config.json", ec);
}

ModelConfig hf_model_config(const json& j, const std::string& origin) {
  if (!j.is_object()) throw FormatError(origin + ": not a JSON object (a model's config.json?)");
  const Fields f{j, origin};
  const std::string type = f.string("model_type");
  if (type.empty())
    throw FormatError(origin + ": field \"model_type\" is missing (llama, mistral or qwen2)");
  const auto arch = kArchitectures.find(type);
  if (arch == kArchitectures.end())
    throw ConfigError(origin + ": field \"model_type\" is \"" + type +
                      "\", which lorascape does not support (llama, mistral, qwen2)");
  if (f.has("architectures")) {
    const json& a = j.at("architectures");
    if (!a.is_array() || a.size() != 1 || !a[0].is_string() || a[0] != arch->second)
      throw ConfigError(origin + ": field \"architectures\" is " + a.dump() + "; a " + type +
                        " model folder must hold [\"" + arch->second + "\"]");
  }
  if (f.has("quantization_config"))
    throw ConfigError(origin +
                      ": field \"quantization_config\": quantised weights are not supported "
                      "(use the model's float32, bfloat16 or float16 weights)");
  const std::string act = f.string("hidden_act");
  if (!act.empty() && act != "silu")
    throw ConfigError(origin + ": field \"hidden_act\" is \"" + act +
                      "\"; lorascape computes the SwiGLU MLP of silu only");
  for (const char* key : {"attention_dropout", "mlp_dropout"})
    if (f.has(key) && (!j.at(key).is_number() || j.at(key).get<double>() != 0.0))
      throw ConfigError(origin + ": field \"" + key + "\" is " + j.at(key).dump() +
                        "; lorascape computes the models without dropout (set it to 0.0)");
  if (f.has("partial_rotary_factor") && j.at("partial_rotary_factor") != 1.0)
    throw ConfigError(origin + ": field \"partial_rotary_factor\" is " +
                      j.at("partial_rotary_factor").dump() + "; lorascape rotates whole heads");

  ModelConfig c;
  c.tokenizer = "hf";
  c.vocab = f.integer("vocab_size");
  c.d_model = f.integer("hidden_size");
  c.d_ff = f.integer("intermediate_size");
  c.n_layers = f.integer("num_hidden_layers");
  c.n_heads = f.integer("num_attention_heads");
  c.n_kv_heads = f.integer("num_key_value_heads", c.n_heads);
  if (c.n_kv_heads == c.n_heads) c.n_kv_heads = 0;
  const int64_t D = f.integer("head_dim", c.d_model / c.n_heads);
  if (D != c.d_model / c.n_heads || c.d_model % c.n_heads != 0) c.head_dim_override = D;
  c.max_seq = f.integer("max_position_embeddings");
  c.norm_eps = f.number("rms_norm_eps", 1e-6);
  c.rope_theta = f.number("rope_theta", 10000.0);
  if (j.contains("rope_scaling")) c.rope_scaling = rope_scaling(j.at("rope_scaling"), origin);
  c.tie_embeddings = f.boolean("tie_word_embeddings", false);
  if (type == "qwen2") {
    c.qkv_bias = true;  // Qwen2's q, k and v projections always carry a bias, o_proj none
  } else if (type == "llama") {
    c.qkv_bias = c.o_bias = f.boolean("attention_bias", false);
    c.mlp_bias = f.boolean("mlp_bias", false);
  }
  // A sliding window masks keys further back than the window: sequences up to the window are
  // computed exactly, longer ones are refused (max_seq).
  const bool window = type == "mistral" || f.boolean("use_sliding_window", false);
  if (window && f.has("sliding_window")) {
    const int64_t w = f.integer("sliding_window");
    if (w < c.max_seq) c.max_seq = w;
  }
  if (c.n_heads % (c.n_kv_heads > 0 ? c.n_kv_heads : c.n_heads) != 0)
    throw FormatError(origin + ": field \"num_key_value_heads\" (" + std::to_string(c.n_kv_heads) +
                      ") must divide \"num_attention_heads\" (" + std::to_string(c.n_heads) + ")");
  if (D % 2 != 0)
    throw FormatError(origin + ": the head dimension " + std::to_string(D) +
                      " is odd; rotary embeddings need an even one");
  try {
    c.validate();
  } catch (const ConfigError& e) {
    throw FormatError(origin + ": " + e.what());
  }
  return c;
}

ModelConfig hf_model_config(const std::string& dir) {
  const std::string path = (fs::path(dir) / "config.json").string();
  return hf_model_config(read_json(path), path);
}

namespace {
// The weight files of a folder, and for a sharded one the index's tensor -> file map.
struct WeightFiles {
  std::vector<std::string> files;
  std::map<std::string, std::string> weight_map;  // empty for model.safetensors
  std::string index;                              // the index's path, "" without one
};

WeightFiles weight_files(const std::string& dir) {
  const fs::path d(dir);
  if (fs::exists(d / "model.safetensors")) return {{(d / "model.safetensors").string()}, {}, ""};
  const fs::path index = d / "model.safetensors.index.json";
  if (!fs::exists(index)) {
    if (fs::exists(d / "pytorch_model.bin") || fs::exists(d / "pytorch_model.bin.index.json"))
      throw FormatError(dir +
                        ": holds only pytorch_model.bin weights, a pickle that can run code when "
                        "read; convert them to safetensors (e.g. transformers' "
                        "save_pretrained(..., safe_serialization=True))");
    throw FormatError(dir +
                      ": no model.safetensors or model.safetensors.index.json (a Hugging Face "
                      "model folder holds its weights in one of them)");
  }
  const json j = read_json(index.string());
  if (!j.is_object() || !j.contains("weight_map") || !j.at("weight_map").is_object())
    throw FormatError(index.string() + ": field \"weight_map\" is missing or not an object");
  WeightFiles out;
  out.index = index.string();
  std::set<std::string> seen;
  for (const auto& [name, file] : j.at("weight_map").items()) {
    if (!file.is_string())
      throw FormatError(index.string() + ": weight_map entry \"" + name +
                        "\" must name a file, got " + file.dump());
    const std::string f = file.get<std::string>();
    if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
      throw FormatError(index.string() + ": weight_map entry \"" + name + "\" names \"" + f +
                        "\", not a file of the folder");
    out.weight_map[name] = f;
    if (!seen.insert(f).second) continue;
    if (!fs::exists(d / f))
      throw FormatError(index.string() + ": shard \"" + f + "\" (holding \"" + name +
                        "\") is missing from " + dir);
    out.files.push_back((d / f).string());
  }
  if (out.files.empty()) throw FormatError(index.string() + ": weight_map lists no tensors");
  return out;
}
}  // namespace

std::vector<std::string> hf_weight_files(const std::string& dir) {
  return weight_files(dir).files;
}

Transformer load_hf_model(const std::string& dir) {
  const ModelConfig cfg = hf_model_config(dir);
  const WeightFiles weights = weight_files(dir);
  const std::vector<std::string>& files = weights.files;
  // Nothing is allocated for a config.json whose sizes the files cannot hold (2 bytes per
  // parameter at the least): a few-KB file cannot make lorascape reserve terabytes.
  double bytes = 0;
  for (const auto& f : files) bytes += static_cast<double>(fs::file_size(f));
  if (2.0 * static_cast<double>(cfg.parameter_count()) > bytes)
    throw FormatError(dir + "/config.json: its sizes imply " +
                      std::to_string(cfg.parameter_count()) + " parameters, but the weight files " +
                      "hold only " + std::to_string(static_cast<int64_t>(bytes)) +
                      " bytes (config.json of another model?)");
  // name -> (tensor, file); the index, where there is one, must agree with the files.
  std::map<std::string, std::pair<at::Tensor, std::string>> found;
  for (const auto& file : files)
    for (auto& [name, t] : map_safetensors(file).tensors) {
      if (found.count(name))
        throw FormatError(file + ": tensor \"" + name + "\" is also in " + found.at(name).second);
      found.emplace(name, std::make_pair(t, file));
    }
  for (const auto& [name, file] : weights.weight_map) {  // the index agrees with the shards
    const auto it = found.find(name);
    if (it == found.end() || fs::path(it->second.second).filename() != file)
      throw FormatError(weights.index + ": tensor \"" + name + "\" is not in " + file +
                        " (index and shards disagree)");
  }

  Transformer model(cfg, /*random_init=*/false);
  torch::NoGradGuard ng;
  auto params = model->base_parameters();
  const at::Tensor* embed = nullptr;
  if (auto it = found.find("model.embed_tokens.weight"); it != found.end())
    embed = &it->second.first;
  std::set<std::string> used;
  for (auto& [name, p] : params) {
    const auto it = found.find(name);
    if (it == found.end())
      throw FormatError(dir + ": tensor \"" + name +
                        "\" is missing from the weight files (config.json implies it)");
    const at::Tensor& t = it->second.first;
    const std::string& file = it->second.second;
    const at::ScalarType type = t.scalar_type();
    if (type != at::kFloat && type != at::kBFloat16 && type != at::kHalf)
      throw FormatError(file + ": tensor \"" + name + "\" has dtype " +
                        std::string(c10::toString(type)) +
                        "; model weights must be float32, bfloat16 or float16");
    if (t.sizes() != p.sizes())
      throw FormatError(file + ": tensor \"" + name + "\" has shape " + c10::str(t.sizes()) +
                        ", config.json implies " + c10::str(p.sizes()));
    if (!at::isfinite(t).all().item<bool>())
      throw FormatError(file + ": tensor \"" + name +
                        "\" holds NaN or infinite values (a diverged or damaged checkpoint)");
    p.set_data(embed && type != embed->scalar_type() ? t.to(embed->scalar_type()) : t);
    used.insert(name);
  }
  for (const auto& [name, entry] : found) {
    if (used.count(name)) continue;
    // Tied heads may still be stored; older checkpoints store the rotary tables.
    if (name == "lm_head.weight" && cfg.tie_embeddings) continue;
    if (name.size() > 9 && name.compare(name.size() - 9, 9, ".inv_freq") == 0) continue;
    throw FormatError(entry.second + ": unexpected tensor \"" + name + "\" (not part of a " +
                      std::string("Llama-family model of this config.json)"));
  }
  // The folder's tokenizer tokenises tasks and generations; without one, codec() says so.
  if (fs::exists(fs::path(dir) / "tokenizer.json")) model->set_codec(make_hf_codec(dir));
  model->eval();
  return model;
}

namespace {
// GPT-2's byte-level alphabet: printable bytes stand for themselves, the others for the code
// points from 256 up, in byte order (what the ByteLevel pre-tokenizer and decoder use).
std::string byte_symbol(int b) {
  int cp = b;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    int n = 0;
    for (int x = 0; x < b; ++x)
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++n;
    cp = 256 + n;
  }
  std::string out;  // UTF-8 of cp (< 0x800)
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

void write_text(const std::string& path, const std::string& text) {
  write_text_atomic(path, text);  // temporary file + rename: a failed write leaves the old file
}
}  // namespace

void export_hf_model(TransformerImpl& model, const std::string& dir) {
  const ModelConfig& m = model.config();
  if (m.tokenizer != "bytes")
    throw ConfigError("export-hf writes lorascape's own byte-tokenizer models; " + dir +
                      " would get a model that already came from a model folder");
  if (model.has_lora())
    throw ConfigError(
        "export-hf writes a base model; the LoRA factors go out with "
        "export-adapter");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir, ec))
    throw DataError(dir + ": cannot create the folder (check the path and permissions)");
  json config = {{"architectures", {"LlamaForCausalLM"}},
                 {"model_type", "llama"},
                 {"vocab_size", m.vocab},
                 {"hidden_size", m.d_model},
                 {"intermediate_size", m.d_ff},
                 {"num_hidden_layers", m.n_layers},
                 {"num_attention_heads", m.n_heads},
                 {"num_key_value_heads", m.kv_heads()},
                 {"head_dim", m.head_dim()},
                 {"max_position_embeddings", m.max_seq},
                 {"rms_norm_eps", m.norm_eps},
                 {"rope_theta", m.rope_theta},
                 {"rope_scaling", nullptr},
                 {"hidden_act", "silu"},
                 {"attention_bias", false},
                 {"mlp_bias", false},
                 {"attention_dropout", 0.0},
                 {"tie_word_embeddings", false},
                 {"bos_token_id", 256},
                 {"eos_token_id", 257},
                 {"pad_token_id", 258},
                 {"torch_dtype", "float32"}};
  NamedTensors tensors;
  for (auto& [name, p] : model.base_parameters())
    tensors.emplace_back(name, p.detach().to(at::kCPU, at::kFloat).contiguous());
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_symbol(b)] = b;
  const char* specials[] = {"<bos>", "<eos>", "<pad>", "<sep>"};
  json added = json::array();
  for (int i = 0; i < 4; ++i) {
    vocab[specials[i]] = 256 + i;
    added.push_back({{"id", 256 + i},
                     {"content", specials[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  const json tokenizer = {{"version", "1.0"},
                          {"truncation", nullptr},
                          {"padding", nullptr},
                          {"added_tokens", added},
                          {"normalizer", nullptr},
                          {"pre_tokenizer",
                           {{"type", "ByteLevel"},
                            {"add_prefix_space", false},
                            {"trim_offsets", false},
                            {"use_regex", false}}},
                          {"post_processor", nullptr},
                          {"decoder",
                           {{"type", "ByteLevel"},
                            {"add_prefix_space", false},
                            {"trim_offsets", false},
                            {"use_regex", false}}},
                          {"model",
                           {{"type", "BPE"},
                            {"dropout", nullptr},
                            {"unk_token", nullptr},
                            {"continuing_subword_prefix", nullptr},
                            {"end_of_word_suffix", nullptr},
                            {"fuse_unk", false},
                            {"byte_fallback", false},
                            {"ignore_merges", false},
                            {"vocab", vocab},
                            {"merges", json::array()}}}};
  const json tokenizer_config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                                 {"bos_token", "<bos>"},
                                 {"eos_token", "<eos>"},
                                 {"pad_token", "<pad>"},
                                 {"add_bos_token", false},
                                 {"add_eos_token", false},
                                 {"model_max_length", m.max_seq}};
  write_text((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
  write_text((fs::path(dir) / "tokenizer.json").string(), tokenizer.dump(2) + "\n");
  write_text((fs::path(dir) / "tokenizer_config.json").string(), tokenizer_config.dump(2) + "\n");
}

std::string hf_model_digest(const std::string& dir) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](const std::string& bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ULL;
    }
  };
  auto head = [](const std::string& path) {  // the 8-byte length and the JSON header
    std::ifstream f(path, std::ios::binary);
    std::string len(8, '\0');
    f.read(len.data(), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(len[i]);
    std::string header(std::min<uint64_t>(n, 100'000'000), '\0');
    f.read(header.data(), static_cast<std::streamsize>(header.size()));
    return len + header;
  };
  std::ifstream c((fs::path(dir) / "config.json").string(), std::ios::binary);
  mix(std::string((std::istreambuf_iterator<char>(c)), {}));
  for (const auto& file : hf_weight_files(dir)) {
    mix(fs::path(file).filename().string() + ":" + std::to_string(fs::file_size(file)));
    mix(head(file));
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

}  // namespace lorascape::core
