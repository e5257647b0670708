#include "core/config.h"

#include <toml++/toml.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/text_codec.h"
#include "store/error.h"

namespace lorascape::core {

namespace {

enum class Kind { Int, Double, Bool, String, StringList };

struct Field {
  std::string key;
  Kind kind;
  void* ptr;
  const char* help;
};

std::vector<Field> fields(RunConfig& c) {
  return {
      {"seed", Kind::Int, &c.seed, "random seed for data, initialisation and shuffling"},
      {"out", Kind::String, &c.out, "output folder of a run"},
      {"base", Kind::String, &c.base,
       "base model .safetensors, or \"auto\" (pretrain once, then cache)"},
      {"device", Kind::String, &c.device, "cpu | cuda | auto"},
      {"threads", Kind::Int, &c.threads,
       "intra-op CPU threads; 0 = auto (the cores other programs leave idle)"},
      {"model.vocab", Kind::Int, &c.model.vocab, "vocabulary size (>= 260: bytes + 4 specials)"},
      {"model.d_model", Kind::Int, &c.model.d_model, "hidden size C"},
      {"model.n_layers", Kind::Int, &c.model.n_layers, "decoder blocks L"},
      {"model.n_heads", Kind::Int, &c.model.n_heads, "attention heads H"},
      {"model.n_kv_heads", Kind::Int, &c.model.n_kv_heads,
       "key/value heads of grouped-query attention (divides n_heads); 0 = n_heads"},
      {"model.d_ff", Kind::Int, &c.model.d_ff, "SwiGLU hidden size F"},
      {"model.max_seq", Kind::Int, &c.model.max_seq, "longest sequence in tokens"},
      {"model.rope_theta", Kind::Double, &c.model.rope_theta, "rotary embedding base"},
      {"model.norm_eps", Kind::Double, &c.model.norm_eps, "RMSNorm epsilon"},
      {"pretrain.steps", Kind::Int, &c.pretrain.steps, "base-model pretraining steps"},
      {"pretrain.batch", Kind::Int, &c.pretrain.batch, "pretraining batch size"},
      {"pretrain.lr", Kind::Double, &c.pretrain.lr, "pretraining peak learning rate"},
      {"pretrain.warmup", Kind::Double, &c.pretrain.warmup,
       "fraction of pretraining steps warming up"},
      {"pretrain.corpus_lines", Kind::Int, &c.pretrain.corpus_lines,
       "lines of generic text generated"},
      {"lora.rank", Kind::Int, &c.lora.rank, "LoRA rank r"},
      {"lora.alpha", Kind::Double, &c.lora.alpha, "LoRA alpha (scale = alpha / r)"},
      {"lora.dropout", Kind::Double, &c.lora.dropout, "dropout on the LoRA input"},
      {"lora.targets", Kind::StringList, &c.lora.targets,
       "projections with LoRA (q_proj k_proj v_proj o_proj gate_proj up_proj down_proj)"},
      {"tasks.source", Kind::String, &c.tasks.source, "\"builtin\" or a TRACE/LLMCL data root"},
      {"tasks.names", Kind::StringList, &c.tasks.names,
       "task order; [] = all tasks of the source (built-in: the eight; a variant only by name)"},
      {"tasks.template", Kind::String, &c.tasks.prompt_template,
       "prompt template, \"{prompt}\" = the example's prompt (e.g. \"Question: "
       "{prompt}\\nAnswer:\"); "
       "the answer follows it"},
      {"tasks.train", Kind::Int, &c.tasks.train, "built-in suite: train examples per task"},
      {"tasks.eval", Kind::Int, &c.tasks.eval, "built-in suite: eval examples per task"},
      {"tasks.test", Kind::Int, &c.tasks.test, "built-in suite: test examples per task"},
      {"train.method", Kind::String, &c.train.method,
       "continual-learning method: seq | one | mtl | er | ewc | agem | gem | olora | ilora | pp | "
       "l2p"},
      {"train.epochs", Kind::Int, &c.train.epochs, "epochs per task (when train.steps = 0)"},
      {"train.steps", Kind::Int, &c.train.steps, "optimiser steps per task; 0 = use epochs"},
      {"train.batch", Kind::Int, &c.train.batch, "batch size"},
      {"train.lr", Kind::Double, &c.train.lr, "peak learning rate (AdamW's or SGD's)"},
      {"train.optimizer", Kind::String, &c.train.optimizer,
       "optimiser of every method: adamw | sgd (plain SGD, GEM's and A-GEM's setting; under "
       "adamw their no-conflict guarantee does not hold)"},
      {"train.momentum", Kind::Double, &c.train.momentum, "SGD momentum (train.optimizer = sgd)"},
      {"train.warmup", Kind::Double, &c.train.warmup,
       "fraction of a task's steps warming up linearly"},
      {"train.schedule", Kind::String, &c.train.schedule,
       "cosine | linear | constant after warm-up"},
      {"train.clip", Kind::Double, &c.train.clip, "gradient-norm clipping; 0 = off"},
      {"train.weight_decay", Kind::Double, &c.train.weight_decay,
       "weight decay (AdamW: decoupled; SGD: L2 added to the gradient)"},
      {"train.snapshot_every", Kind::Int, &c.train.snapshot_every,
       "keep the adapter every N steps in run.h5 (trajectories); 0 = off"},
      {"replay.buffer", Kind::Int, &c.replay.buffer,
       "replay memory (er, agem, ilora): reservoir of past-task examples"},
      {"ewc.lambda", Kind::Double, &c.ewc.lambda,
       "EWC penalty weight: lambda/2 * sum F (theta - theta*)^2"},
      {"ewc.fisher_examples", Kind::Int, &c.ewc.fisher_examples,
       "EWC: training examples of a finished task (seeded choice) the diagonal Fisher is "
       "averaged over, one per-example squared gradient each"},
      {"ewc.fisher", Kind::String, &c.ewc.fisher,
       "EWC Fisher: empirical (gradient of log p(the example's answer | prompt)) | true (of "
       "log p(an answer sampled from the model | prompt))"},
      {"ewc.online", Kind::Bool, &c.ewc.online,
       "online EWC: one penalty, F <- gamma*F_old + F_new, anchor = the latest task's end"},
      {"ewc.gamma", Kind::Double, &c.ewc.gamma, "online EWC: decay gamma of the old Fisher"},
      {"gem.memory", Kind::Int, &c.gem.memory,
       "GEM: episodic memory per finished task, in examples"},
      {"gem.margin", Kind::Double, &c.gem.margin,
       "GEM: memory strength (lower bound of the QP's dual variables; 0 = GEM's projection, 0.5 "
       "= GEM code's memory_strength)"},
      {"olora.lambda1", Kind::Double, &c.olora.lambda1,
       "O-LoRA: orthogonality weight, lambda1 * sum |A_past A_new^T|"},
      {"olora.lambda2", Kind::Double, &c.olora.lambda2,
       "O-LoRA: L2 weight on the new factors, lambda2 * sum ||.||_2"},
      {"ilora.lambda", Kind::Double, &c.ilora.lambda,
       "I-LoRA: slow-learner interpolation, theta_slow <- l*theta_slow + (1-l)*theta_fast, l = "
       "min(1-1/(step+1), lambda)"},
      {"ilora.gamma", Kind::Double, &c.ilora.gamma,
       "I-LoRA: weight of the consistency loss on replay samples"},
      {"ilora.target", Kind::String, &c.ilora.target,
       "I-LoRA: consistency target, slow (the slow learner's states) | max (elementwise max of "
       "fast and slow, as LLMCL)"},
      {"ilora.layers", Kind::String, &c.ilora.layers,
       "I-LoRA: hidden states compared, all (embeddings + every layer) | last"},
      {"ilora.report", Kind::String, &c.ilora.report,
       "I-LoRA: learner reported as the method's model, slow | fast"},
      {"pp.length", Kind::Int, &c.pp.length,
       "Progressive Prompts: soft-prompt tokens per task (all tasks' prompts are prepended)"},
      {"l2p.pool_size", Kind::Int, &c.l2p.pool_size, "L2P: prompts in the pool (M)"},
      {"l2p.length", Kind::Int, &c.l2p.length, "L2P: tokens per prompt (Lp)"},
      {"l2p.top_n", Kind::Int, &c.l2p.top_n,
       "L2P: prompts prepended per example (N), chosen by the cosine of key and query"},
      {"l2p.lambda", Kind::Double, &c.l2p.lambda,
       "L2P: weight of the key-query matching loss, lambda * sum (1 - cos(query, key))"},
      {"eval.split", Kind::String, &c.eval.split, "split evaluated after each task: eval | test"},
      {"eval.max_examples", Kind::Int, &c.eval.max_examples,
       "examples per task evaluated; 0 = all"},
      {"eval.batch", Kind::Int, &c.eval.batch, "evaluation batch size"},
  };
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Int:
      return "integer";
    case Kind::Double:
      return "number";
    case Kind::Bool:
      return "boolean";
    case Kind::String:
      return "string";
    case Kind::StringList:
      return "list of strings";
  }
  return "?";
}

// The shortest decimal that reads back as the same double, as a TOML float ("0.003", "16.0").
std::string shortest_double(double v) {
  char buf[40];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string out = buf;
  if (out.find_first_of(".eEn") == std::string::npos) out += ".0";
  return out;
}

std::string value_toml(const Field& f) {
  std::ostringstream s;
  switch (f.kind) {
    case Kind::Int:
      s << *static_cast<int64_t*>(f.ptr);
      break;
    case Kind::Double:
      s << shortest_double(*static_cast<double*>(f.ptr));
      break;
    case Kind::Bool:
      s << (*static_cast<bool*>(f.ptr) ? "true" : "false");
      break;
    case Kind::String:
      s << toml::value<std::string>(*static_cast<std::string*>(f.ptr));
      break;
    case Kind::StringList: {
      toml::array a;
      for (const auto& x : *static_cast<std::vector<std::string>*>(f.ptr)) a.push_back(x);
      s << a;
      break;
    }
  }
  return s.str();
}

// A key or value quoted in a message, cut to a readable length.
std::string clip(const std::string& s) {
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

// Assigns a TOML node to a field; `where` names the file/override for messages.
void assign(const Field& f, const toml::node& node, const std::string& where) {
  auto bad = [&]() {
    std::ostringstream v;
    node.visit([&](auto&& n) { v << n; });
    throw ConfigError(where + ": key '" + f.key + "' must be a " + kind_name(f.kind) + " (got " +
                      clip(v.str()) + ")");
  };
  switch (f.kind) {
    case Kind::Int:
      if (!node.is_integer()) bad();
      *static_cast<int64_t*>(f.ptr) = node.as_integer()->get();
      break;
    case Kind::Double:
      if (node.is_integer())
        *static_cast<double*>(f.ptr) = static_cast<double>(node.as_integer()->get());
      else if (node.is_floating_point())
        *static_cast<double*>(f.ptr) = node.as_floating_point()->get();
      else
        bad();
      break;
    case Kind::Bool:
      if (!node.is_boolean()) bad();
      *static_cast<bool*>(f.ptr) = node.as_boolean()->get();
      break;
    case Kind::String:
      if (!node.is_string()) bad();
      *static_cast<std::string*>(f.ptr) = node.as_string()->get();
      break;
    case Kind::StringList: {
      if (!node.is_array()) bad();
      std::vector<std::string> out;
      for (const auto& e : *node.as_array()) {
        if (!e.is_string()) bad();
        out.push_back(e.as_string()->get());
      }
      *static_cast<std::vector<std::string>*>(f.ptr) = out;
      break;
    }
  }
}

const Field* find_field(const std::vector<Field>& fs, const std::string& key) {
  for (const auto& f : fs)
    if (f.key == key) return &f;
  return nullptr;
}

std::string known_keys_hint(const std::vector<Field>& fs, const std::string& key) {
  const auto dot = key.find('.');
  const std::string section = dot == std::string::npos ? "" : key.substr(0, dot + 1);
  std::string keys;
  for (const auto& f : fs) {
    const bool same =
        section.empty() ? f.key.find('.') == std::string::npos : f.key.rfind(section, 0) == 0;
    if (same) keys += (keys.empty() ? "" : ", ") + f.key;
  }
  if (keys.empty()) {
    for (const auto& f : fs) {
      const auto d = f.key.find('.');
      const std::string s = d == std::string::npos ? f.key : "[" + f.key.substr(0, d) + "]";
      if (keys.find(s) == std::string::npos) keys += (keys.empty() ? "" : ", ") + s;
    }
  }
  return "known: " + keys + "; see `lorascape config`";
}

void walk(const toml::table& t, const std::string& prefix, const std::vector<Field>& fs,
          const std::string& where) {
  for (auto&& [k, node] : t) {
    const std::string key = prefix + std::string(k.str());
    const Field* f = find_field(fs, key);
    if (f) {
      assign(*f, node, where);
    } else if (node.is_table()) {
      bool any = false;
      for (const auto& x : fs) any = any || x.key.rfind(key + ".", 0) == 0;
      if (!any)
        throw ConfigError(where + ": unknown section [" + key + "] (" + known_keys_hint(fs, key) +
                          ")");
      walk(*node.as_table(), key + ".", fs, where);
    } else {
      throw ConfigError(where + ": unknown key '" + key + "' (" + known_keys_hint(fs, key) + ")");
    }
  }
}

// Limits of the TOML text handed to toml++ (its parser and tables recurse once per dotted key
// part, so a key of 100,000 parts overflowed the stack): the configuration's keys have 2.
constexpr size_t kMaxTomlBytes = 1 << 20;
constexpr int kMaxKeyParts = 16;
constexpr int kMaxBracketDepth = 16;
constexpr int64_t kMaxThreads = 256;
constexpr int64_t kMaxTaskExamples = 1000000;

// Scans TOML text (outside strings and comments) for a dotted key of more than kMaxKeyParts
// parts and arrays/inline tables nested deeper than kMaxBracketDepth; returns what is wrong
// ("LINE: …"), or "" when the text may go to toml++.
std::string toml_shape_error(const std::string& text) {
  if (text.size() > kMaxTomlBytes)
    return std::to_string(text.size()) + " bytes; a configuration is at most " +
           std::to_string(kMaxTomlBytes) + " bytes (is it the right file?)";
  if (text.find('\0') != std::string::npos)
    return "holds NUL bytes, not a TOML text file (is it the right file?)";
  size_t line = 1;
  int dots = 0, depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n' || c == ',' || c == '=' || c == '[' || c == ']' || c == '{' || c == '}')
      dots = 0;  // a dotted key ends
    if (c == '\n') {
      ++line;
    } else if (c == '#') {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool multi = text.compare(i, 3, std::string(3, c)) == 0;
      i += multi ? 3 : 1;
      for (; i < text.size(); ++i) {
        if (text[i] == '\n') ++line;
        if (c == '"' && text[i] == '\\') {
          ++i;
        } else if (text[i] == c && (!multi || text.compare(i, 3, std::string(3, c)) == 0)) {
          if (multi) i += 2;
          break;
        }
      }
    } else if (c == '.') {
      if (++dots >= kMaxKeyParts)
        return std::to_string(line) + ": a key of more than " + std::to_string(kMaxKeyParts) +
               " dotted parts (the configuration's keys have at most 2; see `lorascape config`)";
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxBracketDepth)
        return std::to_string(line) + ": nested deeper than " + std::to_string(kMaxBracketDepth) +
               " levels of [ ] or { } (see `lorascape config` for the keys)";
    } else if (c == ']' || c == '}') {
      depth = depth > 0 ? depth - 1 : 0;
    }
  }
  return "";
}

}  // namespace

