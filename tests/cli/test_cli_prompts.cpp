// The soft-prompt methods through the CLI: `train --method pp|l2p` write run files that
// `compare` reads, PEFT prompt-tuning stage folders that `eval --adapter` and `inspect` take,
// scans between prompt stages (factors space; pp's growing stages and delta space refused), and
// `geometry`'s refusal.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "store/run_file.h"
#include "store/scan_file.h"
#include "tests/common/cli_util.h"
#include "tests/common/test_util.h"

namespace fs = std::filesystem;
using namespace lorascape;

namespace {
class CliPrompts : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp = new test::TempDir("cli-prompts");
    cache = tmp->file("cache");
    config = tmp->write("tiny.toml", test::tiny_run_toml("",
                                                         "[l2p]\npool_size = 4\nlength = 2\n"
                                                         "top_n = 2\n[pp]\nlength = 2\n"));
  }
  static void TearDownTestSuite() { delete tmp; }
  static test::CliResult run(const std::string& args) { return test::run_cli(args, cache); }
  // A run of `method` (three tasks for l2p, so that a plane fits through its stages).
  static std::string trained(const std::string& method) {
    const std::string out = tmp->file(method);
    if (fs::exists(out + "/run.h5")) return out;
    const std::string tasks =
        method == "l2p" ? " --set 'tasks.names=[\"weekday\",\"arith\",\"compare\"]'" : "";
    const auto r =
        run("-q train --config " + config + " --method " + method + tasks + " --set out=" + out);
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("BWT"), std::string::npos) << r.out;
    return out;
  }
  static test::TempDir* tmp;
  static std::string cache, config;
};
test::TempDir* CliPrompts::tmp = nullptr;
std::string CliPrompts::cache, CliPrompts::config;
}  // namespace

TEST_F(CliPrompts, PpWritesPromptTuningStagesThatEvalTakesAndCompareReads) {
  const std::string out = trained("pp");
  const fs::path st = fs::path(out) / "adapters" / "pp" / "stage-02-arith";
  std::ifstream f(st / "adapter_config.json");
  const auto cfg = nlohmann::json::parse(f);
  EXPECT_EQ(cfg["peft_type"], "PROMPT_TUNING");
  EXPECT_EQ(cfg["num_virtual_tokens"], 4);  // two tasks of pp.length = 2
  EXPECT_EQ(cfg["token_dim"], 32);
  const store::RunFileData d = store::read_run_file(out + "/run.h5");
  const store::MethodData* m = d.find_method("pp");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->stages.size(), 2u);
  const auto& t = m->stages[1].adapters.at("adapter").tensors;
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].name, "prompt_embeddings");
  EXPECT_EQ(t[0].shape, (std::vector<int64_t>{4, 32}));
  auto r = run("eval --adapter " + st.string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("arith"), std::string::npos) << r.out;
  r = run("inspect " + st.string());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("prompt tuning"), std::string::npos) << r.out;
  r = run("compare " + out + "/run.h5");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("pp"), std::string::npos) << r.out;
  // The matrix and stability views draw a prompt run like any other (when built with the GUI).
  for (const char* view : {"matrix", "stability"}) {
    const std::string fig = tmp->file(std::string("pp-") + view + ".png");
    r = run("plot " + out + "/run.h5 --view " + view + " --out " + fig +
            " --width 600 --height 400");  // (the stability figure's smallest: 6 x 4 in)
    if (r.code == 2 && r.out.find("built without the desktop app") != std::string::npos) break;
    EXPECT_EQ(r.code, 0) << view << "\n" << r.out;
    EXPECT_TRUE(fs::exists(fig)) << view;
  }
  // pp's stages grow: a line between stage 1 and 2 is refused in one line; geometry too.
  const std::string h5 = out + "/run.h5";
  r = run("-q scan line --from " + h5 + ":pp/1 --to " + h5 + ":pp/2 -n 2 --out " +
          tmp->file("ppline.h5"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(test::count_lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("pp.length"), std::string::npos) << r.out;
  r = run("geometry " + h5 + ":pp/1 " + h5 + ":pp/2");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(test::count_lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("soft prompt"), std::string::npos) << r.out;
}

TEST_F(CliPrompts, L2pRunScansLinesAndPlanesBetweenItsStages) {
  const std::string out = trained("l2p");
  const std::string h5 = out + "/run.h5";
  const store::RunFileData d = store::read_run_file(h5);
  const store::MethodData* m = d.find_method("l2p");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->stages.size(), 3u);
  const auto& t = m->stages[0].adapters.at("adapter").tensors;
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].name, "prompt_pool");
  EXPECT_EQ(t[0].shape, (std::vector<int64_t>{8, 32}));
  EXPECT_EQ(t[1].name, "prompt_keys");
  auto r = run("compare " + h5 + " --score token_acc");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("l2p"), std::string::npos) << r.out;
  // The line's end points are the stages themselves: their scores are R's.
  const std::string line = tmp->file("l2pline.h5");
  r = run("-q scan line --from " + h5 + ":l2p/1 --to " + h5 + ":l2p/3 -n 3 --tasks weekday --out " +
          line);
  ASSERT_EQ(r.code, 0) << r.out;
  const store::ScanData s = store::read_scan_file(line);
  ASSERT_TRUE(s.complete());
  const double loss_end = s.values[s.value_index(2, 0, 0)];  // point t = 1, weekday, loss
  EXPECT_NEAR(loss_end, m->R.at("loss")[2][0], 1e-5);
  const double loss_start = s.values[s.value_index(0, 0, 0)];
  EXPECT_NEAR(loss_start, m->R.at("loss")[0][0], 1e-5);
  r = run("-q scan line --from " + h5 + ":l2p/1 --to " + h5 + ":l2p/2 -n 2 --space delta --out " +
          tmp->file("l2pdelta.h5"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("factors"), std::string::npos) << r.out;
  const std::string plane = tmp->file("l2pplane.h5");
  r = run("-q scan plane --through " + h5 + ":l2p/1," + h5 + ":l2p/2," + h5 +
          ":l2p/3 --grid 2x2 --margin 0 --tasks weekday --out " + plane);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(store::read_scan_file(plane).complete());
}

TEST_F(CliPrompts, ConfigListsThePromptSettings) {
  const auto r = run("config");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* k : {"pp.length", "l2p.pool_size", "l2p.length", "l2p.top_n", "l2p.lambda"})
    EXPECT_NE(r.out.find(k), std::string::npos) << k;
}
