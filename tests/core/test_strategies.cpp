// The defining rule of each continual-learning method, on a tiny model.
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include "core/model.h"
#include "core/progress.h"
#include "core/replay.h"
#include "core/strategies.h"
#include "core/train.h"
#include "store/error.h"
#include "tests/common/test_util.h"
#include "tests/common/tiny_model.h"

using namespace lorascape;
using namespace lorascape::core;

namespace {
std::vector<Task> two_tasks() {
  SplitSizes s;
  s.train = 64;
  s.eval = 8;
  s.test = 16;
  return builtin_suite(1, s, {"weekday", "arith"});
}

RunConfig tiny_cfg(const std::string& method) {
  RunConfig c;
  c.model = test::tiny_model();
  c.train.method = method;
  c.train.steps = 4;
  c.train.batch = 8;
  c.eval.max_examples = 8;
  c.replay.buffer = 50;
  c.ewc.fisher_examples = 16;
  return c;
}

Transformer tiny_lora(const RunConfig& c) {
  torch::manual_seed(5);
  Transformer m(c.model);
  m->add_lora(c.lora);
  return m;
}
}  // namespace

TEST(Reservoir, KeepsEveryOfferedItemWithEqualProbability) {
  std::vector<Example> items(100);
  std::vector<int> kept(100, 0);
  const int trials = 2000;
  for (int t = 0; t < trials; ++t) {
    ReservoirBuffer buf(10, static_cast<uint64_t>(t) + 1);
    for (auto& e : items) buf.offer(&e);
    ASSERT_EQ(buf.size(), 10u);
    for (const Example* e : buf.items()) ++kept[static_cast<size_t>(e - items.data())];
  }
  // Each item is kept with probability 10/100: expected 200 of 2000, sd ~13.4.
  for (int i = 0; i < 100; ++i) EXPECT_NEAR(kept[static_cast<size_t>(i)], 200, 70) << "item " << i;
  // Early and late items alike (no bias toward the end of the stream).
  int first = 0, last = 0;
  for (int i = 0; i < 50; ++i) first += kept[static_cast<size_t>(i)];
  for (int i = 50; i < 100; ++i) last += kept[static_cast<size_t>(i)];
  EXPECT_NEAR(static_cast<double>(first) / last, 1.0, 0.08);
}

TEST(Reservoir, SampleIsDistinctAndBounded) {
  std::vector<Example> items(5);
  ReservoirBuffer buf(10, 1);
  for (auto& e : items) buf.offer(&e);
  auto s = buf.sample(3);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_NE(s[0], s[1]);
  EXPECT_NE(s[1], s[2]);
  EXPECT_EQ(buf.sample(99).size(), 5u);
}

TEST(Strategies, UnknownMethodIsAConfigErrorListingTheKnownOnes) {
  RunConfig c;
  c.train.method = "nope";
  try {
    make_strategy(c);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("agem"), std::string::npos);
  }
}

TEST(Strategies, AgemProjectionRemovesTheConflictingComponent) {
  at::Tensor g = at::tensor({1.0f, -2.0f, 0.5f});
  at::Tensor ref = at::tensor({0.0f, 1.0f, 1.0f});
  ASSERT_LT(at::dot(g, ref).item<float>(), 0);
  at::Tensor p = AgemStrategy::project(g, ref);
  EXPECT_NEAR(at::dot(p, ref).item<float>(), 0.0f, 1e-6);
  // g - (g.r / r.r) r = (1, -2, .5) - (-1.5 / 2)(0, 1, 1)
  EXPECT_TRUE(at::allclose(p, at::tensor({1.0f, -1.25f, 1.25f})));
  // No conflict: unchanged.
  EXPECT_TRUE(at::equal(AgemStrategy::project(ref, ref), ref));
}