void RunConfig::validate() const {
  {
    // Every number finite: inf or NaN trains to NaN adapters (or, for lora.alpha, fails only
    // after the whole training).
    RunConfig copy = *this;
    for (const auto& f : fields(copy))
      if (f.kind == Kind::Double && !std::isfinite(*static_cast<double*>(f.ptr)))
        throw ConfigError("`" + f.key + "` must be a finite number (got " +
                          shortest_double(*static_cast<double*>(f.ptr)) + ")");
  }
  model.validate();
  lora.validate(/*strict=*/true);
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw ConfigError(msg);
  };
  need(device == "cpu" || device == "cuda" || device == "auto",
       "device must be cpu, cuda or auto (got '" + device + "')");
  need(threads >= 0 && threads <= kMaxThreads,
       "`threads` must be in 0.." + std::to_string(kMaxThreads) + " (0 = auto; got " +
           std::to_string(threads) + ")");
  need(pretrain.steps >= 0 && pretrain.batch >= 1 && pretrain.lr > 0,
       "pretrain: steps >= 0, batch >= 1, lr > 0 required");
  need(pretrain.corpus_lines >= 1, "pretrain.corpus_lines must be >= 1");
  check_prompt_template(tasks.prompt_template);
  need(tasks.train >= 1 && tasks.eval >= 1 && tasks.test >= 1,
       "tasks.train/eval/test must be >= 1");
  for (const auto& [key, n] : {std::pair<const char*, int64_t>{"tasks.train", tasks.train},
                               {"tasks.eval", tasks.eval},
                               {"tasks.test", tasks.test}})
    need(n <= kMaxTaskExamples, std::string("`") + key + "` is " + std::to_string(n) +
                                    "; the built-in suite makes at most " +
                                    std::to_string(kMaxTaskExamples) + " examples per task");
  need(train.epochs >= 0 && train.steps >= 0 && (train.epochs > 0 || train.steps > 0),
       "train: set train.epochs or train.steps to a positive number");
  need(train.batch >= 1, "train.batch must be >= 1");
  need(train.lr > 0, "train.lr must be > 0");
  need(train.warmup >= 0 && train.warmup < 1 && pretrain.warmup >= 0 && pretrain.warmup < 1,
       "train.warmup and pretrain.warmup must be in [0, 1)");
  need(train.schedule == "cosine" || train.schedule == "linear" || train.schedule == "constant",
       "train.schedule must be cosine, linear or constant (got '" + train.schedule + "')");
  need(train.clip >= 0 && train.weight_decay >= 0,
       "train.clip and train.weight_decay must be >= 0");
  need(train.snapshot_every >= 0, "train.snapshot_every must be >= 0");
  need(replay.buffer >= 1, "replay.buffer must be >= 1");
  need(train.optimizer == "adamw" || train.optimizer == "sgd",
       "`train.optimizer` must be adamw or sgd (got '" + train.optimizer + "')");
  need(train.momentum >= 0 && train.momentum < 1, "`train.momentum` must be in [0, 1)");
  need(ewc.lambda >= 0 && ewc.fisher_examples >= 1,
       "`ewc.lambda` >= 0 and `ewc.fisher_examples` >= 1 required");
  need(ewc.fisher == "empirical" || ewc.fisher == "true",
       "`ewc.fisher` must be empirical or true (got '" + ewc.fisher + "')");
  need(ewc.gamma >= 0 && ewc.gamma <= 1, "`ewc.gamma` must be in [0, 1]");
  need(gem.memory >= 1 && gem.margin >= 0, "gem.memory >= 1 and gem.margin >= 0 required");
  need(olora.lambda1 >= 0 && olora.lambda2 >= 0, "olora.lambda1 and olora.lambda2 must be >= 0");
  need(ilora.lambda >= 0 && ilora.lambda < 1, "ilora.lambda must be in [0, 1)");
  need(ilora.gamma >= 0, "ilora.gamma must be >= 0");
  need(ilora.target == "max" || ilora.target == "slow",
       "ilora.target must be max or slow (got '" + ilora.target + "')");
  need(ilora.layers == "all" || ilora.layers == "last",
       "ilora.layers must be all or last (got '" + ilora.layers + "')");
  need(ilora.report == "slow" || ilora.report == "fast",
       "ilora.report must be slow or fast (got '" + ilora.report + "')");
  need(pp.length >= 1, "`pp.length` must be >= 1");
  need(l2p.pool_size >= 1 && l2p.length >= 1, "`l2p.pool_size` and `l2p.length` must be >= 1");
  need(l2p.top_n >= 1 && l2p.top_n <= l2p.pool_size,
       "`l2p.top_n` must be in 1..`l2p.pool_size` (" + std::to_string(l2p.pool_size) + ")");
  need(l2p.lambda >= 0, "`l2p.lambda` must be >= 0");
  need(eval.split == "eval" || eval.split == "test",
       "eval.split must be eval or test (got '" + eval.split + "')");
  need(eval.max_examples >= 0 && eval.batch >= 1,
       "eval.max_examples >= 0 and eval.batch >= 1 required");
}

