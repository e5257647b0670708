// Scan files that can be moved (issue 20, item 4) and that say what their task sets are (item
// 3): adapter references stored relative to the scan file, the identity made of the adapters'
// content digests (not of how their paths were spelled), and the task roles and union members
// in text "roles" and "union" (docs/hdf5-schema.md 16.1, 16.2).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "store/scan_file.h"
#include "tests/common/cli_util.h"
#include "tests/common/fixtures.h"
#include "tests/common/test_util.h"

namespace store = lorascape::store;
namespace test = lorascape::test;
namespace fs = std::filesystem;

namespace {

class CliMovable : public ::testing::Test {
 protected:
  // Runs the CLI in the folder `cwd`.
  test::CliResult run_in(const fs::path& cwd, const std::string& args) {
    return test::run_cli(args, cache, "env -C '" + cwd.string() + "' ");
  }
  test::TempDir tmp{::testing::UnitTest::GetInstance()->current_test_info()->name()};
  const std::string cache = test::shared_cli_run().cache;
  const std::string line_args =
      " -n 3 --set eval.max_examples=4 --tasks weekday,arith --union weekday,arith";
};

// Marks the last point of a scan file not done, as a scan killed before it would leave it.
void forget_last_point(const std::string& path) {
  store::ScanData d = store::read_scan_file(path);
  const size_t p = d.done.size() - 1, w = d.spec.tasks.size() * d.spec.scores.size();
  d.done[p] = 0;
  for (size_t k = 0; k < w; ++k) d.values[p * w + k] = std::numeric_limits<double>::quiet_NaN();
  d.extras.clear();
  d.text.erase("summary");
  store::write_scan_file(path, d);
}

}  // namespace

TEST_F(CliMovable, SpellingsOfOneRunFileAreTheSameScan) {
  const fs::path a = tmp.path() / "a";
  fs::create_directories(a);
  fs::copy_file(test::shared_cli_run().h5, a / "run.h5");
  const std::string refs = " --from run.h5:seq/1 --to run.h5:seq/2";
  test::CliResult r = run_in(a, "-q scan line" + refs + line_args + " --out line.h5");
  ASSERT_EQ(r.code, 0) << r.out;
  const store::ScanData d = store::read_scan_file((a / "line.h5").string());
  // The identity holds the digests, not the references; the text holds the references
  // relative to the scan file.
  const auto cfg = nlohmann::json::parse(d.spec.config_json);
  EXPECT_FALSE(cfg.contains("adapters")) << d.spec.config_json;
  EXPECT_EQ(cfg.at("adapter_digests").size(), 2u);
  EXPECT_EQ(d.text.at("from"), "run.h5:seq/1");
  EXPECT_EQ(d.text.at("adapters"), "run.h5:seq/1\nrun.h5:seq/2\n");
  const std::string before = test::slurp((a / "line.h5").string());
  // ./run.h5, an absolute path, and the same run reached from another folder: the same scan
  // (complete, so nothing is computed and the file is left as it is).
  for (const std::string& spelled :
       {std::string(" --from ./run.h5:seq/1 --to ./run.h5:seq/2 --out line.h5"),
        " --from " + (a / "run.h5").string() + ":seq/1 --to " + (a / "run.h5").string() +
            ":seq/2 --out ./line.h5"}) {
    r = run_in(a, "-q scan line" + spelled + line_args);
    EXPECT_EQ(r.code, 0) << spelled << "\n" << r.out;
    EXPECT_EQ(test::slurp((a / "line.h5").string()), before) << spelled;
  }
  r = run_in(tmp.path(), "-q scan line --from a/run.h5:seq/1 --to a//run.h5:seq/2" + line_args +
                             " --out a/line.h5");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(test::slurp((a / "line.h5").string()), before);
  // Other adapters into the same file are still refused.
  r = run_in(a, "-q scan line --from run.h5:seq/1 --to run.h5:er/2" + line_args + " --out line.h5");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(test::count_lines(r.out), 1u) << r.out;
}