TEST(Strategies, AgemStepGradientNeverConflictsWithTheMemoryGradient) {
  RunConfig c = tiny_cfg("agem");
  c.replay.buffer = 8;  // = batch, so the replay sample is the whole memory
  auto tasks = two_tasks();
  Transformer m = tiny_lora(c);
  AgemStrategy s(c);
  TrainContext ctx{*m, c, tasks, at::kCPU};
  for (auto& [n, p] : m->lora_parameters()) ctx.params.push_back(p);
  ctx.task = 0;
  s.after_task(ctx);  // task 1 examples now in memory
  ASSERT_EQ(s.buffer().size(), 8u);
  auto grad_of = [&](const std::vector<const Example*>& batch) {
    for (auto& p : ctx.params)
      if (p.grad().defined()) p.mutable_grad().zero_();
    examples_loss(*m, batch, at::kCPU).backward();
    std::vector<at::Tensor> parts;
    for (auto& p : ctx.params) parts.push_back(p.grad().reshape({-1}).clone());
    return at::cat(parts);
  };
  int projected = 0;
  for (int trial = 0; trial < 6; ++trial) {
    {
      torch::NoGradGuard ng;
      for (auto& p : ctx.params) p.normal_(0, 0.05);
    }
    const at::Tensor g_ref = grad_of(s.buffer().items());
    std::vector<const Example*> batch;
    for (int i = 0; i < 8; ++i)
      batch.push_back(&tasks[1].train[static_cast<size_t>(8 * trial + i)]);
    const at::Tensor g = grad_of(batch);
    s.after_backward(ctx);  // grads now hold the projected g
    std::vector<at::Tensor> parts;
    for (auto& p : ctx.params) parts.push_back(p.grad().reshape({-1}));
    const at::Tensor out = at::cat(parts);
    const double scale = g.norm().item<double>() * g_ref.norm().item<double>();
    EXPECT_GE(at::dot(out, g_ref).item<double>(), -1e-4 * scale) << "trial " << trial;
    if (at::dot(g, g_ref).item<double>() < 0) {
      ++projected;
      EXPECT_FALSE(at::allclose(out, g)) << "a conflicting gradient must be projected";
    } else {
      EXPECT_TRUE(at::allclose(out, g, 1e-5, 1e-7)) << "a non-conflicting gradient is kept";
    }
  }
  RecordProperty("projected", projected);
}

TEST(Strategies, EwcPenaltyEqualsTheFormula) {
  RunConfig c = tiny_cfg("ewc");
  c.ewc.lambda = 3.0;
  auto tasks = two_tasks();
  Transformer m = tiny_lora(c);
  EwcStrategy s(c);
  TrainContext ctx{*m, c, tasks, at::kCPU};
  for (auto& [n, p] : m->lora_parameters()) ctx.params.push_back(p);
  {
    torch::NoGradGuard ng;
    for (auto& p : ctx.params) p.normal_(0, 0.05);  // B != 0 so every factor has a gradient
  }
  EXPECT_EQ(s.penalty(ctx.params).item<double>(), 0.0);
  ctx.task = 0;
  s.after_task(ctx);
  ASSERT_EQ(s.anchors().size(), 1u);
  // At the anchor the penalty is zero; moving by delta gives lambda/2 * sum F delta^2.
  EXPECT_NEAR(s.penalty(ctx.params).item<double>(), 0.0, 1e-12);
  double fisher_sum = 0;
  for (const auto& f : s.anchors()[0].fisher) {
    EXPECT_GE(f.min().item<double>(), 0.0);
    fisher_sum += f.sum().item<double>();
  }
  EXPECT_GT(fisher_sum, 0.0);
  {
    torch::NoGradGuard ng;
    for (auto& p : ctx.params) p.add_(0.1);
  }
  EXPECT_NEAR(s.penalty(ctx.params).item<double>(), 0.5 * 3.0 * fisher_sum * 0.01,
              1e-6 * (1 + fisher_sum));
  // A second task adds a second anchor: penalties accumulate.
  ctx.task = 1;
  s.after_task(ctx);
  EXPECT_EQ(s.anchors().size(), 2u);
  // (The new anchor is the current point: it adds 0; float32 sums, so the tolerance above.)
  EXPECT_GT(s.penalty(ctx.params).item<double>(),
            0.5 * 3.0 * fisher_sum * 0.01 - 1e-6 * (1 + fisher_sum));
}

TEST(Strategies, ErTrainsOnCurrentPlusAnEqualReplayBatch) {
  RunConfig c = tiny_cfg("er");
  auto tasks = two_tasks();
  Transformer m = tiny_lora(c);
  ErStrategy s(c);
  TrainContext ctx{*m, c, tasks, at::kCPU};
  for (auto& [n, p] : m->lora_parameters()) ctx.params.push_back(p);
  std::vector<const Example*> batch;
  for (int i = 0; i < 8; ++i) batch.push_back(&tasks[1].train[static_cast<size_t>(i)]);
  // Before any task ended: just the current batch.
  EXPECT_DOUBLE_EQ(s.loss(ctx, batch).item<double>(),
                   examples_loss(*m, batch, at::kCPU).item<double>());
  ctx.task = 0;
  s.after_task(ctx);
  EXPECT_EQ(s.buffer().size(), 50u);
  EXPECT_EQ(s.buffer().seen(), 64u);
  for (const Example* e : s.buffer().items())
    EXPECT_EQ(e->prompt.rfind("weekday:", 0), 0u) << "only past-task examples";
  // With memory: the loss differs from the current batch's alone.
  EXPECT_NE(s.loss(ctx, batch).item<double>(), examples_loss(*m, batch, at::kCPU).item<double>());
}

