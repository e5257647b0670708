#include "store/task_roles.h"

#include <algorithm>
#include <sstream>

namespace lorascape::store {

namespace {
bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}
}  // namespace

LearnedTasks learned_at_stage(const std::string& method, int stage,
                              const std::vector<std::string>& sequence) {
  LearnedTasks l;
  if (stage < 1 || stage > static_cast<int>(sequence.size())) return l;
  l.known = true;
  l.sequence = sequence;
  l.own = sequence[static_cast<size_t>(stage - 1)];
  if (method == "one")
    l.learned = {l.own};
  else
    l.learned.assign(sequence.begin(), sequence.begin() + stage);
  return l;
}

std::vector<std::string> task_roles(const std::vector<std::string>& sets,
                                    const std::vector<LearnedTasks>& adapters) {
  bool known = !adapters.empty();
  for (const auto& a : adapters) known = known && a.known;
  // θ₀'s tasks and the later adapters' tasks; one adapter: the stage before it and itself.
  std::vector<std::string> first, later, sequence;
  if (known) {
    for (const auto& a : adapters)
      for (const auto& t : a.sequence)
        if (!contains(sequence, t)) sequence.push_back(t);
    if (adapters.size() == 1) {
      for (const auto& t : adapters[0].learned)
        if (t != adapters[0].own) first.push_back(t);
      later = adapters[0].learned;
    } else {
      first = adapters[0].learned;
      for (size_t i = 1; i < adapters.size(); ++i)
        later.insert(later.end(), adapters[i].learned.begin(), adapters[i].learned.end());
    }
  }
  std::vector<std::string> roles;
  for (const auto& s : sets) {
    if (s == "union")
      roles.emplace_back(kRoleUnion);
    else if (!known)
      roles.emplace_back(kRoleUnknown);
    else if (contains(first, s))
      roles.emplace_back(kRoleOld);
    else if (contains(later, s))
      roles.emplace_back(kRoleNew);
    else if (contains(sequence, s))
      roles.emplace_back(kRoleFuture);
    else
      roles.emplace_back(kRoleNotSeen);
  }
  return roles;
}

std::string join_lines(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& x : items) s += x + "\n";
  return s;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) out.push_back(line);
  return out;
}

std::string role_caption(const std::string& role) {
  return role == kRoleNotSeen ? "not seen" : role;
}

}  // namespace lorascape::store
