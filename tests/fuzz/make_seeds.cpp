// Writes the binary seeds of the fuzz corpus (tests/fuzz/corpus/) with lorascape's own writers:
//   make_seeds CORPUS_DIR
// safetensors files (an adapter, a base-model-like file with several dtypes and metadata), a
// run file (two tasks, methods seq and ilora, a snapshot; and one with a lora_config) and scan
// files (a line and a plane). Kept small: rank-1 factors of two modules, one method a file. The
// text seeds (TOML,
// --set lines, task JSON, adapter_config.json, references) are written by hand.
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "store/run_file.h"
#include "store/scan_file.h"

namespace {

using namespace lorascape;
namespace fs = std::filesystem;

store::Tensor tensor(const std::string& name, std::vector<int64_t> shape, float v) {
  store::Tensor t;
  t.name = name;
  t.shape = std::move(shape);
  size_t n = 1;
  for (int64_t d : t.shape) n *= static_cast<size_t>(d);
  for (size_t i = 0; i < n; ++i) t.values.push_back(v + 0.125f * static_cast<float>(i));
  return t;
}

// q_proj and v_proj of layer 0, r = 1, width 4.
store::AdapterData adapter(float v) {
  store::AdapterData a;
  for (const char* m : {"self_attn.q_proj", "self_attn.v_proj"}) {
    const std::string p = std::string("model.layers.0.") + m;
    a.tensors.push_back(tensor(p + ".lora_A.weight", {1, 4}, v));
    a.tensors.push_back(tensor(p + ".lora_B.weight", {4, 1}, -v));
  }
  return a;
}

store::MethodData method(const std::string& name, const std::vector<std::string>& keys,
                         const std::vector<std::string>& tasks) {
  const size_t T = tasks.size();
  store::MethodData m;
  m.name = name;
  m.config_json = R"({"method":")" + name + R"("})";
  m.reported = keys.back();
  for (const char* score : {"exact_match", "token_acc", "loss"}) {
    m.R[score] = std::vector<std::vector<double>>(T, std::vector<double>(T, 0.5));
    m.base[score] = std::vector<double>(T, 0.25);
    m.metrics[score] = {{"OP", 0.5}, {"BWT", -0.25}, {"FWT", std::nan("")}};
  }
  for (size_t k = 0; k + 1 < keys.size(); ++k)
    for (const char* score : {"exact_match", "loss"}) {
      m.learners[keys[k]].R[score] = std::vector<std::vector<double>>(T, std::vector<double>(T, 1));
      m.learners[keys[k]].metrics[score] = {{"OP", 0.25}};
    }
  for (size_t t = 0; t < T; ++t) {
    store::StageData s;
    s.stage = static_cast<int>(t);
    s.task = tasks[t];
    for (size_t k = 0; k < keys.size(); ++k)
      s.adapters[keys[k]] = adapter(static_cast<float>(t + k) + 0.5f);
    m.stages.push_back(std::move(s));
  }
  return m;
}

store::RunFileData run(bool with_lora_config) {
  store::RunFileData d;
  d.software_version = "0.1.0 (seed)";
  d.created = "2026-01-01T00:00:00Z";
  d.command_line = "lorascape train --config tiny.toml";
  d.config_json = R"({"seed":1})";
  d.base_model = "base.safetensors";
  d.base_model_digest = "sha256:00";
  d.tasks = {"arith", "weekday"};
  d.lora_rank = 1;
  d.lora_alpha = 2.0;
  d.lora_targets = {"q_proj", "v_proj"};
  if (with_lora_config)
    d.lora_config =
        R"({"r":1,"lora_alpha":2,"target_modules":["q_proj","v_proj"],"rank_pattern":{"v_proj":1},"use_rslora":true})";
  d.methods.push_back(method("seq", {"adapter"}, d.tasks));
  if (with_lora_config) {
    d.methods[0] = method("ilora", {"fast", "slow"}, d.tasks);
  } else {
    store::Snapshot s;
    s.step = 3;
    s.task = 0;
    s.adapter = adapter(0.75f);
    d.methods[0].snapshots.push_back(s);
  }
  return d;
}

store::ScanData scan(const std::string& kind, std::vector<std::vector<double>> axes) {
  store::ScanSpec spec;
  spec.kind = kind;
  spec.config_json = R"({"from":"run.h5:seq/1","to":"run.h5:seq/2"})";
  spec.tasks = {"arith", "union"};
  spec.scores = {"loss", "exact_match"};
  spec.axes = std::move(axes);
  store::ScanData d = store::new_scan(spec, {}, "0.1.0 (seed)", "lorascape scan line");
  d.created = "2026-01-01T00:00:00Z";
  for (int64_t p = 0; p < d.num_points(); p += 2) {
    d.done[static_cast<size_t>(p)] = 1;
    for (size_t t = 0; t < 2; ++t)
      for (size_t s = 0; s < 2; ++s)
        d.values[d.value_index(p, t, s)] = 0.25 * static_cast<double>(p);
  }
  d.extras["control"] = store::ScanArray{{2, 2}, {0, 1, 2, 3}};
  d.text["space"] = "factors";
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
    return 2;
  }
  const std::string out = argv[1];
  try {
    for (const char* t : {"fuzz_safetensors", "fuzz_run_file", "fuzz_scan_file"})
      fs::create_directories(out + "/" + t);
    core::NamedTensors a;
    for (const char* m : {"q_proj", "v_proj"}) {
      const std::string p = std::string("base_model.model.model.layers.0.self_attn.") + m;
      a.emplace_back(p + ".lora_A.weight", at::arange(8, at::kFloat).reshape({2, 4}));
      a.emplace_back(p + ".lora_B.weight", at::arange(8, at::kFloat).reshape({4, 2}));
    }
    core::write_safetensors(out + "/fuzz_safetensors/adapter.safetensors", a);
    core::NamedTensors b{{"model.embed_tokens.weight", at::ones({4, 2}, at::kHalf)},
                         {"model.norm.weight", at::ones({2}, at::kBFloat16)},
                         {"lm_head.weight", at::zeros({3, 2}, at::kDouble)},
                         {"position_ids", at::arange(3, at::kLong)},
                         {"mask", at::ones({2}, at::kBool)},
                         {"scalar", at::scalar_tensor(1.5)},
                         {"empty", at::zeros({0, 3}, at::kFloat)}};
    core::write_safetensors(out + "/fuzz_safetensors/base.safetensors", b, {{"format", "pt"}});
    store::write_run_file(out + "/fuzz_run_file/run.h5", run(false));
    store::write_run_file(out + "/fuzz_run_file/run_lora_config.h5", run(true));
    store::write_scan_file(out + "/fuzz_scan_file/line.h5", scan("line", {{0, 0.5, 1}}));
    store::write_scan_file(out + "/fuzz_scan_file/plane.h5", scan("plane", {{0, 1}, {-1, 0, 1}}));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
