// threads = 0 (auto, core/device.h): the cores other programs leave idle, at least one.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "core/device.h"

using namespace lorascape::core;

TEST(AutoThreads, TheRule) {
  EXPECT_EQ(auto_threads_for(2.0, 2), 2);   // idle machine
  EXPECT_EQ(auto_threads_for(1.75, 2), 2);  // light background work
  EXPECT_EQ(auto_threads_for(1.6, 2), 1);   // one core 40% busy
  EXPECT_EQ(auto_threads_for(1.0, 2), 1);   // one CPU-bound program
  EXPECT_EQ(auto_threads_for(0.0, 2), 1);   // two of them: never 0
  EXPECT_EQ(auto_threads_for(7.9, 4), 4);   // never more than the usable CPUs
  EXPECT_EQ(auto_threads_for(2.8, 8), 3);
  EXPECT_EQ(auto_threads_for(-1, 8), 8);  // /proc/stat unreadable: every core
  EXPECT_EQ(auto_threads_for(0.0, 1), 1);
}

TEST(AutoThreads, BetweenOneAndTheUsableCpus) {
  EXPECT_GE(usable_cpus(), 1);
  const double idle = idle_cpus(50);
  EXPECT_GE(idle, 0.0);
  EXPECT_LE(idle, static_cast<double>(std::thread::hardware_concurrency()) + 1e-9);
  const int n = auto_threads();
  EXPECT_GE(n, 1);
  EXPECT_LE(n, usable_cpus());
}

TEST(AutoThreads, NoIdleCoreWhileEveryCoreIsBusy) {
  // As many spinning threads as the machine has cores: the measurement sees no idle core, so
  // the rule gives one thread.
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (unsigned i = 0; i < std::max(1u, std::thread::hardware_concurrency()); ++i)
    busy.emplace_back([&] {
      volatile unsigned long x = 0;
      while (!stop.load(std::memory_order_relaxed)) x = x + 1;
    });
  const double idle = idle_cpus(100);
  stop = true;
  for (auto& t : busy) t.join();
  EXPECT_LT(idle, 0.7);
  EXPECT_EQ(auto_threads_for(idle, usable_cpus()), 1);
}