nlohmann::json RunConfig::to_json() const {
  RunConfig copy = *this;
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : fields(copy)) {
    nlohmann::json v;
    switch (f.kind) {
      case Kind::Int:
        v = *static_cast<int64_t*>(f.ptr);
        break;
      case Kind::Double:
        v = *static_cast<double*>(f.ptr);
        break;
      case Kind::Bool:
        v = *static_cast<bool*>(f.ptr);
        break;
      case Kind::String:
        v = *static_cast<std::string*>(f.ptr);
        break;
      case Kind::StringList:
        v = *static_cast<std::vector<std::string>*>(f.ptr);
        break;
    }
    j[nlohmann::json::json_pointer("/" + [&] {
      std::string p = f.key;
      for (auto& ch : p)
        if (ch == '.') ch = '/';
      return p;
    }())] = v;
  }
  return j;
}

RunConfig config_from_json(const nlohmann::json& j, const std::string& origin) {
  RunConfig c;
  for (const auto& f : fields(c)) {
    std::string p = "/" + f.key;
    for (auto& ch : p)
      if (ch == '.') ch = '/';
    const nlohmann::json::json_pointer ptr(p);
    if (!j.contains(ptr)) continue;  // written by an older version: the default
    const nlohmann::json& v = j.at(ptr);
    try {
      switch (f.kind) {
        case Kind::Int:
          *static_cast<int64_t*>(f.ptr) = v.get<int64_t>();
          break;
        case Kind::Double:
          *static_cast<double*>(f.ptr) = v.get<double>();
          break;
        case Kind::Bool:
          *static_cast<bool*>(f.ptr) = v.get<bool>();
          break;
        case Kind::String:
          *static_cast<std::string*>(f.ptr) = v.get<std::string>();
          break;
        case Kind::StringList:
          *static_cast<std::vector<std::string>*>(f.ptr) = v.get<std::vector<std::string>>();
          break;
      }
    } catch (const nlohmann::json::exception&) {
      throw FormatError(origin + ": configuration key '" + f.key + "' should be " +
                        kind_name(f.kind) + " (the file was not written by lorascape?)");
    }
  }
  c.validate();
  return c;
}

