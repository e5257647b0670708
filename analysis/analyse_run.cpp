#include "analysis/analyse_run.h"

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "analysis/line_scan.h"
#include "store/error.h"
#include "store/run_file.h"
#include "store/task_roles.h"

namespace lorascape::analysis {

namespace {

// Scores of one complete consecutive-stage scan of tasks 1…t, then "union" (of tasks 1…t−1):
// the old tasks and the new one by the roles the scan stores (text "roles"; a file written
// before roles were stored: tasks 0…t−2 old, t−1 new).
StagePath summarise(const store::ScanData& d, StagePath p) {
  const auto& ts = d.spec.axes.at(0);
  const size_t T = d.spec.tasks.size();
  std::vector<std::string> roles =
      d.text.count("roles") ? store::split_lines(d.text.at("roles")) : std::vector<std::string>{};
  if (roles.size() != T) {
    roles.assign(T, store::kRoleOld);
    roles[T - 2] = store::kRoleNew;
    roles[T - 1] = store::kRoleUnion;
  }
  std::vector<size_t> old_sets;
  size_t neu = T, uni = T;
  for (size_t t = 0; t < T; ++t) {
    if (roles[t] == store::kRoleOld) old_sets.push_back(t);
    if (roles[t] == store::kRoleNew) neu = t;
    if (roles[t] == store::kRoleUnion) uni = t;
  }
  if (old_sets.empty() || neu == T || uni == T) {
    std::string listed;
    for (const auto& r : roles) listed += (listed.empty() ? "" : ", ") + r;
    throw FormatError(p.file + ": the scan's task roles (" + listed +
                      ") do not name old tasks, a new task and their union; delete it and rerun");
  }
  auto at = [&](size_t point, size_t task, size_t score) {
    return d.values[d.value_index(static_cast<int64_t>(point), task, score)];
  };
  auto old = [&](size_t point, size_t score) {
    double sum = 0;
    for (size_t t : old_sets) sum += at(point, t, score);
    return sum / static_cast<double>(old_sets.size());
  };
  auto avg = [&](size_t point, size_t score) {
    return (old(point, score) + at(point, neu, score)) / 2;
  };
  size_t bl = 0, be = 0;
  for (size_t i = 1; i < ts.size(); ++i) {
    if (avg(i, 0) < avg(bl, 0)) bl = i;
    if (avg(i, 2) > avg(be, 2)) be = i;
  }
  const size_t last = ts.size() - 1;
  p.best_t_loss = ts[bl];
  p.best_t_exact = ts[be];
  p.exact_best = avg(be, 2);
  p.exact_old_from = old(0, 2);
  p.exact_old_to = old(last, 2);
  p.exact_new_from = at(0, neu, 2);
  p.exact_new_to = at(last, neu, 2);
  const store::ScanArray b = line_barriers(d);
  const size_t S = d.spec.scores.size();
  p.old_barrier = b.values[uni * S];
  p.new_barrier = b.values[neu * S];
  return p;
}

}  // namespace

std::vector<StagePath> analyse_run(const AnalyseRunOptions& opt, const core::RunConfig& data,
                                   const std::string& command_line) {
  if (opt.points < 2) throw ConfigError("`points` must be >= 2");
  if (opt.out_dir.empty())
    throw ConfigError("`out_dir` (the folder for the scan files) is required");
  const store::RunFileData run = store::read_run_file(opt.run);
  if (run.tasks.size() < 2)
    throw ConfigError(opt.run + ": the run has one task; consecutive stages need at least two");
  std::vector<std::string> methods = opt.methods;
  if (methods.empty())
    for (const auto& m : run.methods) methods.push_back(m.name);
  std::filesystem::create_directories(opt.out_dir);
  std::vector<StagePath> out;
  for (const auto& name : methods) {
    const store::MethodData* m = run.find_method(name);
    if (!m) throw ConfigError(opt.run + ": no method '" + name + "'");
    for (size_t t = 1; t < m->stages.size(); ++t) {
      LineScanOptions line;
      line.scan = opt.scan;
      line.from = opt.run + ":" + name + "/" + std::to_string(t);
      line.to = opt.run + ":" + name + "/" + std::to_string(t + 1);
      line.points = opt.points;
      line.scan.tasks.assign(run.tasks.begin(),
                             run.tasks.begin() + static_cast<std::ptrdiff_t>(t + 1));
      line.scan.union_tasks.assign(run.tasks.begin(),
                                   run.tasks.begin() + static_cast<std::ptrdiff_t>(t));
      line.scan.out =
          opt.out_dir + "/" + name + "-" + std::to_string(t) + "-" + std::to_string(t + 1) + ".h5";
      std::fprintf(stderr, "%s: stage %zu -> %zu\n", name.c_str(), t, t + 1);
      const store::ScanData d = run_line_scan(line, data, command_line);
      if (!d.complete()) continue;  // another shard's share
      StagePath p;
      p.method = name;
      p.stage = static_cast<int>(t + 1);
      p.new_task = run.tasks[t];
      for (size_t i = 0; i < t; ++i) p.old_tasks += (i ? "," : "") + run.tasks[i];
      p.file = line.scan.out;
      out.push_back(summarise(d, p));
    }
  }
  return out;
}

std::string format_stage_paths(const std::vector<StagePath>& paths) {
  std::ostringstream s;
  s << "Lines between consecutive stage minima θ_{t−1} → θ_t (the I-LoRA paper's "
       "mode-connectivity\n"
       "experiment). old = mean over tasks 1…t−1, new = task t, avg = (old + new) / 2, exact "
       "match;\n"
       "barriers are loss barriers (max above the chord) of the old tasks' union and of the new "
       "task.\n\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-10s %-5s %-10s %11s %11s %9s %9s %11s %11s %9s %9s\n", "method",
                "t", "new task", "old@t-1", "new@t-1", "old@t", "new@t", "best t(avg)", "avg there",
                "old barr", "new barr");
  s << buf;
  for (const auto& p : paths) {
    std::snprintf(
        buf, sizeof buf, "%-10s %-5d %-10s %11.3f %11.3f %9.3f %9.3f %11.2f %11.3f %+9.4f %+9.4f\n",
        p.method.c_str(), p.stage, p.new_task.c_str(), p.exact_old_from, p.exact_new_from,
        p.exact_old_to, p.exact_new_to, p.best_t_exact, p.exact_best, p.old_barrier, p.new_barrier);
    s << buf;
  }
  s << "\nbest t(avg) strictly inside (0, 1) means a point between the two minima beats both on "
       "the average of\n"
       "old and new tasks: the minima are linearly connected and interpolating trades plasticity "
       "for stability.\n";
  return s.str();
}

}  // namespace lorascape::analysis
