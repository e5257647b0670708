// LoraConfig: which modules get an adapter and with which r and alpha, by PEFT's rules
// (peft/tuners/tuners_utils.py check_target_module_exists, peft/utils/other.py get_pattern_key,
// peft/tuners/lora/layer.py update_layer), and its adapter_config.json form.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>

#include "core/model_config.h"
#include "store/error.h"

namespace lorascape::core {

const std::vector<std::string>& lora_target_names() {
  static const std::vector<std::string> names{"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                              "gate_proj", "up_proj", "down_proj"};
  return names;
}

namespace {

// Largest r and number of pattern entries accepted: far above any real adapter, small enough that
// a hostile file cannot make lorascape allocate without bound before its tensors are checked.
constexpr int64_t kMaxRank = 1 << 16;

// A Python regular expression as PCRE2 runs it (the syntax PEFT's patterns use is common to
// both). `what` names the setting in errors.
class Pattern {
 public:
  Pattern(const std::string& pattern, const std::string& what) {
    int err = 0;
    PCRE2_SIZE at = 0;
    code_.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF, &err, &at, nullptr));
    if (!code_) {
      std::array<PCRE2_UCHAR, 256> msg{};
      pcre2_get_error_message(err, msg.data(), msg.size());
      throw ConfigError(what + " '" + pattern + "' is not a regular expression (" +
                        reinterpret_cast<char*>(msg.data()) + " at offset " + std::to_string(at) +
                        ")");
    }
  }
  // Python re.fullmatch (whole = true) or re.match (anchored at the start only); on a match,
  // *group1 (when given) is the first group's text.
  bool match(const std::string& s, bool whole, std::string* group1 = nullptr) const {
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr), &pcre2_match_data_free);
    if (!md) throw std::bad_alloc();
    const int rc =
        pcre2_match(code_.get(), reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0,
                    PCRE2_ANCHORED | (whole ? PCRE2_ENDANCHORED : 0u), md.get(), nullptr);
    if (rc < 0) return false;
    if (group1 && rc > 1) {
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      *group1 = s.substr(ov[2], ov[3] - ov[2]);
    }
    return true;
  }

 private:
  struct Free {
    void operator()(pcre2_code* c) const { pcre2_code_free(c); }
  };
  std::unique_ptr<pcre2_code, Free> code_;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// PEFT's list rule: the full name is an entry or ends with "." + an entry.
bool in_list(const std::vector<std::string>& list, const std::string& module) {
  for (const auto& e : list)
    if (module == e || ends_with(module, "." + e)) return true;
  return false;
}

// PEFT's get_pattern_key: the first key k with re.match(rf"(.*\.)?({k})$", module).
template <class V>
const V* pattern_value(const std::vector<std::pair<std::string, V>>& pattern,
                       const std::string& module, const char* what) {
  for (const auto& [key, value] : pattern)
    if (Pattern("(.*\\.)?(" + key + ")", what).match(module, true)) return &value;
  return nullptr;
}

}  // namespace

double LoraConfig::scale() const {
  return rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
}

bool LoraConfig::targets_module(const std::string& module) const {
  if (!exclude_regex.empty() && Pattern(exclude_regex, "lora.exclude").match(module, true))
    return false;
  if (in_list(exclude, module)) return false;
  if (!target_regex.empty()) return Pattern(target_regex, "lora.targets").match(module, true);
  if (!in_list(targets, module)) return false;
  if (layers.empty()) return true;
  // The layer index: the number after the first "<name>." (lazy: the outermost index, not an
  // expert's), or after one of layers_pattern.
  std::string index;
  bool found = false;
  if (layers_pattern.empty())
    found = Pattern(".*?\\.[^.]*\\.(\\d+)\\.", "lora.layers_pattern").match(module, false, &index);
  for (const auto& p : layers_pattern)
    if ((found = Pattern(".*?\\." + p + "\\.(\\d+)\\.", "lora.layers_pattern")
                     .match(module, false, &index)))
      break;
  if (!found || index.size() > 9) return false;
  return std::find(layers.begin(), layers.end(), std::stoll(index)) != layers.end();
}