std::string RunConfig::to_toml() const {
  RunConfig copy = *this;
  std::ostringstream s;
  std::string section;
  for (const auto& f : fields(copy)) {
    const auto dot = f.key.find('.');
    const std::string sec = dot == std::string::npos ? "" : f.key.substr(0, dot);
    if (sec != section) {
      s << "\n[" << sec << "]\n";
      section = sec;
    }
    s << (dot == std::string::npos ? f.key : f.key.substr(dot + 1)) << " = " << value_toml(f)
      << "\n";
  }
  return s.str();
}

RunConfig load_config(const std::string& path) {
  RunConfig cfg;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw ConfigError(path + ": not a regular file (`config` takes a TOML file)");
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxTomlBytes)
    throw ConfigError(path + ": " + std::to_string(size) + " bytes; a configuration is at most " +
                      std::to_string(kMaxTomlBytes) + " bytes (is it the right file?)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot be read (check the path and permissions)");
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  const std::string shape = toml_shape_error(text);
  if (!shape.empty())
    throw ConfigError(path + (std::isdigit(static_cast<unsigned char>(shape[0])) ? ":" : ": ") +
                      shape);
  toml::table t;
  try {
    t = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    throw ConfigError(path + ":" + std::to_string(src.begin.line) + ": " +
                      std::string(e.description()) + " (fix the TOML syntax)");
  }
  walk(t, "", fields(cfg), path);
  return cfg;
}

