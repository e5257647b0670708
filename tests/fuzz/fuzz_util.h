// Shared pieces of the libFuzzer targets (tests/fuzz/README).
//
// Every target feeds its input to one of lorascape's readers. The documented outcome of bad
// input is a lorascape::Error (ConfigError, DataError, FormatError: the CLI prints its one line
// and exits 2); anything else that escapes a reader is a finding: another exception (its
// message names no file, e.g. a bare "std::bad_alloc" or a JSON library message), a crash,
// a sanitizer report, a hang (libFuzzer's -timeout) or an allocation over -rss_limit_mb /
// -malloc_limit_mb. fuzz_guard turns an unexpected exception into an abort that names it.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <typeinfo>

#include "store/error.h"

namespace lorascape::fuzz {

// A private folder for the files a target writes, made once per process and removed at exit.
inline const std::string& work_dir() {
  // Never destroyed: the exit handler that removes the folder runs after static destructors.
  static const std::string* dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    auto* d = new std::string(std::string(tmp && *tmp ? tmp : "/tmp") + "/lorascape-fuzz-XXXXXX");
    if (!::mkdtemp(d->data())) {
      std::perror("lorascape fuzz: mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*dir, ec);
    });
    return d;
  }();
  return *dir;
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!f) {
    std::fprintf(stderr, "lorascape fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

// Runs `body`; a lorascape::Error is the clean outcome, any other exception aborts (a finding).
template <class F>
void fuzz_guard(const char* target, F&& body) {
  try {
    body();
  } catch (const lorascape::Error&) {
    // the documented one-line error
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: an exception that is not a lorascape::Error escaped: %s: %s\n",
                 target, typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "%s: a non-standard exception escaped\n", target);
    std::abort();
  }
}

}  // namespace lorascape::fuzz