int64_t LoraConfig::rank_of(const std::string& module) const {
  const int64_t* r = pattern_value(rank_pattern, module, "lora.rank_pattern");
  return r ? *r : rank;
}

double LoraConfig::alpha_of(const std::string& module) const {
  const double* a = pattern_value(alpha_pattern, module, "lora.alpha_pattern");
  return a ? *a : alpha;
}

double LoraConfig::scale_of(const std::string& module) const {
  const auto r = static_cast<double>(rank_of(module));
  return alpha_of(module) / (rslora ? std::sqrt(r) : r);
}

bool LoraConfig::per_module() const {
  if (!rank_pattern.empty() || !alpha_pattern.empty() || !target_regex.empty() ||
      !exclude.empty() || !exclude_regex.empty() || !layers.empty())
    return true;
  const auto& all = lora_target_names();
  for (const auto& t : targets)
    if (std::find(all.begin(), all.end(), t) == all.end()) return true;
  return false;
}

void LoraConfig::validate(bool strict) const {
  auto check_rank = [](int64_t r, const std::string& what) {
    if (r < 1 || r > kMaxRank)
      throw ConfigError(what + " must be in [1, " + std::to_string(kMaxRank) + "] (got " +
                        std::to_string(r) + ")");
  };
  auto check_alpha = [](double a, const std::string& what) {
    if (!std::isfinite(a) || !(a > 0)) throw ConfigError(what + " must be a finite number > 0");
  };
  check_rank(rank, "lora.rank");
  check_alpha(alpha, "lora.alpha");
  if (!(dropout >= 0 && dropout < 1)) throw ConfigError("lora.dropout must be in [0, 1)");
  if (targets.empty() && target_regex.empty())
    throw ConfigError("lora.targets is empty (name at least one of q_proj ... down_proj)");
  for (const auto& [k, r] : rank_pattern) check_rank(r, "lora.rank_pattern '" + k + "'");
  for (const auto& [k, a] : alpha_pattern) check_alpha(a, "lora.alpha_pattern '" + k + "'");
  for (int64_t l : layers)
    if (l < 0) throw ConfigError("lora.layers_to_transform holds a negative layer index");
  if (!target_regex.empty() && (!layers.empty() || !layers_pattern.empty()))
    throw ConfigError(
        "lora.layers_to_transform and lora.layers_pattern need a list of targets, not a regular "
        "expression (as in PEFT)");
  if (!layers_pattern.empty() && layers.empty())
    throw ConfigError("lora.layers_pattern needs lora.layers_to_transform (as in PEFT)");
  if (bias != "none" && bias != "all" && bias != "lora_only")
    throw ConfigError("lora.bias must be none, all or lora_only (got '" + bias + "')");
  // Every pattern compiles (the Pattern constructor throws).
  if (!target_regex.empty()) Pattern(target_regex, "lora.targets");
  if (!exclude_regex.empty()) Pattern(exclude_regex, "lora.exclude");
  for (const auto& p : layers_pattern) Pattern(p, "lora.layers_pattern");
  for (const auto& e : rank_pattern) Pattern(e.first, "lora.rank_pattern");
  for (const auto& e : alpha_pattern) Pattern(e.first, "lora.alpha_pattern");
  if (!strict) return;
  for (const auto& t : targets) {
    const auto& all = lora_target_names();
    if (std::find(all.begin(), all.end(), t) == all.end())
      throw ConfigError("lora.targets: unknown module '" + t +
                        "' (valid: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj)");
  }
  if (per_module() || rslora || fan_in_fan_out || bias != "none")
    throw ConfigError(
        "lora: rank/alpha patterns, regex targets, layer selection and rslora come from PEFT "
        "adapter_config.json files only");
}

// ---- adapter_config.json ---------------------------------------------------------------------

using ojson = nlohmann::ordered_json;

namespace {

bool is_set(const ojson& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_array() || v.is_object() || v.is_string()) return !v.empty();
  return true;
}

[[noreturn]] void bad(const std::string& origin, const std::string& field, const std::string& why) {
  throw FormatError(origin + ": `" + field + "` " + why);
}

