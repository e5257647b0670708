// Adapter references: stages of run files and PEFT folders, and the same-space check.
#include <gtest/gtest.h>

#include "analysis/adapter_ref.h"
#include "core/adapter.h"
#include "core/run_file_io.h"
#include "store/error.h"
#include "store/run_file.h"
#include "tests/common/test_util.h"
#include "tests/store/sample_run.h"

using namespace lorascape;
using analysis::load_adapter_ref;

namespace {
class AdapterRef : public ::testing::Test {
 protected:
  void SetUp() override { store::write_run_file(h5, test::sample_run()); }
  test::TempDir tmp{"adapter-ref"};
  const std::string h5 = tmp.file("run.h5");
};
}  // namespace

TEST_F(AdapterRef, RunFileStagesByIndexOrTaskAndByKey) {
  const store::RunFileData run = store::read_run_file(h5);
  const auto& ilora = *run.find_method("ilora");
  auto slow = load_adapter_ref(h5 + ":ilora/2");  // default key: the reported one (slow)
  EXPECT_TRUE(slow.adapter.equal(core::from_store(ilora.stages[1].adapters.at("slow"))));
  EXPECT_EQ(slow.info["key"], "slow");
  EXPECT_EQ(slow.info["task"], "arith");
  auto fast = load_adapter_ref(h5 + ":ilora/arith/fast");
  EXPECT_TRUE(fast.adapter.equal(core::from_store(ilora.stages[1].adapters.at("fast"))));
  EXPECT_EQ(fast.lora.rank, 2);
  EXPECT_DOUBLE_EQ(fast.lora.alpha, 4.0);
  EXPECT_EQ(fast.base_model_digest, "sha256:0123456789abcdef");
  // A PEFT folder written from it loads back as the same point.
  const std::string dir = tmp.file("peft");
  core::save_peft_adapter(dir, fast.adapter, fast.lora,
                          {{"base_model_digest", fast.base_model_digest}});
  auto back = load_adapter_ref(dir);
  EXPECT_TRUE(back.adapter.equal(fast.adapter));
  EXPECT_NO_THROW(analysis::check_same_space({slow, fast, back}));
}

TEST_F(AdapterRef, BadReferencesAreOneLineErrors) {
  for (const std::string& bad :
       {h5 + ":nope/1", h5 + ":seq/9", h5 + ":seq/weekday", h5 + ":seq", h5 + ":seq/1/slow",
        h5 + ":ilora/1/x/y", std::string(""), tmp.file("missing-folder")}) {
    try {
      load_adapter_ref(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

TEST_F(AdapterRef, SameSpaceNamesTheReferencesThatDiffer) {
  auto a = load_adapter_ref(h5 + ":seq/1");
  auto b = load_adapter_ref(h5 + ":seq/2");
  auto other_base = b;
  other_base.base_model_digest = "fnv1a:ffff";
  // Rank r−1 (the first rows of A, columns of B), alpha scaled along: the same scale.
  const int64_t r = b.lora.rank - 1;
  ASSERT_GE(r, 1);
  auto other_rank = b;
  std::vector<core::Adapter::Entry> lower, fewer;
  for (const auto& [n, t] : b.adapter.entries()) {
    const bool is_a = n.find(".lora_A.") != std::string::npos;
    lower.emplace_back(n, is_a ? t.narrow(0, 0, r) : t.narrow(1, 0, r));
    if (n.find("q_proj") != std::string::npos) fewer.emplace_back(n, t);
  }
  other_rank.adapter = core::Adapter(lower);
  other_rank.lora.rank = r;
  other_rank.lora.alpha = b.lora.scale() * static_cast<double>(r);
  auto other_targets = b;  // q_proj only
  other_targets.adapter = core::Adapter(fewer);
  other_targets.lora.targets = {"q_proj"};
  auto other_scale = b;
  other_scale.lora.alpha = 2 * b.lora.alpha;
  for (const auto& [what, x] :
       std::vector<std::pair<std::string, analysis::AdapterSource>>{{"base model", other_base},
                                                                    {"rank", other_rank},
                                                                    {"LoRA targets", other_targets},
                                                                    {"LoRA scale", other_scale}}) {
    try {
      analysis::check_same_space({a, x});
      ADD_FAILURE() << what;
    } catch (const ConfigError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
      EXPECT_NE(msg.find(h5 + ":seq/1"), std::string::npos) << msg;
      EXPECT_EQ(msg.find("`space` delta") != std::string::npos, what != "base model") << msg;
    }
    // Delta space takes all but another base model.
    if (what == "base model")
      EXPECT_THROW(analysis::check_same_space({a, x}, "delta"), ConfigError);
    else
      EXPECT_NO_THROW(analysis::check_same_space({a, x}, "delta")) << what;
  }
}
