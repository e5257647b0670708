// A progress bar on stderr: "label [=====>    ] 40/100  loss 1.234  12.3 it/s  ETA 0:05"
// (the unit of the rate, "it" by default, is the constructor's `unit`, e.g. "points").
// Redraws in place on a terminal; on a pipe or file it prints a line every 10%.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lorascape::core {

class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled = true, std::string unit = "it");
  ~Progress();
  void update(int64_t done, const std::string& info = "");
  void finish(const std::string& info = "");
  static void set_quiet(bool quiet);  // global switch (tests, --quiet)

 private:
  void draw(int64_t done, const std::string& info, bool final_line);
  std::string label_, unit_;
  int64_t total_;
  bool enabled_, tty_, finished_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace lorascape::core
