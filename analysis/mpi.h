// MPI for scans: `mpirun -n N lorascape scan …` splits a scan's points across N ranks; rank 0
// creates and writes the scan file, the other ranks compute and send their results to it.
// Built with OpenMPI when LORASCAPE_WITH_MPI is on (the default when CMake finds MPI);
// otherwise, and in a process not started by mpirun, every call is the trivial one-rank
// version (rank 0 of 1). No MPI header leaks out of this file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/scan_file.h"

namespace lorascape::analysis {

class Mpi {
 public:
  // The process's communicator: initialised by init(), or one rank.
  static Mpi& instance();
  // Call once at the start of main (MPI_Init when built with MPI and launched by mpirun);
  // finalize() once at the end.
  static void init(int* argc, char*** argv);
  static void finalize();
  static bool built_with_mpi();
  // Ends every rank (MPI_Abort) with `code`; a plain exit without MPI.
  [[noreturn]] static void abort(int code);

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Rank on this node (for picking a GPU: local rank % devices).
  int local_rank() const { return local_rank_; }

  int64_t max_over_ranks(int64_t v) const;
  int64_t sum_over_ranks(int64_t v) const;
  void barrier() const;
  // Collective: every rank's `points` and `values` (values.size() = points.size()·width, the
  // same width on every rank) concatenated in rank order at rank 0; empty elsewhere.
  void gather_to_root(const std::vector<int64_t>& points, const std::vector<double>& values,
                      std::vector<int64_t>& all_points, std::vector<double>& all_values) const;
  // Collective, after rank 0 has written the scan file at `path`: rank 0 returns `d`, the
  // other ranks the file's contents.
  store::ScanData broadcast_scan(const store::ScanData& d, const std::string& path) const;

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool active_ = false;
};

}  // namespace lorascape::analysis