void apply_override(RunConfig& cfg, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("`set` '" + assignment + "': expected key=value, e.g. `set` train.lr=0.001");
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  auto fs = fields(cfg);
  const Field* f = find_field(fs, key);
  if (!f)
    throw ConfigError("`set`: unknown key '" + clip(key) + "' (" + known_keys_hint(fs, clip(key)) +
                      ")");
  // A value that is not TOML, or too deeply nested to hand to toml++, is a bare string.
  toml::table t{{"v", value}};
  if (toml_shape_error("v = " + value).empty()) {
    try {
      t = toml::parse("v = " + value);
    } catch (const toml::parse_error&) {
    }
  }
  if (f->kind == Kind::StringList && t["v"].is_string()) {
    // Accept comma-separated lists: --set tasks.names=topic,arith
    toml::array a;
    std::stringstream ss(t["v"].as_string()->get());
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) a.push_back(item);
    t.insert_or_assign("v", a);
  }
  // A string setting takes the text as written, also when it reads as another TOML value
  // (--set ewc.fisher=true, --set out=2024).
  if (f->kind == Kind::String && !t["v"].is_string()) t.insert_or_assign("v", value);
  assign(*f, *t.get("v"), "`set` " + key);
}

std::vector<ConfigFieldDoc> config_fields() {
  RunConfig c;
  std::vector<ConfigFieldDoc> out;
  for (const auto& f : fields(c)) out.push_back({f.key, kind_name(f.kind), value_toml(f), f.help});
  return out;
}

}  // namespace lorascape::core