TEST(Strategies, EveryMethodRunsThroughTwoTasks) {
  Progress::set_quiet(true);
  for (const auto& method : method_names()) {
    RunConfig c = tiny_cfg(method);
    auto tasks = two_tasks();
    Transformer m = tiny_lora(c);
    test::TempDir tmp("strategies-" + method);
    RunResult r = train_continual(c, *m, tasks, tmp.path().string(), {});
    EXPECT_EQ(r.main().R.size(), 2u) << method;
    for (const auto& [key, l] : r.learners) {
      ASSERT_EQ(l.dirs.size(), 2u) << method << " " << key;
      EXPECT_TRUE(std::filesystem::exists(tmp.path() / l.dirs[1] / "adapter_model.safetensors"))
          << method;
      for (const auto& row : l.R)
        for (const auto& s : row) EXPECT_TRUE(std::isfinite(s.loss)) << method;
    }
  }
}

namespace {
RunResult train_tiny(RunConfig c, const std::string& tag, Adapter* init = nullptr) {
  Progress::set_quiet(true);
  auto tasks = two_tasks();
  Transformer m = tiny_lora(c);
  if (init) *init = Adapter::from_model(*m);
  test::TempDir tmp("strategies-" + tag);
  return train_continual(c, *m, tasks, tmp.path().string(), {});
}
}  // namespace

TEST(Strategies, OneEvaluatesEveryTaskWithItsOwnFreshAdapter) {
  RunConfig c = tiny_cfg("one");
  RunResult r = train_tiny(c, "one");
  const auto& l = r.main();
  // Task 1 after stage 2 is scored with stage 1's adapter: the very same numbers, so BWT = 0.
  EXPECT_EQ(l.R[1][0].loss, l.R[0][0].loss);
  EXPECT_EQ(l.R[1][0].exact_match, l.R[0][0].exact_match);
  EXPECT_EQ(r.metrics("exact_match").bwt, 0.0);
  // Stage 2 started from a fresh adapter: its A differs from stage 1's, and training 4 steps
  // from a fresh (B = 0) start moves B far less than stage 1's B plus 4 more steps would differ.
  ASSERT_EQ(l.stages.size(), 2u);
  EXPECT_FALSE(l.stages[0].equal(l.stages[1]));
  RunConfig seq = c;
  seq.train.method = "seq";
  RunResult rs = train_tiny(seq, "one-seq");
  EXPECT_TRUE(rs.main().stages[0].equal(l.stages[0]))
      << "the first task is trained exactly like seq";
  EXPECT_FALSE(rs.main().stages[1].equal(l.stages[1]));
}

TEST(Strategies, MtlDrawsFromTheUnionOfAllTasksFromTheStart) {
  RunConfig c = tiny_cfg("mtl");
  auto tasks = two_tasks();
  Transformer m = tiny_lora(c);
  MtlStrategy s(c);
  TrainContext ctx{*m, c, tasks, at::kCPU};
  for (size_t stage = 0; stage < 2; ++stage) {
    ctx.task = stage;
    s.before_task(ctx);
    // 128 draws = one pass over the 128-example union: every example of both tasks once.
    std::map<const Example*, int> seen;
    int weekday = 0;
    for (const Example* e : s.draw(128)) {
      ++seen[e];
      weekday += e->prompt.rfind("weekday:", 0) == 0;
    }
    EXPECT_EQ(seen.size(), 128u) << "stage " << stage;
    EXPECT_EQ(weekday, 64) << "stage " << stage;
  }
}

// MTL gets the replay methods' examples per step: twice the batch (er's current + replay
// batch), drawn from the union.
TEST(Strategies, MtlStepTakesTwiceTheBatch) {
  RunConfig c = tiny_cfg("mtl");
  auto tasks = two_tasks();
  Transformer m = tiny_lora(c);
  MtlStrategy s(c), twin(c), other(c);
  TrainContext ctx{*m, c, tasks, at::kCPU};
  ctx.task = 0;
  for (MtlStrategy* x : {&s, &twin, &other}) x->before_task(ctx);
  const std::vector<const Example*> batch = {&tasks[0].train[0], &tasks[0].train[1],
                                             &tasks[0].train[2], &tasks[0].train[3]};
  torch::NoGradGuard ng;
  const double got = s.loss(ctx, batch).item<double>();
  EXPECT_EQ(got, examples_loss(*m, twin.draw(8), at::kCPU).item<double>());
  // Not the loss of a draw of the batch's size (so the check can fail).
  EXPECT_NE(got, examples_loss(*m, other.draw(4), at::kCPU).item<double>());
}

