#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace lorascape::core {

namespace {
bool g_quiet = false;

std::string fmt_time(double s) {
  if (s < 0 || s > 1e7) return "?";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}
}  // namespace

void Progress::set_quiet(bool quiet) {
  g_quiet = quiet;
}

Progress::Progress(std::string label, int64_t total, bool enabled, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total > 0 ? total : 1),
      enabled_(enabled && !g_quiet),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  // Left unfinished (an error is on its way): end the redrawn line, claim nothing.
  if (!finished_ && enabled_ && tty_) std::fputc('\n', stderr);
}

void Progress::update(int64_t done, const std::string& info) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
    last_draw_ = now;
    draw(done, info, false);
  } else {
    const int decile = static_cast<int>(10 * done / total_);
    if (decile == last_decile_ || decile == 10) return;
    last_decile_ = decile;
    draw(done, info, true);
  }
}

void Progress::finish(const std::string& info) {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(total_, info, true);
}

void Progress::draw(int64_t done, const std::string& info, bool final_line) {
  const double el =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = el > 0 ? static_cast<double>(done) / el : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : -1;
  const int width = 24;
  const int fill = static_cast<int>(width * done / total_);
  std::string bar(static_cast<size_t>(fill), '=');
  if (fill < width) bar += '>';
  bar.resize(width, ' ');
  std::fprintf(stderr, "%s%s [%s] %lld/%lld  %s  %.1f %s/s  %s %s%s", tty_ ? "\r\033[K" : "",
               label_.c_str(), bar.c_str(), static_cast<long long>(done),
               static_cast<long long>(total_), info.c_str(), rate, unit_.c_str(),
               done >= total_ ? "took" : "ETA", fmt_time(done >= total_ ? el : eta).c_str(),
               (final_line || !tty_) ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace lorascape::core
