#include "analysis/analyse_run.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "analysis/line_scan.h"
#include "core/run.h"
#include "store/error.h"
#include "store/run_file.h"
#include "store/task_roles.h"

namespace lorascape::analysis {

namespace {

// Scores of one complete consecutive-stage scan of tasks 1…t, then "union" (of tasks 1…t−1):
// the old tasks and the new one by the roles the scan stores (text "roles"; a file written
// before roles were stored: tasks 0…t−2 old, t−1 new).
// A same-stage path's ends learned the same tasks, so it takes the positions (tasks 1…t−1
// old, t new) whatever the stored roles say.
StagePath summarise(const store::ScanData& d, StagePath p) {
  const auto& ts = d.spec.axes.at(0);
  const size_t T = d.spec.tasks.size();
  std::vector<std::string> roles = d.text.count("roles") && p.kind != "same-stage"
                                       ? store::split_lines(d.text.at("roles"))
                                       : std::vector<std::string>{};
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
  // The old tasks as averaged (by role: `one`'s θ_{t−1} learned task t−1 alone).
  p.old_tasks.clear();
  for (size_t t : old_sets) p.old_tasks += (p.old_tasks.empty() ? "" : ",") + d.spec.tasks[t];
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
  // The previous task: the one listed just before the new task (tasks 1…t in order).
  const size_t prev = neu > 0 ? neu - 1 : neu;
  auto prev_avg = [&](size_t point) { return (at(point, prev, 2) + at(point, neu, 2)) / 2; };
  size_t bl = 0, be = 0, bp = 0;
  for (size_t i = 1; i < ts.size(); ++i) {
    if (avg(i, 0) < avg(bl, 0)) bl = i;
    if (avg(i, 2) > avg(be, 2)) be = i;
    if (prev_avg(i) > prev_avg(bp)) bp = i;
  }
  const size_t last = ts.size() - 1;
  p.best_t_loss = ts[bl];
  p.best_t_exact = ts[be];
  p.exact_best = avg(be, 2);
  p.exact_old_from = old(0, 2);
  p.exact_old_to = old(last, 2);
  p.exact_new_from = at(0, neu, 2);
  p.exact_new_to = at(last, neu, 2);
  p.loss_from = avg(0, 0);
  p.loss_to = avg(last, 0);
  p.loss_best = avg(bl, 0);
  p.prev_task = d.spec.tasks[prev];
  p.best_t_prev = ts[bp];
  p.exact_prev_best = prev_avg(bp);
  p.exact_prev_from = at(0, prev, 2);
  p.exact_prev_to = at(last, prev, 2);
  const store::ScanArray b = line_barriers(d);
  const size_t S = d.spec.scores.size();
  p.old_barrier = b.values[uni * S];
  p.new_barrier = b.values[neu * S];
  return p;
}

}  // namespace

namespace {

// One end of an analysed path: a learner of a method in a run file.
struct Learner {
  std::string run;     // run file
  std::string method;  // method name
  std::string key;     // adapter key; "" = the method's reported adapter
  std::string label;   // as given, without the run file: "seq", "ilora/fast"
  size_t stages = 0;   // stages the method has