TEST(Strategies, GemProjectionSatisfiesEveryConstraint) {
  torch::manual_seed(3);
  for (int trial = 0; trial < 20; ++trial) {
    const int64_t k = 1 + trial % 5;
    at::Tensor G = at::randn({k, 40}, at::kDouble);
    at::Tensor g = at::randn({40}, at::kDouble) - 2.0 * G.sum(0);  // conflicts with the memories
    for (double margin : {0.0, 0.5}) {
      at::Tensor p = GemStrategy::project(g, G, margin);
      at::Tensor dots = at::mv(G, p);
      // Satisfied up to the solver's relative precision.
      const double tol = 1e-9 * G.norm().item<double>() * p.norm().item<double>();
      EXPECT_GE(dots.min().item<double>(), -tol) << "trial " << trial << " margin " << margin;
      if (margin == 0) {
        // KKT: the projection is the closest such vector — every constraint that is not
        // tight has a zero multiplier, so g̃ − g lies in the cone of the tight rows only.
        at::Tensor v = std::get<0>(at::linalg_lstsq(G.t(), (p - g).unsqueeze(1))).squeeze(1);
        EXPECT_GE(v.min().item<double>(), -1e-6);
        for (int64_t i = 0; i < k; ++i) {
          if (dots[i].item<double>() > 1e-6) {
            EXPECT_NEAR(v[i].item<double>(), 0.0, 1e-6);
          }
        }
      }
    }
  }
  // No conflict: unchanged.
  at::Tensor G = at::eye(3, at::kDouble), g = at::ones({3}, at::kDouble);
  EXPECT_TRUE(GemStrategy::project(g, G, 0.5).equal(g));
}

TEST(Strategies, GemWithOneMemoryAndNoMarginIsTheAgemProjection) {
  torch::manual_seed(4);
  at::Tensor g_ref = at::randn({30}, at::kDouble), g = -g_ref + 0.3 * at::randn({30}, at::kDouble);
  ASSERT_LT(at::dot(g, g_ref).item<double>(), 0);
  at::Tensor gem = GemStrategy::project(g, g_ref.unsqueeze(0), 0.0),
             agem = AgemStrategy::project(g, g_ref);
  EXPECT_LT((gem - agem).abs().max().item<double>(), 1e-9);
}

TEST(Strategies, GemDualMatchesBruteForceOnSmallQPs) {
  // min ½vᵀPv + qᵀv, v ≥ lower: compare with the best feasible KKT point over all active sets.
  Rng rng(9);
  for (int trial = 0; trial < 30; ++trial) {
    const int n = 1 + trial % 4;
    Eigen::MatrixXd M(n, n + 2);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n + 2; ++j) M(i, j) = rng.uniform() * 2 - 1;
    Eigen::MatrixXd P = M * M.transpose() + 0.1 * Eigen::MatrixXd::Identity(n, n);
    Eigen::VectorXd q(n);
    for (int i = 0; i < n; ++i) q(i) = rng.uniform() * 4 - 2;
    const double lower = trial % 2 ? 0.5 : 0.0;
    auto f = [&](const Eigen::VectorXd& v) { return 0.5 * v.dot(P * v) + q.dot(v); };
    double best = std::numeric_limits<double>::infinity();
    for (int mask = 0; mask < (1 << n); ++mask) {  // mask: free variables
      Eigen::VectorXd v = Eigen::VectorXd::Constant(n, lower);
      std::vector<int> free;
      for (int i = 0; i < n; ++i)
        if (mask >> i & 1) free.push_back(i);
      if (!free.empty()) {
        Eigen::MatrixXd Pf(free.size(), free.size());
        Eigen::VectorXd rhs(free.size());
        for (size_t a = 0; a < free.size(); ++a) {
          rhs(a) = -q(free[a]);
          for (int i = 0; i < n; ++i)
            if (!(mask >> i & 1)) rhs(a) -= P(free[a], i) * lower;
          for (size_t b = 0; b < free.size(); ++b) Pf(a, b) = P(free[a], free[b]);
        }
        Eigen::VectorXd x = Pf.ldlt().solve(rhs);
        for (size_t a = 0; a < free.size(); ++a) v(free[a]) = x(a);
      }
      if ((v.array() >= lower - 1e-12).all()) best = std::min(best, f(v));
    }
    Eigen::VectorXd v = GemStrategy::solve_dual(P, q, lower);
    EXPECT_TRUE((v.array() >= lower).all());
    EXPECT_NEAR(f(v), best, 1e-9 * std::max(1.0, std::abs(best))) << "trial " << trial;
  }
}

