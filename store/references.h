// Adapter references stored in scan files (docs/hdf5-schema.md section 16.2): written relative
// to the scan file's folder, so that a folder of run and scan files can be moved or copied
// and still works from any working directory; read back relative to the scan file's folder.
// A reference is "PATH.h5:METHOD/STAGE[/KEY]" (a stage of a run file) or a PEFT folder or
// .safetensors file (analysis/adapter_ref.h); only its path part changes. Pure C++ (no torch,
// no Qt).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace lorascape::store {

// `ref` (as given on the command line, relative to the working directory or absolute) as it is
// stored in the scan file at `scan_path`: its path part relative to the scan file's folder
// ("run.h5:seq/2" for a scan next to the run file, "../run.h5:seq/2" for one in analysis/),
// "./run.h5" and "run.h5" alike; absolute when the two share no folder below the root (a
// scan in /tmp of a run in /work).
std::string ref_for_scan(const std::string& ref, const std::string& scan_path);

// A reference read from the scan file at `scan_path`, as a path usable from the working
// directory: an absolute path part as it is; a relative one joined to the scan file's folder
// when that exists, else (a file written before references were stored this way, relative to
// the working directory it was made in) as it is when that exists; else joined to the folder.
std::string resolve_ref(const std::string& stored, const std::string& scan_path);

// A stored reference of the scan file `from_scan` as the scan file `to_scan` stores it (a merge
// writing its output in another folder).
std::string rebase_ref(const std::string& stored, const std::string& from_scan,
                       const std::string& to_scan);

// The same for a text of one reference per line (anchor_labels, projected_labels, …).
std::string rebase_ref_lines(const std::string& text, const std::string& from_scan,
                             const std::string& to_scan);

// The text entries of a scan file that hold stored references: "adapters", "from", "to", "at",
// "along", "run", "anchor_labels", "projected_labels", "trajectory_labels" (one per line),
// "curve_file".
const std::vector<std::string>& reference_text_keys();

// Rebases every reference text entry of `text` (reference_text_keys) from the scan file
// `from_scan` to `to_scan`.
void rebase_reference_text(std::map<std::string, std::string>& text, const std::string& from_scan,
                           const std::string& to_scan);

}  // namespace lorascape::store
