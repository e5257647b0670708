// Training: a short run lowers the loss; same seed and one thread give bit-identical
// adapters; teacher-forced exact match equals greedy-decoding exact match; and a fast,
// reduced version of the suite's two properties (tasks are learnable alone; Seq-LoRA forgets)
// and of its variants' transfer.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/adapter.h"
#include "core/base_model.h"
#include "core/evaluate.h"
#include "core/metrics.h"
#include "core/progress.h"
#include "core/run.h"
#include "core/train.h"
#include "tests/common/fixtures.h"
#include "tests/common/test_util.h"

using namespace lorascape::core;
namespace fs = std::filesystem;

namespace {

// A small model pretrained briefly, once for every test process.
class Training : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Progress::set_quiet(true);
    at::set_num_threads(1);
    base_cfg() = lorascape::test::training_config();
    // Pretrained once for every test process (tests/common/fixtures.h).
    base_path() = lorascape::test::training_base_model();
  }
  static RunConfig& base_cfg() {
    static RunConfig c;
    return c;
  }
  static std::string& base_path() {
    static std::string p;
    return p;
  }
  // The base model with a fresh adapter (seeded).
  Transformer fresh(const RunConfig& c) {
    Transformer m = load_base_model(base_path());
    torch::manual_seed(static_cast<uint64_t>(c.seed));
    m->add_lora(c.lora);
    return m;
  }
  // A run folder inside this test's temporary directory.
  std::string tmpdir(const std::string& name) { return tmp.file(name); }
  lorascape::test::TempDir tmp{::testing::UnitTest::GetInstance()->current_test_info()->name()};
};

}  // namespace

TEST_F(Training, ShortRunLowersLossAndWritesAdapters) {
  RunConfig c = base_cfg();
  c.tasks.names = {"weekday"};
  c.train.steps = 30;
  auto tasks = load_tasks(c);
  Transformer m = fresh(c);
  const double before = evaluate_examples(*m, tasks[0].test, 100, 100).loss;
  const std::string out = tmpdir("short");
  RunResult r = train_continual(c, *m, tasks, out, {});
  EXPECT_LT(r.main().R[0][0].loss, 0.8 * before);
  ASSERT_EQ(r.main().dirs.size(), 1u);
  EXPECT_TRUE(fs::exists(fs::path(out) / r.main().dirs[0] / "adapter_model.safetensors"));
  // The saved adapter reproduces the evaluated scores.
  PeftAdapter pa = load_peft_adapter(out + "/" + r.main().dirs[0]);
  Transformer m2 = fresh(c);
  pa.adapter.load_into(*m2);
  Scores again = evaluate_examples(*m2, tasks[0].test, 100, 100);
  EXPECT_DOUBLE_EQ(again.loss, r.main().R[0][0].loss);
  EXPECT_DOUBLE_EQ(again.exact_match, r.main().R[0][0].exact_match);
}

TEST_F(Training, SameSeedOneThreadIsBitIdentical) {
  RunConfig c = base_cfg();
  c.tasks.names = {"arith", "upper"};
  c.train.steps = 8;
  auto tasks = load_tasks(c);
  Transformer a = fresh(c), b = fresh(c);
  train_continual(c, *a, tasks, tmpdir("det-a"), {});
  train_continual(c, *b, tasks, tmpdir("det-b"), {});
  EXPECT_TRUE(Adapter::from_model(*a).equal(Adapter::from_model(*b)));
  RunConfig c2 = c;
  c2.seed = 2;
  Transformer d = fresh(c2);
  train_continual(c2, *d, load_tasks(c2), tmpdir("det-c"), {});
  EXPECT_FALSE(Adapter::from_model(*a).equal(Adapter::from_model(*d)));
}

TEST_F(Training, TeacherForcedExactMatchEqualsGreedyDecoding) {
  RunConfig c = base_cfg();
  c.tasks.names = {"brackets", "weekday"};
  c.train.steps = 40;
  auto tasks = load_tasks(c);
  Transformer m = fresh(c);
  train_continual(c, *m, tasks, tmpdir("greedy"), {});
  for (const auto& t : tasks) {
    const double tf = evaluate_examples(*m, t.test, 60, 16).exact_match;
    const double gr = greedy_exact_match(*m, t.test, 60);
    EXPECT_DOUBLE_EQ(tf, gr) << t.name;
  }
}

// Reduced version of the suite's properties (docs/task-suite.md has the full numbers).
TEST_F(Training, ReducedSuiteTasksAreLearnableAndSeqLoraForgets) {
  RunConfig c = base_cfg();
  // Two tasks that generalise to their held-out test items (docs/task-suite.md); extract
  // reaches only 0.85 here in 200 steps.
  c.tasks.names = {"weekday", "translate"};
  c.train.steps = 200;
  auto tasks = load_tasks(c);
  Transformer m = fresh(c);
  RunResult r = train_continual(c, *m, tasks, tmpdir("reduced"), {});
  const auto R = r.matrix("exact_match");
  for (size_t i = 0; i < tasks.size(); ++i)
    EXPECT_GE(R[i][i], 0.9) << tasks[i].name << " just after training on it";
  const ClMetrics met = compute_metrics(R, r.base_row("exact_match"));
  EXPECT_LE(met.bwt, -0.2) << "Seq-LoRA must forget earlier tasks";
}

// Reduced version of the variants' transfer (docs/task-suite.md, "Variants"): a task's variant
// (the same tag, rule and answers in a shifted domain) is partly solved zero-shot by the model
// trained on the task, where the base model solves none of it, and is then learned.
TEST_F(Training, ReducedVariantIsPartlySolvedByItsTask) {
  RunConfig c = base_cfg();
  c.train.steps = 200;
  c.tasks.names = {"weekday", "weekday-months"};
  auto tasks = load_tasks(c);
  Transformer m = fresh(c);
  RunResult r = train_continual(c, *m, tasks, tmpdir("variant"), {});
  const auto R = r.matrix("exact_match");
  // Measured: base 0, zero-shot 0.56, trained 1.00.
  EXPECT_LE(r.base_row("exact_match")[1], 0.05);
  EXPECT_GE(R[0][1], 0.2) << "zero-shot on weekday-months after weekday";
  EXPECT_GE(R[1][1], 0.9) << "weekday-months trained";
  EXPECT_GE(R[1][1] - R[0][1], 0.2) << "the variant still has something to learn";
  EXPECT_GT(compute_metrics(R, r.base_row("exact_match")).fwt, 0.2);
}