TEST(Strategies, OLoraKeepsPastAdaptersFrozenAndStoresTheirSum) {
  RunConfig c = tiny_cfg("olora");
  auto tasks = two_tasks();
  Transformer m = tiny_lora(c);
  test::TempDir tmp("strategies-olora");
  Progress::set_quiet(true);
  RunResult r = train_continual(c, *m, tasks, tmp.path().string(), {});
  const int64_t rank = c.lora.rank;
  const auto& st = r.main().stages;
  ASSERT_EQ(st.size(), 2u);
  for (size_t e = 0; e < st[0].size(); ++e) {
    const auto& [name, t1] = st[0].entries()[e];
    const at::Tensor& t2 = st[1].entries()[e].second;
    const bool is_a = name.find("lora_A") != std::string::npos;
    const int dim = is_a ? 0 : 1;
    ASSERT_EQ(t1.size(dim), 2 * rank) << name << ": stored with rank T·r";
    // Task 1's factors are unchanged by task 2; task 2's slot was zero after stage 1.
    EXPECT_TRUE(t1.narrow(dim, 0, rank).equal(t2.narrow(dim, 0, rank))) << name;
    EXPECT_EQ(t1.narrow(dim, rank, rank).abs().max().item<double>(), 0.0) << name;
    EXPECT_GT(t2.narrow(dim, rank, rank).abs().max().item<double>(), 0.0) << name;
  }
  // The stored sum is the model: a plain LoRA of rank T·r (same scale) gives the same logits.
  at::Tensor ids = encode_examples({&tasks[0].test[0], &tasks[1].test[0]}, c.model.max_seq).input;
  m->eval();
  at::Tensor want = m->forward(ids);
  RunConfig big = c;
  big.lora = lora_config_of(c.lora, st[1]);
  EXPECT_EQ(big.lora.rank, 2 * rank);
  EXPECT_DOUBLE_EQ(big.lora.scale(), c.lora.scale());
  Transformer m2 = tiny_lora(big);
  st[1].load_into(*m2);
  m2->eval();
  EXPECT_LT((m2->forward(ids) - want).abs().max().item<double>(), 1e-5);
  // The past factors of the model itself are those of stage 1.
  for (auto& [name, layer] : m->lora_layers()) {
    const Adapter& s1 = st[0];
    for (const auto& [n, t] : s1.entries()) {
      if (n == name + ".lora_A.weight") {
        EXPECT_TRUE(layer->frozen_A().equal(t.narrow(0, 0, rank)));
      }
    }
  }
}

TEST(Strategies, OLoraPenaltyIsTheL1OfPastTimesNewA) {
  RunConfig c = tiny_cfg("olora");
  c.olora.lambda1 = 0.5;
  c.olora.lambda2 = 0.25;
  Transformer m = tiny_lora(c);
  OLoraStrategy s(c);
  auto tasks = two_tasks();
  TrainContext ctx{*m, c, tasks, at::kCPU};
  ctx.task = 1;
  s.before_task(ctx);  // freezes the current factors and draws new ones
  double want = 0;
  for (auto& [n, layer] : m->lora_layers()) {
    want +=
        0.5 * at::matmul(layer->frozen_A(), layer->lora_A->weight.t()).abs().sum().item<double>();
    want += 0.25 * (layer->lora_A->weight.norm().item<double>() +
                    layer->lora_B->weight.norm().item<double>());
    EXPECT_EQ(layer->lora_B->weight.abs().max().item<double>(), 0.0) << "new B starts at zero";
  }
  EXPECT_NEAR(s.penalty(*m).item<double>(), want, 1e-6 * want);
}

TEST(Strategies, ILoraSlowLearnerIsTheRunningInterpolationOfTheFastOne) {
  RunConfig c = tiny_cfg("ilora");
  c.ilora.lambda = 0.8;
  c.train.snapshot_every = 1;  // the fast adapter after every step
  Adapter init;
  RunResult r = train_tiny(c, "ilora", &init);
  ASSERT_EQ(r.reported, "slow");
  ASSERT_EQ(r.snapshots.size(), 8u);
  // Closed form: slow_0 = init, slow_k = l_k slow_{k-1} + (1 - l_k) fast_k, l_k = min(1 - 1/(k+1),
  // λ).
  Adapter slow = init.clone();
  const auto& slow_stages = r.learners.at("slow").stages;
  const auto& fast_stages = r.learners.at("fast").stages;
  for (size_t k = 1; k <= r.snapshots.size(); ++k) {
    const double l = std::min(1.0 - 1.0 / (static_cast<double>(k) + 1.0), 0.8);
    EXPECT_DOUBLE_EQ(ILoraStrategy::interpolation_weight(static_cast<int64_t>(k), 0.8), l);
    slow.scale(l).axpy(1.0 - l, r.snapshots[k - 1].adapter);
    if (k % 4 == 0) {
      const Adapter& got = slow_stages[k / 4 - 1];
      Adapter diff = got.clone();
      diff.axpy(-1.0, slow);
      EXPECT_LT(diff.norm(), 1e-6 * slow.norm()) << "stage " << k / 4;
      EXPECT_TRUE(r.snapshots[k - 1].adapter.equal(fast_stages[k / 4 - 1]));
    }
  }
  // The slow adapter really moved: away from its start and not equal to the fast one.
  Adapter moved = slow_stages[1].clone();
  moved.axpy(-1.0, init);
  EXPECT_GT(moved.norm(), 1e-4);
  EXPECT_FALSE(slow_stages[1].equal(fast_stages[1]));
  // Both learners are evaluated: separate R matrices.
  EXPECT_EQ(r.learners.at("fast").R.size(), 2u);
  EXPECT_EQ(r.learners.at("slow").R.size(), 2u);
}

