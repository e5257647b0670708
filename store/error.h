// Error types of lorascape, defined in its lowest layer (store/, which every other layer may
// include; docs/architecture.md) and used by all of them. Messages name the file/key at
// fault and end with a hint on how to fix it. They are caught only at the edges: the CLI
// prints one line and exits 2, the GUI shows a dialog.
//
// A library names a setting of its options, not a front end's spelling of it, in backticks:
// "`points` must be >= 2", "set `base` to the base model file". Each front end renders such
// names its way: the CLI as its flags (`max_iter` -> --max-iter, cli_message in cli/common.cpp),
// the app as they stand.
#pragma once

#include <stdexcept>
#include <string>

namespace lorascape {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration file, key or command-line value is invalid.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A dataset file is missing, malformed or empty.
class DataError : public Error {
 public:
  using Error::Error;
};

// A binary file (safetensors, adapter, HDF5) is malformed or does not match the model.
class FormatError : public Error {
 public:
  using Error::Error;
};

// A requested device or feature is not available in this build or on this machine.
class DeviceError : public Error {
 public:
  using Error::Error;
};

}  // namespace lorascape