  std::string ref(size_t stage) const {  // the adapter reference of a 1-based stage
    return run + ":" + method + "/" + std::to_string(stage) + (key.empty() ? "" : "/" + key);
  }
};

// "[RUN.h5:]METHOD[/KEY]", checked against the run file (same tasks as the analysed run).
Learner parse_learner(const std::string& spec, const store::RunFileData& run,
                      const std::string& run_path) {
  Learner l;
  std::string rest = spec;
  const size_t colon = spec.rfind(':');
  if (colon != std::string::npos) {
    l.run = spec.substr(0, colon);
    rest = spec.substr(colon + 1);
  }
  const size_t slash = rest.find('/');
  l.method = rest.substr(0, slash);
  if (slash != std::string::npos) l.key = rest.substr(slash + 1);
  l.label = rest;
  if (l.method.empty() || (slash != std::string::npos && l.key.empty()))
    throw ConfigError("'" + spec + "': expected [RUN.h5:]METHOD[/KEY], e.g. seq or ilora/fast");
  store::RunFileData other;
  const store::RunFileData* r = &run;
  if (!l.run.empty() && l.run != run_path) {
    other = store::read_run_file(l.run, store::TensorSelection::none());
    if (other.tasks != run.tasks)
      throw ConfigError(l.run + ": its task sequence differs from " + run_path +
                        "'s; paths need runs over the same tasks");
    r = &other;
  } else {
    l.run = run_path;
  }
  const store::MethodData* m = r->find_method(l.method);
  if (!m) {
    std::string known;
    for (const auto& x : r->methods) known += (known.empty() ? "" : ", ") + x.name;
    throw ConfigError(l.run + ": no method '" + l.method + "' (it has " + known + ")");
  }
  if (!l.key.empty() && !m->stages.empty() && !m->stages.front().adapters.count(l.key)) {
    std::string keys;
    for (const auto& [k, a] : m->stages.front().adapters) keys += (keys.empty() ? "" : ", ") + k;
    throw ConfigError(l.run + ": method '" + l.method + "' has no learner '" + l.key +
                      "' (its adapters: " + keys + ")");
  }
  l.stages = m->stages.size();
  return l;
}

// "A,B" as two learners.
std::pair<Learner, Learner> parse_pair(const std::string& spec, const char* option,
                                       const store::RunFileData& run, const std::string& run_path) {
  const size_t comma = spec.find(',');
  if (comma == std::string::npos || spec.find(',', comma + 1) != std::string::npos)
    throw ConfigError(std::string(option) + " '" + spec +
                      "': expected two learners A,B, e.g. seq,ilora or ilora/fast,ilora");
  return {parse_learner(spec.substr(0, comma), run, run_path),
          parse_learner(spec.substr(comma + 1), run, run_path)};
}

std::string file_safe(std::string s) {
  for (char& c : s)
    if (c == '/') c = '-';
  return s;
}

}  // namespace

std::vector<StagePath> analyse_run(const AnalyseRunOptions& opt, const core::RunConfig& data,
                                   const std::string& command_line) {
  if (opt.points < 2) throw ConfigError("`points` must be >= 2");
  if (opt.out_dir.empty())
    throw ConfigError("`out_dir` (the folder for the scan files) is required");
  const store::RunFileData run = store::read_run_file(opt.run, store::TensorSelection::none());
  if (run.tasks.size() < 2)
    throw ConfigError(opt.run + ": the run has one task; consecutive stages need at least two");

  // Every path as (kind, from, to, from stage offset): the from end is stage t − offset.
  struct Job {
    std::string kind, label, file_stem;
    Learner from, to;
    size_t offset;
  };
  std::vector<Job> jobs;
  std::vector<std::string> methods = opt.methods;
  if (methods.empty() && opt.cross.empty() && opt.same_stage.empty())
    for (const auto& m : run.methods) methods.push_back(m.name);
  for (const auto& spec : methods) {
    const Learner l = parse_learner(spec, run, opt.run);
    jobs.push_back({"consecutive", l.label, file_safe(l.label), l, l, 1});
  }
  for (const auto& spec : opt.cross) {
    const auto [a, b] = parse_pair(spec, "--cross", run, opt.run);
    jobs.push_back({"cross", a.label + "->" + b.label,
                    file_safe(a.label) + "-to-" + file_safe(b.label), a, b, 1});
  }
  for (const auto& spec : opt.same_stage) {
    const auto [a, b] = parse_pair(spec, "--same-stage", run, opt.run);
    jobs.push_back({"same-stage", a.label + "=" + b.label,
                    file_safe(a.label) + "-vs-" + file_safe(b.label), a, b, 0});
  }

  std::filesystem::create_directories(opt.out_dir);
  std::vector<StagePath> out;
  for (const auto& job : jobs) {
    const size_t stages = std::min(job.from.stages, job.to.stages);
    for (size_t t = 2; t <= stages; ++t) {  // t: the 1-based stage of the path's `to` end
      LineScanOptions line;
      line.scan = opt.scan;
      line.from = job.from.ref(t - job.offset);
      line.to = job.to.ref(t);
      line.points = opt.points;
      line.scan.tasks.assign(run.tasks.begin(), run.tasks.begin() + static_cast<std::ptrdiff_t>(t));
      line.scan.union_tasks.assign(run.tasks.begin(),
                                   run.tasks.begin() + static_cast<std::ptrdiff_t>(t - 1));
      const std::string ends =
          job.offset ? std::to_string(t - 1) + "-" + std::to_string(t) : std::to_string(t);
      line.scan.out = opt.out_dir + "/" + job.file_stem + "-" + ends + ".h5";
      std::fprintf(stderr, "%s: stage %s\n", job.label.c_str(),
                   job.offset ? (std::to_string(t - 1) + " -> " + std::to_string(t)).c_str()
                              : std::to_string(t).c_str());
      const store::ScanData d = run_line_scan(line, data, command_line);
      if (!d.complete()) continue;  // another shard's share
      StagePath p;
      p.method = job.label;
      p.kind = job.kind;
      p.stage = static_cast<int>(t);
      p.new_task = run.tasks[t - 1];
      p.file = line.scan.out;
      out.push_back(summarise(d, p));
    }
  }
  return out;
}

std::string format_stage_paths(const std::vector<StagePath>& paths) {
  std::ostringstream s;
  s << "Lines between stage minima (the I-LoRA paper's mode-connectivity experiment): a learner's "
       "consecutive\n"
       "stages θ_{t−1} → θ_t; A->B: A's θ_{t−1} → B's θ_t; A=B: A's θ_t → B's θ_t. old = mean "
       "over tasks 1…t−1\n"
       "(for `one`: task t−1, the one its θ_{t−1} learned), new = task t, avg = (old + new) / 2,\n"
       "exact match at the path's from and to ends; barriers are loss barriers (max above the "
       "chord) of the\n"
       "old tasks' union and of the new task.\n\n";
  int w = 10;
  for (const auto& p : paths) w = std::max(w, static_cast<int>(p.method.size()));
  char buf[320];
  std::snprintf(buf, sizeof buf, "%-*s %-5s %-10s %11s %11s %9s %9s %11s %11s %9s %9s\n", w, "path",
                "t", "new task", "old@from", "new@from", "old@to", "new@to", "best t(avg)",
                "avg there", "old barr", "new barr");
  s << buf;
  for (const auto& p : paths) {
    std::snprintf(
        buf, sizeof buf, "%-*s %-5d %-10s %11.3f %11.3f %9.3f %9.3f %11.2f %11.3f %+9.4f %+9.4f\n",
        w, p.method.c_str(), p.stage, p.new_task.c_str(), p.exact_old_from, p.exact_new_from,
        p.exact_old_to, p.exact_new_to, p.best_t_exact, p.exact_best, p.old_barrier, p.new_barrier);
    s << buf;
  }
  s << "\nbest t(avg) strictly inside (0, 1) means a point between the two minima beats both on "
       "the average of\n"
       "old and new tasks: the minima are linearly connected and interpolating trades plasticity "
       "for stability.\n";
  return s.str();
}

std::string stage_paths_csv(const std::vector<StagePath>& paths, const std::string& space) {
  std::ostringstream s;
  s << "path,kind,space,t,new_task,old_tasks,exact_old_from,exact_new_from,exact_old_to,"
       "exact_new_to,exact_avg_from,exact_avg_to,best_t_exact,exact_avg_best,exact_gain,"
       "loss_avg_from,loss_avg_to,best_t_loss,loss_avg_best,loss_gain,old_barrier,new_barrier,"
       "prev_task,exact_prev_from,exact_prev_to,best_t_prev,exact_prev_best,prev_gain,file\n";
  s.precision(9);
  for (const auto& p : paths) {
    const double from = (p.exact_old_from + p.exact_new_from) / 2;
    const double to = (p.exact_old_to + p.exact_new_to) / 2;
    const double prev_from = (p.exact_prev_from + p.exact_new_from) / 2;
    const double prev_to = (p.exact_prev_to + p.exact_new_to) / 2;
    // gain: how much the best point beats the better end (exact match: higher is better; loss:
    // lower is better, so the gain is the better end's loss minus the best point's).
    s << core::csv_field(p.method) << ',' << p.kind << ',' << space << ',' << p.stage << ','
      << core::csv_field(p.new_task) << ',' << core::csv_field(p.old_tasks) << ','
      << p.exact_old_from << ',' << p.exact_new_from << ',' << p.exact_old_to << ','
      << p.exact_new_to << ',' << from << ',' << to << ',' << p.best_t_exact << ',' << p.exact_best
      << ',' << p.exact_best - std::max(from, to) << ',' << p.loss_from << ',' << p.loss_to << ','
      << p.best_t_loss << ',' << p.loss_best << ','
      << std::min(p.loss_from, p.loss_to) - p.loss_best << ',' << p.old_barrier << ','
      << p.new_barrier << ',' << core::csv_field(p.prev_task) << ',' << p.exact_prev_from << ','
      << p.exact_prev_to << ',' << p.best_t_prev << ',' << p.exact_prev_best << ','
      << p.exact_prev_best - std::max(prev_from, prev_to) << ',' << core::csv_field(p.file) << '\n';
  }
  return s.str();
}

std::string write_stage_summaries(const std::string& out_dir, const std::vector<StagePath>& paths,
                                  const std::string& space) {
  std::string text = format_stage_paths(paths);
  core::write_text_atomic(out_dir + "/summary.txt", text);
  core::write_text_atomic(out_dir + "/summary.csv", stage_paths_csv(paths, space));
  return text;
}

}  // namespace lorascape::analysis
