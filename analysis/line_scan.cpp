#include "analysis/line_scan.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "analysis/mpi.h"
#include "analysis/path.h"
#include "store/error.h"
#include "store/references.h"

namespace lorascape::analysis {

store::ScanData run_line_scan(const LineScanOptions& opt, const core::RunConfig& data,
                              const std::string& command_line) {
  if (opt.points < 1) throw ConfigError("`points` must be >= 1");
  if (opt.points > 1000000)
    throw ConfigError("`points` is " + std::to_string(opt.points) +
                      ", more than the limit of 1000000 points per line");
  ScanSetup setup = prepare_scan(load_adapter_refs({opt.from, opt.to}), opt.scan, data);
  const std::vector<double> ts = path_ts(opt.points, opt.t0, opt.t1);
  nlohmann::json cfg = setup.identity(opt.scan);
  cfg["points"] = opt.points;
  cfg["range"] = {opt.t0, opt.t1};
  store::ScanData d = open_scan(opt.scan, scan_spec("line", setup, cfg, {ts}), command_line, setup);
  d.text["from"] = store::ref_for_scan(opt.from, opt.scan.out);
  d.text["to"] = store::ref_for_scan(opt.to, opt.scan.out);
  const std::vector<core::Adapter> basis{setup.anchors[0].adapter, setup.anchors[1].adapter};
  d = evaluate_scan(
      setup, opt.scan, std::move(d),
      [&](int64_t p) {
        return combine(opt.scan.space, basis, {1.0 - ts[p], ts[p]});
      },
      "scan line");
  if (finish_path_scan(d) && Mpi::instance().rank() == 0) store::write_scan_file(opt.scan.out, d);
  return d;
}

bool finish_path_scan(store::ScanData& d) {
  if (!d.complete() || d.extras.count("barrier")) return false;
  d.extras["barrier"] = line_barriers(d);
  d.text["summary"] = line_summary(d);
  return true;
}

store::ScanArray line_barriers(const store::ScanData& d) {
  const auto& ts = d.spec.axes.at(0);
  const size_t T = d.spec.tasks.size(), S = d.spec.scores.size();
  store::ScanArray out;
  out.shape = {static_cast<int64_t>(T), static_cast<int64_t>(S)};
  for (size_t t = 0; t < T; ++t)
    for (size_t s = 0; s < S; ++s) {
      const double sign = d.spec.scores[s] == "loss" ? 1.0 : -1.0;
      std::vector<double> v;
      for (size_t p = 0; p < ts.size(); ++p) v.push_back(sign * d.values[(p * T + t) * S + s]);
      try {
        out.values.push_back(barrier(ts, v));
      } catch (const ConfigError&) {
        out.values.push_back(std::numeric_limits<double>::quiet_NaN());  // the range misses 0 or 1
      }
    }
  return out;
}

std::string line_summary(const store::ScanData& d) {
  const auto& ts = d.spec.axes.at(0);
  const size_t T = d.spec.tasks.size(), S = d.spec.scores.size();
  const store::ScanArray b = line_barriers(d);
  auto index = [&](const std::string& score) {
    for (size_t k = 0; k < S; ++k)
      if (d.spec.scores[k] == score) return k;
    throw FormatError("scan has no score '" + score + "'");
  };
  const size_t L = index("loss"), E = index("exact_match");
  std::ostringstream s;
  char buf[200];
  for (size_t t = 0; t < T; ++t) {
    size_t best = 0;
    for (size_t p = 1; p < ts.size(); ++p)
      if (d.values[(p * T + t) * S + L] < d.values[(best * T + t) * S + L]) best = p;
    std::snprintf(
        buf, sizeof buf,
        "%-12s loss barrier %+.4f, lowest loss %.4f at t = %+.3f; exact-match barrier %+.3f\n",
        d.spec.tasks[t].c_str(), b.values[t * S + L], d.values[(best * T + t) * S + L], ts[best],
        b.values[t * S + E]);
    s << buf;
  }
  return s.str();
}

}  // namespace lorascape::analysis
