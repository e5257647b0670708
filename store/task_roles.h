// What each evaluated task set of a scan is to the adapters the scan is built from: the task
// roles a scan file stores in text "roles" (docs/hdf5-schema.md section 16.1) and the figures
// show. Pure C++ (no torch, no Qt): the analysis engine computes roles when it writes a scan,
// the app and `lorascape plot` read them.
//
// Roles, relative to the scan's first adapter θ₀ (a path's `from`, a plane's first anchor):
//   old       learned by θ₀
//   new       learned by a later adapter (a path's `to`) but not by θ₀
//   future    in the run's task sequence but learned by none of the adapters
//   not-seen  not in the task sequence of any adapter's run (another task of the data)
//   union     the pooled task set "union" (its members: text "union")
//   unknown   the adapters do not say what they learned (a PEFT folder from elsewhere)
// A scan of one adapter (sharpness --at, a random plane) takes the adapter's own stage task as
// new and the tasks it learned before as old, as if it were the `to` end of a path from the
// stage before.
#pragma once

#include <string>
#include <vector>

namespace lorascape::store {

inline constexpr const char* kRoleOld = "old";
inline constexpr const char* kRoleNew = "new";
inline constexpr const char* kRoleFuture = "future";
inline constexpr const char* kRoleNotSeen = "not-seen";
inline constexpr const char* kRoleUnion = "union";
inline constexpr const char* kRoleUnknown = "unknown";

// What one adapter learned: `known` false when it does not say.
struct LearnedTasks {
  bool known = false;
  std::vector<std::string> sequence;  // the run's tasks in training order
  std::vector<std::string> learned;   // the tasks it was trained on, in training order
  std::string own;                    // the task of its stage (the one it learned last)
};

// What the adapter of `method` after stage `stage` (1-based, the task `sequence[stage−1]`)
// learned: every task up to that stage, except for method "one" (a fresh adapter per task),
// which learned only its own. known = false when the stage is outside the sequence.
LearnedTasks learned_at_stage(const std::string& method, int stage,
                              const std::vector<std::string>& sequence);

// The role of each task set in `sets` (task names and "union") for a scan built from these
// adapters (rules above); every task "unknown" when there is no adapter or one of them is not
// known.
std::vector<std::string> task_roles(const std::vector<std::string>& sets,
                                    const std::vector<LearnedTasks>& adapters);

// One entry per line (the layout of text "roles" and "union"), and back; a missing trailing
// newline and an empty text are fine.
std::string join_lines(const std::vector<std::string>& items);
std::vector<std::string> split_lines(const std::string& text);

// How a figure names a role in a legend: "old", "new", "future", "not seen", "unknown".
std::string role_caption(const std::string& role);

}  // namespace lorascape::store
