// `lorascape geometry` end to end: PEFT adapters in, tables out, a scan file of kind
// "geometry" with the documented extras, and exit code 2 with one line on bad input.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "core/adapter.h"
#include "store/scan_file.h"
#include "tests/common/cli_util.h"
#include "tests/common/test_util.h"

using namespace lorascape;

namespace {
using Result = lorascape::test::CliResult;
Result run(const std::string& args, const std::string& cache) {
  return lorascape::test::run_cli(args, cache);
}
size_t lines(const std::string& s) {
  return lorascape::test::count_lines(s);
}

class CliGeometry : public ::testing::Test {
 protected:
  // A two-layer, two-target adapter of rank r (in = out = 16), float32 as PEFT files hold.
  std::string adapter(const std::string& name, uint64_t seed, int64_t r = 4, bool nan = false) {
    at::manual_seed(seed);
    std::vector<core::Adapter::Entry> entries;
    for (int layer = 0; layer < 2; ++layer)
      for (const std::string proj : {"q_proj", "v_proj"}) {
        const std::string mod = "model.layers." + std::to_string(layer) + ".self_attn." + proj;
        entries.emplace_back(mod + ".lora_A.weight", at::randn({r, 16}));
        entries.emplace_back(mod + ".lora_B.weight", at::randn({16, r}));
      }
    if (nan) entries[1].second[0][0] = std::nan("");
    core::LoraConfig lora;
    lora.rank = r;
    lora.alpha = 2.0 * static_cast<double>(r);
    lora.targets = {"q_proj", "v_proj"};
    const std::string dir = tmp.file(name);
    core::save_peft_adapter(dir, core::Adapter(std::move(entries)), lora,
                            {{"base_model_digest", "fnv1a:0123"}});
    return dir;
  }
  test::TempDir tmp{::testing::UnitTest::GetInstance()->current_test_info()->name()};
  const std::string cache = tmp.file("cache");
};
}  // namespace

TEST_F(CliGeometry, TablesScanFileAndCsv) {
  const std::string a = adapter("a", 1), b = adapter("b", 2), c = adapter("c", 1);  // c == a
  const std::string out = tmp.file("geo.h5"), csv = tmp.file("geo.csv");
  const Result r =
      run("geometry " + a + " " + b + " " + c + " --out " + out + " --csv " + csv, cache);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* title : {"factor-space distance", "factor-space cosine", "delta-space distance",
                            "delta-space cosine", "input subspaces", "output subspaces"})
    EXPECT_NE(r.out.find(title), std::string::npos) << title << "\n" << r.out;
  EXPECT_NE(r.out.find("3 adapters, 4 modules"), std::string::npos) << r.out;

  const store::ScanData d = store::read_scan_file(out);
  EXPECT_EQ(d.spec.kind, "geometry");
  EXPECT_TRUE(d.complete());
  EXPECT_EQ(d.spec.tasks, std::vector<std::string>{"overall"});
  EXPECT_EQ(d.spec.scores, (std::vector<std::string>{"factor_norm", "delta_norm"}));
  EXPECT_EQ(d.spec.axes, (std::vector<std::vector<double>>{{0, 1, 2}}));
  EXPECT_NE(d.spec.config_json.find(b), std::string::npos);
  for (const std::string k : {"factor_distance", "factor_cosine", "delta_distance", "delta_cosine",
                              "angle_in", "angle_out", "overlap_in", "overlap_out"}) {
    ASSERT_TRUE(d.extras.count(k)) << k;
    EXPECT_EQ(d.extras.at(k).shape, (std::vector<int64_t>{3, 3})) << k;
    ASSERT_TRUE(d.extras.count("module_" + k)) << k;
    EXPECT_EQ(d.extras.at("module_" + k).shape, (std::vector<int64_t>{4, 3, 3})) << k;
  }
  EXPECT_EQ(d.extras.at("rank_in").shape, (std::vector<int64_t>{4, 3}));
  // a and c are the same adapter: distance 0, cosine 1, angles 0; b is elsewhere.
  auto at = [&](const std::string& k, int i, int j) {
    return d.extras.at(k).values.at(static_cast<size_t>(i * 3 + j));
  };
  EXPECT_EQ(at("factor_distance", 0, 2), 0.0);
  EXPECT_NEAR(at("delta_distance", 0, 2), 0.0, 1e-9 * d.values[d.value_index(0, 0, 1)]);
  EXPECT_NEAR(at("delta_cosine", 0, 2), 1.0, 1e-12);
  EXPECT_NEAR(at("angle_in", 0, 2), 0.0, 1e-6);
  EXPECT_GT(at("factor_distance", 0, 1), 1.0);
  EXPECT_GT(at("angle_out", 0, 1), 10.0);
  EXPECT_EQ(d.text.at("labels"), a + "\n" + b + "\n" + c);
  EXPECT_EQ(d.text.at("modules"),
            "model.layers.0.self_attn.q_proj\nmodel.layers.0.self_attn.v_proj\n"
            "model.layers.1.self_attn.q_proj\nmodel.layers.1.self_attn.v_proj");

  // The same command again replaces its own file.
  EXPECT_EQ(run("geometry " + a + " " + b + " " + c + " --out " + out, cache).code, 0);
  EXPECT_EQ(store::read_scan_file(out).spec.kind, "geometry");

  std::ifstream f(csv);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(lines(ss.str()), 1u + 3u * 5u) << ss.str();  // header, 3 pairs × (overall + 4 modules)
}

TEST_F(CliGeometry, BadInputExitsTwoWithOneLine) {
  const std::string a = adapter("a", 1), b = adapter("b", 2);
  for (const std::string& args :
       {"geometry " + a,                                           // fewer than two
        "geometry " + a + " " + tmp.file("missing"),               // no such adapter
        "geometry " + a + " " + adapter("nan", 4, 4, true),        // NaN in the weights
        "geometry " + a + " " + tmp.file("run.h5") + ":seq/1"}) {  // no such run file
    const Result r = run(args, cache);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
    EXPECT_EQ(lines(r.out), 1u) << args << "\n" << r.out;
  }
  EXPECT_EQ(run("geometry " + a + " " + b, cache).code, 0);
  // Another rank compares in delta space and by subspaces; factor metrics are undefined.
  const Result r2 = run("geometry " + a + " " + adapter("r2", 3, 2), cache);
  EXPECT_EQ(r2.code, 0) << r2.out;
  EXPECT_NE(r2.out.find("nan"), std::string::npos) << r2.out;

  // --out never replaces a file that is not a geometry scan (a run file, say).
  const std::string other = tmp.write("run.h5", "not a scan file");
  const Result r = run("geometry " + a + " " + b + " --out " + other, cache);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(lines(r.out), 1u) << r.out;
  std::ifstream f(other);
  std::string text;
  std::getline(f, text);
  EXPECT_EQ(text, "not a scan file");
}