TEST(Strategies, ILoraWithoutConsistencyTrainsTheFastLearnerExactlyLikeEr) {
  RunConfig c = tiny_cfg("ilora");
  c.ilora.gamma = 0;
  RunResult il = train_tiny(c, "ilora-g0");
  c.train.method = "er";
  RunResult er = train_tiny(c, "ilora-er");
  for (size_t t = 0; t < 2; ++t)
    EXPECT_TRUE(il.learners.at("fast").stages[t].equal(er.main().stages[t])) << t;
}

TEST(Strategies, ILoraConsistencyPullsOnlyWhereTheSlowStateIsLarger) {
  at::Tensor fast = at::tensor({1.0, 2.0, 3.0, 4.0}, at::kFloat).reshape({1, 2, 2});
  at::Tensor slow = at::tensor({2.0, 1.0, 3.0, 6.0}, at::kFloat).reshape({1, 2, 2});
  at::Tensor valid = at::ones({1, 2});
  // max target: max(fast, slow) - fast = (1, 0, 0, 2) -> mean of squares over 4 = 5/4.
  EXPECT_DOUBLE_EQ(ILoraStrategy::consistency({fast}, {slow}, valid, "max").item<double>(), 1.25);
  // slow target: (1, 1, 0, 2)² / 4 = 6/4.
  EXPECT_DOUBLE_EQ(ILoraStrategy::consistency({fast}, {slow}, valid, "slow").item<double>(), 1.5);
  // Padding rows do not count; the mean runs over layers.
  valid = at::tensor({1.0, 0.0}, at::kFloat).reshape({1, 2});
  EXPECT_DOUBLE_EQ(
      ILoraStrategy::consistency({fast, fast}, {slow, slow}, valid, "max").item<double>(), 0.5);
}

namespace {
// The flat LoRA gradient of log p(answer | prompt) (answer tokens and EOS) of one example,
// computed here from the logits of the whole sequence: no code of EwcStrategy involved.
at::Tensor example_loglik_grad(TransformerImpl& m, const std::vector<at::Tensor>& params,
                               const Example& ex) {
  const EncodedExample enc = m.codec().encode_example(ex, m.config().max_seq);
  const int64_t L = static_cast<int64_t>(enc.ids.size());
  at::Tensor ids = at::tensor(enc.ids, at::kLong).unsqueeze(0);  // (1, L)
  at::Tensor logp = at::log_softmax(m.forward(ids)[0], -1);      // (L, V)
  at::Tensor ll = at::zeros({});
  for (int64_t pos = enc.answer_start; pos < L; ++pos)  // token pos predicted at pos − 1
    ll = ll + logp[pos - 1][enc.ids[static_cast<size_t>(pos)]];
  std::vector<at::Tensor> parts;
  for (const auto& g : torch::autograd::grad({ll}, params)) parts.push_back(g.reshape({-1}));
  return at::cat(parts);
}

at::Tensor flat(const std::vector<at::Tensor>& ts) {
  std::vector<at::Tensor> parts;
  for (const auto& t : ts) parts.push_back(t.reshape({-1}));
  return at::cat(parts);
}

void randomise(std::vector<at::Tensor>& params, double sd) {
  torch::NoGradGuard ng;
  for (auto& p : params) p.normal_(0, sd);  // B != 0 so every factor has a gradient
}
}  // namespace

TEST(Strategies, EwcFisherIsTheMeanOfPerExampleSquaredLogLikelihoodGradients) {
  RunConfig c = tiny_cfg("ewc");
  c.ewc.fisher_examples = 6;
  auto tasks = two_tasks();
  Transformer m = tiny_lora(c);
  EwcStrategy s(c);
  TrainContext ctx{*m, c, tasks, at::kCPU};
  for (auto& [n, p] : m->lora_parameters()) ctx.params.push_back(p);
  randomise(ctx.params, 0.05);
  ctx.task = 0;
  const auto sample = s.fisher_sample(ctx);
  ASSERT_EQ(sample.size(), 6u);
  for (const Example* e : sample) {
    EXPECT_GE(e, tasks[0].train.data());
    EXPECT_LT(e, tasks[0].train.data() + tasks[0].train.size());
  }
  s.after_task(ctx);
  ASSERT_EQ(s.anchors().size(), 1u);
  at::Tensor expected = at::zeros({flat(ctx.params).numel()});
  for (const Example* e : sample) expected += example_loglik_grad(*m, ctx.params, *e).pow(2);
  expected /= 6.0;
  const at::Tensor got = flat(s.anchors()[0].fisher);
  const double scale = expected.abs().max().item<double>();
  ASSERT_GT(scale, 0.0);
  EXPECT_LE((got - expected).abs().max().item<double>(), 1e-4 * scale);
  // Not the square of the batch-mean loss's gradient (the former estimate, ~batch × smaller).
  for (auto& p : ctx.params)
    if (p.grad().defined()) p.mutable_grad().zero_();
  at::Tensor mean_grad = at::zeros_like(expected);
  {
    examples_loss(*m, sample, at::kCPU).backward();
    std::vector<at::Tensor> g;
    for (auto& p : ctx.params) g.push_back(p.grad());
    mean_grad = flat(g).pow(2);
  }
  EXPECT_GT(got.sum().item<double>(), 3 * mean_grad.sum().item<double>());
}