TEST_F(CliMovable, ACopiedFolderResumesItsScansAndRunsSharpnessAndPlotFromElsewhere) {
  const fs::path a = tmp.path() / "a";
  fs::create_directories(a / "analysis");
  fs::copy_file(test::shared_cli_run().h5, a / "run.h5");
  test::CliResult r = run_in(a, "-q scan line --from run.h5:seq/1 --to run.h5:seq/2" + line_args +
                                    " --out analysis/line.h5");
  ASSERT_EQ(r.code, 0) << r.out;
  const store::ScanData full = store::read_scan_file((a / "analysis/line.h5").string());
  ASSERT_TRUE(full.complete());
  EXPECT_EQ(full.text.at("from"), "../run.h5:seq/1");
  EXPECT_EQ(full.text.at("to"), "../run.h5:seq/2");
  // Task roles: weekday was learned at seq/1 (old), arith on the way to seq/2 (new); the union
  // pools both.
  EXPECT_EQ(full.text.at("roles"), "old\nnew\nunion\n");
  EXPECT_EQ(full.text.at("union"), "weekday\narith\n");
  forget_last_point((a / "analysis/line.h5").string());

  // Copy the folder elsewhere and remove the original: nothing may lead back to it.
  const fs::path b = tmp.path() / "moved" / "b";
  fs::create_directories(b.parent_path());
  fs::copy(a, b, fs::copy_options::recursive);
  fs::remove_all(a);
  const fs::path elsewhere = tmp.path() / "elsewhere";
  fs::create_directories(elsewhere);

  // Resumed from another working directory, with the run spelled another way: the missing
  // point is computed, and the arrays are the uninterrupted scan's.
  r = run_in(elsewhere, "-q scan line --from ../moved/b/run.h5:seq/1 --to " +
                            (b / "run.h5").string() + ":seq/2" + line_args +
                            " --out ../moved/b/analysis/line.h5");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("3 of 3 points done"), std::string::npos) << r.out;
  const store::ScanData resumed = store::read_scan_file((b / "analysis/line.h5").string());
  ASSERT_TRUE(resumed.complete());
  EXPECT_TRUE(test::same_bits(resumed.values, full.values));
  EXPECT_EQ(resumed.text.at("from"), "../run.h5:seq/1");

  // sharpness --along finds the line's endpoints next to the line file.
  r = run_in(elsewhere,
             "-q sharpness --along ../moved/b/analysis/line.h5 --every 2 --examples 2"
             " --max-iter 5 --out ../moved/b/analysis/sharp.h5");
  ASSERT_EQ(r.code, 0) << r.out;
  const store::ScanData sharp = store::read_scan_file((b / "analysis/sharp.h5").string());
  EXPECT_TRUE(sharp.complete());
  EXPECT_EQ(sharp.text.at("along"), "line.h5");
  EXPECT_EQ(sharp.text.at("from"), "../run.h5:seq/1");
  EXPECT_EQ(sharp.text.at("roles"), "old\nnew\nunion\n");
  // ... and so does a plot of either, from yet another folder.
  for (const char* scan : {"line.h5", "sharp.h5"}) {
    r = run_in(tmp.path(), std::string("plot moved/b/analysis/") + scan +
                               " --view valley --out fig.png --width 400 --height 300");
    EXPECT_EQ(r.code, 0) << scan << "\n" << r.out;
  }
  EXPECT_TRUE(fs::exists(tmp.path() / "fig.png"));
}

TEST_F(CliMovable, AnOlderFileWithReferencesInItsIdentityStillResumes) {
  const fs::path a = tmp.path() / "a";
  fs::create_directories(a);
  fs::copy_file(test::shared_cli_run().h5, a / "run.h5");
  const std::string cmd =
      "-q scan line --from run.h5:seq/1 --to run.h5:seq/2" + line_args + " --out line.h5";
  ASSERT_EQ(run_in(a, cmd).code, 0);
  const std::string path = (a / "line.h5").string();
  const store::ScanData full = store::read_scan_file(path);
  // What lorascape wrote before: `adapters` (as typed) in config_json, no roles, no union.
  forget_last_point(path);
  store::ScanData old = store::read_scan_file(path);
  auto cfg = nlohmann::json::parse(old.spec.config_json);
  cfg["adapters"] = {"run.h5:seq/1", "run.h5:seq/2"};
  old.spec.config_json = cfg.dump();
  old.text.erase("roles");
  old.text.erase("union");
  old.text.erase("adapters");
  store::write_scan_file(path, old);
  test::CliResult r = run_in(a, cmd);
  ASSERT_EQ(r.code, 0) << r.out;
  const store::ScanData resumed = store::read_scan_file(path);
  EXPECT_TRUE(resumed.complete());
  EXPECT_EQ(resumed.spec.config_json, old.spec.config_json);  // its identity is kept
  EXPECT_TRUE(test::same_bits(resumed.values, full.values));
  EXPECT_EQ(resumed.text.at("roles"), "old\nnew\nunion\n");
}

TEST_F(CliMovable, RolesOfOneAdapterAndOfTasksNotLearnedYet) {
  const fs::path a = tmp.path() / "a";
  fs::create_directories(a);
  fs::copy_file(test::shared_cli_run().h5, a / "run.h5");
  // At seq/1, arith is not learned yet: future, never old.
  test::CliResult r = run_in(a,
                             "-q sharpness --at run.h5:seq/1 --examples 2 --max-iter 3"
                             " --tasks weekday,arith --out s.h5");
  ASSERT_EQ(r.code, 0) << r.out;
  const store::ScanData s = store::read_scan_file((a / "s.h5").string());
  EXPECT_EQ(s.text.at("roles"), "new\nfuture\n");
  EXPECT_EQ(s.text.at("at"), "run.h5:seq/1");
  EXPECT_FALSE(s.text.count("union"));
}
