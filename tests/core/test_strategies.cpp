// The defining rule of each continual-learning method, on a tiny model.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "core/model.h"
#include "core/progress.h"
#include "core/replay.h"
#include "core/strategies.h"
#include "core/train.h"
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
  c.ewc.fisher_batches = 2;
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
    for (int i = 0; i < 8; ++i) batch.push_back(&tasks[1].train[static_cast<size_t>(8 * trial + i)]);
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
  EXPECT_NEAR(s.penalty(ctx.params).item<double>(), 0.5 * 3.0 * fisher_sum * 0.01, 1e-6 * (1 + fisher_sum));
  // A second task adds a second anchor: penalties accumulate.
  ctx.task = 1;
  s.after_task(ctx);
  EXPECT_EQ(s.anchors().size(), 2u);
  EXPECT_GT(s.penalty(ctx.params).item<double>(), 0.5 * 3.0 * fisher_sum * 0.01 - 1e-9);
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
  EXPECT_DOUBLE_EQ(s.loss(ctx, batch).item<double>(), examples_loss(*m, batch, at::kCPU).item<double>());
  ctx.task = 0;
  s.after_task(ctx);
  EXPECT_EQ(s.buffer().size(), 50u);
  EXPECT_EQ(s.buffer().seen(), 64u);
  for (const Example* e : s.buffer().items()) EXPECT_EQ(e->prompt.rfind("weekday:", 0), 0u) << "only past-task examples";
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
    EXPECT_EQ(r.R.size(), 2u) << method;
    for (const auto& row : r.R)
      for (const auto& s : row) EXPECT_TRUE(std::isfinite(s.loss)) << method;
  }
}