TEST(Strategies, EwcTrueFisherSamplesAnswersFromTheModel) {
  RunConfig c = tiny_cfg("ewc");
  c.ewc.fisher_examples = 4;
  c.ewc.fisher = "true";
  auto tasks = two_tasks();
  Transformer m = tiny_lora(c);
  TrainContext ctx{*m, c, tasks, at::kCPU};
  for (auto& [n, p] : m->lora_parameters()) ctx.params.push_back(p);
  randomise(ctx.params, 0.05);
  EwcStrategy a(c), b(c);
  a.after_task(ctx);
  b.after_task(ctx);
  const at::Tensor fa = flat(a.anchors()[0].fisher), fb = flat(b.anchors()[0].fisher);
  EXPECT_TRUE(at::equal(fa, fb)) << "the run's seed fixes the sampled answers";
  EXPECT_GE(fa.min().item<double>(), 0.0);
  EXPECT_GT(fa.sum().item<double>(), 0.0);
  c.ewc.fisher = "empirical";
  EwcStrategy e(c);
  e.after_task(ctx);
  EXPECT_FALSE(at::allclose(fa, flat(e.anchors()[0].fisher)));
  // The first sampled token follows the model's softmax: frequency of its likeliest token.
  const EncodedExample enc = m->codec().encode_example(tasks[0].train[0], m->config().max_seq);
  const std::vector<int64_t> ctx_ids(enc.ids.begin(), enc.ids.begin() + enc.answer_start);
  at::Tensor probs;
  {
    torch::NoGradGuard ng;
    probs = at::softmax(m->forward(at::tensor(ctx_ids, at::kLong).unsqueeze(0))[0][-1], 0);
  }
  const int64_t top = probs.argmax().item<int64_t>();
  const double p_top = probs[top].item<double>();
  Rng rng(7);
  const int n = 600;
  int hits = 0;
  for (int i = 0; i < n; ++i) {
    const auto y =
        EwcStrategy::sample_answer(*m, ctx_ids, static_cast<int64_t>(ctx_ids.size()) + 1, rng);
    ASSERT_EQ(y.size(), 1u);
    hits += y[0] == top;
  }
  EXPECT_NEAR(hits / double(n), p_top, 4 * std::sqrt(p_top * (1 - p_top) / n) + 1e-3);
  // An unbounded sample stops at the EOS or at max_seq.
  const auto y = EwcStrategy::sample_answer(*m, ctx_ids, m->config().max_seq, rng);
  EXPECT_TRUE(y.back() == m->codec().eos_id() ||
              static_cast<int64_t>(ctx_ids.size() + y.size()) == m->config().max_seq);
}

TEST(Strategies, OnlineEwcDecaysTheOldFisherIntoOneAnchor) {
  RunConfig c = tiny_cfg("ewc");
  c.ewc.fisher_examples = 4;
  c.ewc.lambda = 2.0;
  auto tasks = two_tasks();
  Transformer m = tiny_lora(c);
  TrainContext ctx{*m, c, tasks, at::kCPU};
  for (auto& [n, p] : m->lora_parameters()) ctx.params.push_back(p);
  RunConfig co = c;
  co.ewc.online = true;
  co.ewc.gamma = 0.25;
  EwcStrategy online(co), plain(c);
  randomise(ctx.params, 0.05);
  ctx.task = 0;
  online.after_task(ctx);
  plain.after_task(ctx);
  randomise(ctx.params, 0.05);  // "training" on task 2 moved θ
  ctx.task = 1;
  online.after_task(ctx);
  plain.after_task(ctx);
  ASSERT_EQ(online.anchors().size(), 1u);
  ASSERT_EQ(plain.anchors().size(), 2u);  // F_1 and F_2, each at its own task's end
  const at::Tensor want = 0.25 * flat(plain.anchors()[0].fisher) + flat(plain.anchors()[1].fisher);
  EXPECT_TRUE(at::allclose(flat(online.anchors()[0].fisher), want, 1e-6, 1e-12));
  EXPECT_TRUE(at::equal(flat(online.anchors()[0].theta), flat(ctx.params).detach()));
  // The penalty is λ/2 Σ F (θ − θ*_latest)².
  {
    torch::NoGradGuard ng;
    for (auto& p : ctx.params) p.add_(0.1);
  }
  EXPECT_NEAR(online.penalty(ctx.params).item<double>(),
              0.5 * 2.0 * want.sum().item<double>() * 0.01, 1e-5 * want.sum().item<double>());
}