std::vector<std::string> string_or_list(const ojson& v, const std::string& origin,
                                        const std::string& field) {
  std::vector<std::string> out;
  if (v.is_string()) return {v.get<std::string>()};
  if (!v.is_array()) bad(origin, field, "must be a string or a list of strings");
  for (const auto& e : v) {
    if (!e.is_string()) bad(origin, field, "must be a string or a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

LoraConfig LoraConfig::from_peft(const ojson& cfg, const std::string& origin) {
  if (!cfg.is_object()) throw FormatError(origin + ": not a JSON object (a PEFT adapter_config)");
  const std::string type = cfg.value("peft_type", std::string("LORA"));
  if (type != "LORA")
    bad(origin, "peft_type",
        "is '" + type +
            "': lorascape reads LoRA adapters only (LoHa, LoKr, IA3, AdaLoRA, prompt tuning and "
            "the other PEFT methods change the forward differently)");
  // PEFT features that change the forward and that lorascape does not implement: refused, not
  // silently dropped.
  static const std::vector<std::pair<const char*, const char*>> unsupported{
      {"use_dora", "is true: DoRA rescales every column of W + ΔW by a learned magnitude"},
      {"modules_to_save", "is set: the adapter carries full copies of those modules"},
      {"lora_bias", "is true: the adapter carries a bias on lora_B"},
      {"layer_replication", "is set: the adapter duplicates decoder layers"},
      {"target_parameters", "is set: the adapter targets raw parameters, not modules"},
      {"trainable_token_indices", "is set: the adapter trains embedding rows"},
      {"alora_invocation_tokens", "is set: activated LoRA applies only after an invocation"},
      {"use_qalora", "is true: QA-LoRA pools the input of quantised layers"},
      {"velora_config", "is set: a LoRA variant that changes the forward"},
      {"monteclora_config", "is set: a LoRA variant that changes the forward"},
      {"kasa_config", "is set: a LoRA variant that changes the forward"}};
  for (const auto& [field, why] : unsupported)
    if (cfg.contains(field) && is_set(cfg[field]))
      bad(origin, field,
          std::string(why) + ", which lorascape does not implement (plain LoRA adapters only)");
  if (cfg.contains("init_lora_weights")) {
    const ojson& init = cfg["init_lora_weights"];
    if (init.is_string()) {
      const std::string s = init.get<std::string>();
      if (s != "gaussian" && s != "eva" && s != "orthogonal")
        bad(origin, "init_lora_weights",
            "is '" + s +
                "': that initialisation (PiSSA, OLoRA, LoftQ, CorDA, LoRA-GA) changes the base "
                "weights the adapter applies to; convert it to a plain LoRA adapter with PEFT "
                "(save_pretrained(..., path_initial_model_for_weight_conversion=...))");
    } else if (!init.is_boolean() && !init.is_null()) {
      bad(origin, "init_lora_weights", "must be true, false or a string");
    }
  }

  LoraConfig out;
  auto number = [&](const char* field, double fallback) {
    if (!cfg.contains(field) || cfg[field].is_null()) return fallback;
    if (!cfg[field].is_number()) bad(origin, field, "must be a number");
    return cfg[field].get<double>();
  };
  auto integer = [&](const ojson& v, const std::string& field) {
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kMaxRank)
      bad(origin, field, "must be an integer in [1, " + std::to_string(kMaxRank) + "]");
    return v.get<int64_t>();
  };
  auto flag = [&](const char* field) {
    if (!cfg.contains(field) || cfg[field].is_null()) return false;
    if (!cfg[field].is_boolean()) bad(origin, field, "must be true or false");
    return cfg[field].get<bool>();
  };
  // PEFT's defaults where a field is missing: r 8, lora_alpha 8, dropout 0.
  out.rank = cfg.contains("r") ? integer(cfg["r"], "r") : 8;
  out.alpha = number("lora_alpha", 8.0);
  out.dropout = number("lora_dropout", 0.0);
  out.rslora = flag("use_rslora");
  out.fan_in_fan_out = flag("fan_in_fan_out");
  if (cfg.contains("bias") && !cfg["bias"].is_null()) {
    if (!cfg["bias"].is_string()) bad(origin, "bias", "must be none, all or lora_only");
    out.bias = cfg["bias"].get<std::string>();
  }
  // target_modules: a list, a regex, "all-linear" (every projection: PEFT saves the resolved
  // list), or null (PEFT's default for Llama-family models: q_proj and v_proj).
  const ojson tm = cfg.value("target_modules", ojson());
  if (tm.is_string()) {
    std::string lower = tm.get<std::string>();
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "all-linear")
      out.targets = lora_target_names();
    else {
      out.targets.clear();
      out.target_regex = tm.get<std::string>();
      if (out.target_regex.empty()) bad(origin, "target_modules", "is an empty string");
    }
  } else if (tm.is_null()) {
    out.targets = {"q_proj", "v_proj"};
  } else {
    out.targets = string_or_list(tm, origin, "target_modules");
  }
  const ojson ex = cfg.value("exclude_modules", ojson());
  if (ex.is_string())
    out.exclude_regex = ex.get<std::string>();
  else if (!ex.is_null())
    out.exclude = string_or_list(ex, origin, "exclude_modules");
  const ojson lt = cfg.value("layers_to_transform", ojson());
  if (lt.is_number_integer()) {
    out.layers = {lt.get<int64_t>()};
  } else if (lt.is_array()) {
    for (const auto& e : lt) {
      if (!e.is_number_integer() || e.get<int64_t>() < 0)
        bad(origin, "layers_to_transform", "must be a layer index or a list of them");
      out.layers.push_back(e.get<int64_t>());
    }
  } else if (!lt.is_null()) {
    bad(origin, "layers_to_transform", "must be a layer index or a list of them");
  }
  const ojson lp = cfg.value("layers_pattern", ojson());
  if (!lp.is_null()) out.layers_pattern = string_or_list(lp, origin, "layers_pattern");
  if (out.layers.empty()) out.layers_pattern.clear();  // PEFT: [] and null both mean every layer
  for (const char* field : {"rank_pattern", "alpha_pattern"}) {
    const ojson p = cfg.value(field, ojson());
    if (p.is_null()) continue;
    if (!p.is_object()) bad(origin, field, "must be an object {module pattern: value}");
    for (const auto& [key, v] : p.items()) {
      if (std::string(field) == "rank_pattern") {
        out.rank_pattern.emplace_back(key, integer(v, std::string(field) + "." + key));
      } else {
        if (!v.is_number()) bad(origin, std::string(field) + "." + key, "must be a number");
        out.alpha_pattern.emplace_back(key, v.get<double>());
      }
    }
  }
  try {
    out.validate();
  } catch (const ConfigError& e) {
    throw FormatError(origin + ": " + e.what());
  }
  return out;
}

ojson LoraConfig::to_peft() const {
  ojson rp = ojson::object(), ap = ojson::object();
  for (const auto& [k, r] : rank_pattern) rp[k] = r;
  for (const auto& [k, a] : alpha_pattern) ap[k] = a;
  ojson j = {{"peft_type", "LORA"},
             {"task_type", "CAUSAL_LM"},
             {"r", rank},
             {"lora_alpha", alpha},
             {"lora_dropout", dropout},
             {"target_modules", target_regex.empty() ? ojson(targets) : ojson(target_regex)},
             {"exclude_modules", !exclude_regex.empty() ? ojson(exclude_regex)
                                 : exclude.empty()      ? ojson()
                                                        : ojson(exclude)},
             {"layers_to_transform", layers.empty() ? ojson() : ojson(layers)},
             {"layers_pattern", layers_pattern.empty() ? ojson() : ojson(layers_pattern)},
             {"rank_pattern", rp},
             {"alpha_pattern", ap},
             {"use_rslora", rslora},
             {"fan_in_fan_out", fan_in_fan_out},
             {"bias", bias},
             {"use_dora", false},
             {"modules_to_save", nullptr},
             {"init_lora_weights", true},
             {"inference_mode", true}};
  return j;
}

}  // namespace lorascape::core
