// `lorascape sharpness` end to end: at a stage adapter of a tiny run and along a line scan of
// it, a scan file of kind "sharpness" with the documented layout, a finished file left
// untouched by a rerun, the loss agreeing with the line scan's, and exit code 2 with one line
// on bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "store/references.h"
#include "store/scan_file.h"
#include "tests/common/cli_util.h"
#include "tests/common/fixtures.h"
#include "tests/common/test_util.h"

namespace store = lorascape::store;

namespace {
using Result = lorascape::test::CliResult;
Result run(const std::string& args, const std::string& cache) {
  return lorascape::test::run_cli(args, cache);
}
size_t lines(const std::string& s) {
  return lorascape::test::count_lines(s);
}
using lorascape::test::slurp;

class CliSharpness : public ::testing::Test {
 protected:
  // The tiny run shared by the CLI tests (tests/common/fixtures.h): seq and er over weekday
  // and arith.
  std::string tiny_run() { return lorascape::test::shared_cli_run().h5; }
  lorascape::test::TempDir tmp{::testing::UnitTest::GetInstance()->current_test_info()->name()};
  const std::string cache = lorascape::test::shared_cli_run().cache;
};
}  // namespace

TEST_F(CliSharpness, AtAnAdapterAndAlongALine) {
  const std::string h5 = tiny_run();
  const std::string at =
      "-q sharpness --at " + h5 + ":seq/1 --top 2 --examples 4 --max-iter 30 --union weekday,arith";
  const std::string s = tmp.file("s.h5");
  Result r = run(at + " --out " + s, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* word :
       {"sharpness at", "lambda_1", "lambda_2", "weekday", "arith", "union", "wrote"})
    EXPECT_NE(r.out.find(word), std::string::npos) << word << "\n" << r.out;

  const store::ScanData d = store::read_scan_file(s);
  EXPECT_EQ(d.spec.kind, "sharpness");
  EXPECT_TRUE(d.complete());
  EXPECT_EQ(d.spec.tasks, (std::vector<std::string>{"weekday", "arith", "union"}));
  EXPECT_EQ(d.spec.scores, (std::vector<std::string>{"lambda_1", "lambda_2"}));
  EXPECT_EQ(d.spec.axes, (std::vector<std::vector<double>>{{0.0}}));
  for (const char* key : {"\"top\":2", "\"max_iter\":30", "\"tol\":0.001", "\"split\":\"train\"",
                          "\"max_examples\":4", "\"mode\":\"at\""})
    EXPECT_NE(d.spec.config_json.find(key), std::string::npos) << key << "\n" << d.spec.config_json;
  ASSERT_TRUE(d.extras.count("iterations") && d.extras.count("converged") &&
              d.extras.count("loss"));
  EXPECT_EQ(d.extras.at("iterations").shape, (std::vector<int64_t>{1, 3, 2}));
  EXPECT_EQ(d.extras.at("converged").shape, (std::vector<int64_t>{1, 3, 2}));
  EXPECT_EQ(d.extras.at("loss").shape, (std::vector<int64_t>{1, 3}));
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(std::isfinite(d.values[i])) << i;
    const double it = d.extras.at("iterations").values[i], ok = d.extras.at("converged").values[i];
    EXPECT_GE(it, 1);
    EXPECT_LE(it, 30);
    EXPECT_TRUE(ok == 0.0 || ok == 1.0);
    if (ok == 0.0) {
      EXPECT_EQ(it, 30);
    }
  }
  // The pooled loss lies between the tasks' ones.
  const auto& loss = d.extras.at("loss").values;
  EXPECT_GT(loss[2], std::min(loss[0], loss[1]));
  EXPECT_LT(loss[2], std::max(loss[0], loss[1]));
  // References are stored relative to the scan file (docs/hdf5-schema.md 16.2).
  EXPECT_EQ(store::resolve_ref(d.text.at("at"), s), h5 + ":seq/1");
  EXPECT_TRUE(d.text.count("summary"));

  // Rerunning the finished computation changes nothing; other settings into the file are refused.
  const std::string before = slurp(s);
  r = run(at + " --out " + s, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(slurp(s), before);
  r = run(at + " --tol 1e-2 --out " + s, cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1u) << r.out;
  EXPECT_EQ(slurp(s), before);

  // Along a line: every second point, the line's task sets, and on the line's own data (the
  // test split, all 20 examples) the loss is the line scan's loss.
  const std::string line = tmp.file("line.h5"), along = tmp.file("along.h5");
  ASSERT_EQ(run("-q scan line --from " + h5 + ":seq/1 --to " + h5 +
                    ":seq/2 -n 3 --tasks weekday --out " + line,
                cache)
                .code,
            0);
  r = run("-q sharpness --along " + line +
              " --every 2 --split test --examples 0 --max-iter 20 --out " + along,
          cache);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("sharpness along"), std::string::npos) << r.out;
  const store::ScanData a = store::read_scan_file(along);
  const store::ScanData l = store::read_scan_file(line);
  EXPECT_EQ(a.spec.kind, "sharpness");
  EXPECT_EQ(a.spec.axes, (std::vector<std::vector<double>>{{0.0, 1.0}}));
  EXPECT_EQ(a.spec.tasks, (std::vector<std::string>{"weekday"}));
  EXPECT_EQ(a.spec.scores, (std::vector<std::string>{"lambda_1"}));
  EXPECT_TRUE(a.complete());
  EXPECT_EQ(a.text.at("along"), "line.h5");  // next to it
  EXPECT_EQ(store::resolve_ref(a.text.at("from"), along), h5 + ":seq/1");
  EXPECT_EQ(a.text.at("space"), "factors");
  for (size_t p = 0; p < 2; ++p) {
    EXPECT_TRUE(std::isfinite(a.values[p])) << p;
    EXPECT_NEAR(a.extras.at("loss").values[p],
                l.values[l.value_index(static_cast<int64_t>(2 * p), 0, 0)], 1e-5)
        << p;
  }
}

TEST_F(CliSharpness, BadInputExitsTwoWithOneLine) {
  // A scan file of another kind, and a file that is no scan file at all.
  store::ScanSpec spec;
  spec.kind = "plane";
  spec.config_json = "{}";
  spec.tasks = {"weekday"};
  spec.scores = {"loss"};
  spec.axes = {{0.0, 1.0}, {0.0, 1.0}};
  const std::string plane = tmp.file("plane.h5");
  store::write_scan_file(plane, store::new_scan(spec));
  const std::string text = tmp.write("notes.h5", "not a scan file");
  const std::string missing = tmp.file("missing.h5");
  for (const std::string& args : {std::string("sharpness"),  // neither --at nor --along
                                  "sharpness --at " + missing + ":seq/1 --along " + plane,  // both
                                  "sharpness --at " + missing + ":seq/1 --top 0",           // k < 1
                                  "sharpness --at " + missing + ":seq/1 --tol 0",  // tol <= 0
                                  "sharpness --at " + missing + ":seq/1 --tol -1e-3",
                                  "sharpness --at " + missing + ":seq/1 --max-iter 0",
                                  "sharpness --at " + missing + ":seq/1 --split validation",
                                  "sharpness --at " + missing + ":seq/1 --dtype bfloat16",
                                  "sharpness --at " + missing + ":seq/1",  // no such run file
                                  "sharpness --along " + missing,          // no such line file
                                  "sharpness --along " + plane,            // not a line scan
                                  "sharpness --along " + text,             // not a scan file
                                  "sharpness --along " + plane + " --every 0"}) {
    const Result r = run(args, cache);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
    EXPECT_EQ(lines(r.out), 1u) << args << "\n" << r.out;
  }
}