namespace {
std::vector<Task> three_tasks() {
  SplitSizes s;
  s.train = 96;
  s.eval = 8;
  s.test = 8;
  return builtin_suite(1, s, {"weekday", "arith", "translate"});
}

// The gradient of the mean answer-token cross-entropy over `examples` (all answer tokens of all
// examples weighted alike), from per-example log-likelihoods computed here from the logits.
at::Tensor mean_token_ce_grad(TransformerImpl& m, const std::vector<at::Tensor>& params,
                              const std::vector<const Example*>& examples) {
  at::Tensor nll = at::zeros({});
  int64_t tokens = 0;
  for (const Example* ex : examples) {
    const EncodedExample enc = m.codec().encode_example(*ex, m.config().max_seq);
    at::Tensor logp =
        at::log_softmax(m.forward(at::tensor(enc.ids, at::kLong).unsqueeze(0))[0], -1);
    for (size_t pos = static_cast<size_t>(enc.answer_start); pos < enc.ids.size(); ++pos, ++tokens)
      nll = nll - logp[static_cast<int64_t>(pos) - 1][enc.ids[pos]];
  }
  std::vector<at::Tensor> parts;
  for (const auto& g : torch::autograd::grad({nll / static_cast<double>(tokens)}, params))
    parts.push_back(g.reshape({-1}));
  return at::cat(parts);
}
}  // namespace

TEST(Strategies, GemMemoryGradientIsTheMeanOverTheWholeMemory) {
  RunConfig c = tiny_cfg("gem");
  c.gem.memory = 20;  // batch 8: chunks of 8, 8 and 4
  auto tasks = three_tasks();
  Transformer m = tiny_lora(c);
  GemStrategy s(c);
  TrainContext ctx{*m, c, tasks, at::kCPU};
  for (auto& [n, p] : m->lora_parameters()) ctx.params.push_back(p);
  randomise(ctx.params, 0.05);
  ctx.task = 0;
  s.after_task(ctx);
  ASSERT_EQ(s.memories()[0].size(), 20u);
  const at::Tensor got = s.memory_gradient(ctx, 0);
  const at::Tensor want = mean_token_ce_grad(*m, ctx.params, s.memories()[0]);
  EXPECT_LE((got - want).abs().max().item<double>(), 1e-5 * want.abs().max().item<double>());
}

TEST(Strategies, GemStepWithSgdNeverIncreasesAnyMemoryLossToFirstOrder) {
  RunConfig c = tiny_cfg("gem");
  c.gem.memory = 12;
  c.train.optimizer = "sgd";
  c.train.lr = 0.5;
  ASSERT_EQ(c.gem.margin, 0.0) << "GEM's projection is the default";
  auto tasks = three_tasks();
  Transformer m = tiny_lora(c);
  GemStrategy s(c);
  TrainContext ctx{*m, c, tasks, at::kCPU};
  for (auto& [n, p] : m->lora_parameters()) ctx.params.push_back(p);
  for (size_t t = 0; t < 2; ++t) {
    ctx.task = t;
    s.after_task(ctx);
  }
  int conflicts = 0;
  for (int trial = 0; trial < 20; ++trial) {
    randomise(ctx.params, 0.05);
    std::vector<at::Tensor> mem_grads;
    for (size_t k = 0; k < 2; ++k) mem_grads.push_back(s.memory_gradient(ctx, k));
    auto opt = make_optimizer(c, ctx.params);
    opt->zero_grad();
    std::vector<const Example*> batch;
    for (int i = 0; i < 8; ++i)
      batch.push_back(&tasks[2].train[static_cast<size_t>(4 * trial + i)]);
    examples_loss(*m, batch, at::kCPU).backward();
    std::vector<at::Tensor> g0;
    for (auto& p : ctx.params) g0.push_back(p.grad().clone());
    const at::Tensor g = flat(g0);
    for (const auto& gk : mem_grads) conflicts += at::dot(g, gk).item<double>() < 0;
    const at::Tensor before = flat(ctx.params).detach().clone();
    s.after_backward(ctx);
    opt->step();
    const at::Tensor update = flat(ctx.params).detach() - before;  // −lr · g̃
    for (const auto& gk : mem_grads)
      EXPECT_GE(at::dot(update, -gk).item<double>(),
                -1e-5 * update.norm().item<double>() * gk.norm().item<double>())
          << "trial " << trial;
  }
  RecordProperty("conflicts", conflicts);
  EXPECT_GT(conflicts, 0) << "no trial exercised the projection";
}
