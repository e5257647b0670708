#include <algorithm>
#include <cstdio>
#include <regex>

#include "cli/cli.h"
#include "core/base_model.h"
#include "core/metrics.h"
#include "core/prompt.h"
#include "store/error.h"

namespace lorascape::cli {

namespace {
std::string g_command_line;
}  // namespace

const std::string& command_line() {
  return g_command_line;
}

void set_command_line(int argc, char** argv) {
  g_command_line.clear();
  for (int i = 0; i < argc; ++i) g_command_line += (i ? " " : "") + std::string(argv[i]);
}

std::string cli_message(const std::string& message) {
  static const std::regex setting("`([a-z][a-z0-9_]*)`");
  std::string out;
  auto it = std::sregex_iterator(message.begin(), message.end(), setting);
  size_t pos = 0;
  for (; it != std::sregex_iterator(); ++it) {
    out += message.substr(pos, static_cast<size_t>(it->position()) - pos);
    std::string flag = (*it)[1];
    std::replace(flag.begin(), flag.end(), '_', '-');
    out += "--" + flag;
    pos = static_cast<size_t>(it->position() + it->length());
  }
  return out + message.substr(pos);
}

using namespace lorascape::core;

void print_result(const RunOutput& out) {
  const RunResult& r = out.result;
  std::printf("\n%s", format_matrix(r, "exact_match").c_str());
  if (r.learners.size() == 1) {
    std::printf("\nmetrics (exact match): %s\n", format_metrics(out.metrics).c_str());
    return;
  }
  // Several learners (I-LoRA): every learner's matrix and metrics, the reported one first.
  for (const auto& [key, l] : r.learners)
    if (key != r.reported) std::printf("\n%s", format_matrix(r, "exact_match", key).c_str());
  std::printf("\nmetrics (exact match), %-5s (reported): %s\n", r.reported.c_str(),
              format_metrics(out.metrics).c_str());
  for (const auto& [key, l] : r.learners)
    if (key != r.reported)
      std::printf("metrics (exact match), %-5s           : %s\n", key.c_str(),
                  format_metrics(r.metrics("exact_match", key)).c_str());
}

// The base model an adapter was trained on: --base, else the cached file named in its config.
std::string base_for_adapter(const PeftAdapter& pa, const std::string& base_opt,
                             const std::string& adapter_path) {
  if (!base_opt.empty()) return base_opt;
  const std::string path =
      cached_base_model(pa.extra.value("base_model", std::string()), adapter_path);
  const std::string want = pa.extra.value("base_model_digest", std::string());
  if (!want.empty() && file_digest(path) != want)
    throw FormatError(path +
                      ": digest differs from the one recorded in the adapter (the cache was "
                      "rebuilt?); pass --base FILE");
  return path;
}

Transformer model_with_adapter(const std::string& adapter_path, const std::string& base_opt,
                               const c10::Device& dev) {
  if (adapter_path.empty()) {
    if (base_opt.empty()) throw ConfigError("give --adapter DIR or --base FILE");
    Transformer m = load_base_model(base_opt);
    m->to(dev);
    return m;
  }
  PeftAdapter pa = load_peft_adapter(adapter_path);
  Transformer m = load_base_model(base_for_adapter(pa, base_opt, adapter_path));
  if (core::is_prompt_adapter(pa.adapter)) {  // a soft prompt (pp, l2p, PEFT prompt tuning)
    m->to(dev);
    if (pa.extra.contains("l2p_top_n") && pa.extra["l2p_top_n"].is_number_integer())
      m->l2p_top_n = pa.extra["l2p_top_n"].get<int64_t>();
    pa.adapter.load_into(*m, adapter_path);
    return m;
  }
  m->add_lora(pa.lora);
  pa.adapter.load_into(*m, adapter_path);
  m->to(dev);
  return m;
}

// --grid NxM (also N for a square grid).
std::pair<int, int> parse_grid(const std::string& text) {
  const auto x = text.find('x');
  try {
    size_t used = 0;
    const int n = std::stoi(text.substr(0, x), &used);
    if (used != (x == std::string::npos ? text.size() : x)) throw std::invalid_argument(text);
    if (x == std::string::npos) return {n, n};
    const int m = std::stoi(text.substr(x + 1), &used);
    if (used != text.size() - x - 1) throw std::invalid_argument(text);
    return {n, m};
  } catch (const std::exception&) {
    throw ConfigError("--grid '" + text + "': expected NxM (e.g. 21x21) or N");
  }
}

}  // namespace lorascape::cli
