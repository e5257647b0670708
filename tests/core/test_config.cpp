// TOML configuration: defaults, overrides, unknown keys, wrong types, and the shipped files.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/config.h"
#include "core/tasks.h"
#include "store/error.h"
#include "tests/common/test_util.h"

using namespace lorascape;
using namespace lorascape::core;
namespace fs = std::filesystem;

namespace {
std::string write_tmp(const std::string& name, const std::string& text) {
  static const lorascape::test::TempDir dir("config");
  return dir.write(name, text);
}
}  // namespace

TEST(Config, FileOverridesDefaults) {
  const auto p = write_tmp(
      "ok.toml", "seed = 5\n[train]\nlr = 0.01\nbatch = 8\n[lora]\ntargets = [\"q_proj\"]\n");
  RunConfig c = load_config(p);
  EXPECT_EQ(c.seed, 5);
  EXPECT_DOUBLE_EQ(c.train.lr, 0.01);
  EXPECT_EQ(c.train.batch, 8);
  EXPECT_EQ(c.lora.targets, std::vector<std::string>{"q_proj"});
  EXPECT_EQ(c.train.epochs, RunConfig{}.train.epochs);
}

TEST(Config, UnknownKeysAndSectionsAreErrorsNamingFileAndKey) {
  const auto p = write_tmp("bad.toml", "[train]\nlrr = 0.01\n");
  try {
    load_config(p);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(p), std::string::npos) << m;
    EXPECT_NE(m.find("train.lrr"), std::string::npos) << m;
    EXPECT_NE(m.find("train.lr"), std::string::npos) << "hint lists the known keys: " << m;
  }
  const auto q = write_tmp("bad2.toml", "[trian]\nlr = 0.01\n");
  EXPECT_THROW(load_config(q), ConfigError);
}

TEST(Config, WrongTypesAndSyntaxErrorsAreConfigErrors) {
  const auto p = write_tmp("type.toml", "[train]\nbatch = \"big\"\n");
  EXPECT_THROW(load_config(p), ConfigError);
  const auto q = write_tmp("syntax.toml", "[train\nbatch = 3\n");
  EXPECT_THROW(load_config(q), ConfigError);
  EXPECT_THROW(load_config("/nonexistent/x.toml"), ConfigError);
}

TEST(Config, OverridesParseValuesAndListsAndRejectUnknownKeys) {
  RunConfig c;
  apply_override(c, "train.lr=0.5");
  apply_override(c, "tasks.names=topic,arith");
  apply_override(c, "device=cpu");
  apply_override(c, "lora.targets=[\"q_proj\", \"v_proj\"]");
  EXPECT_DOUBLE_EQ(c.train.lr, 0.5);
  EXPECT_EQ(c.tasks.names, (std::vector<std::string>{"topic", "arith"}));
  EXPECT_EQ(c.device, "cpu");
  EXPECT_EQ(c.lora.targets, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_THROW(apply_override(c, "train.nope=1"), ConfigError);
  EXPECT_THROW(apply_override(c, "train.batch=abc"), ConfigError);
  EXPECT_THROW(apply_override(c, "novalue"), ConfigError);
}

TEST(Config, ValidateRejectsBadValues) {
  RunConfig c;
  c.train.schedule = "wobbly";
  EXPECT_THROW(c.validate(), ConfigError);
  c = RunConfig{};
  c.lora.targets = {"x_proj"};
  EXPECT_THROW(c.validate(), ConfigError);
  c = RunConfig{};
  c.model.d_model = 30;  // not a multiple of n_heads = 4
  EXPECT_THROW(c.validate(), ConfigError);
  EXPECT_NO_THROW(RunConfig{}.validate());
}

TEST(Config, ResolvedTomlRoundTrips) {
  RunConfig c;
  c.seed = 9;
  c.tasks.names = {"upper"};
  const auto p = write_tmp("rt.toml", c.to_toml());
  RunConfig back = load_config(p);
  EXPECT_EQ(back.to_json(), c.to_json());
}

// Every shipped config parses, and default.toml states exactly the built-in defaults.
TEST(Config, ShippedConfigsParseAndDefaultMatchesCode) {
  const fs::path dir = fs::path(LORASCAPE_SOURCE_DIR) / "data" / "configs";
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".toml") continue;
    ++n;
    RunConfig c;
    ASSERT_NO_THROW(c = load_config(e.path().string())) << e.path();
    EXPECT_NO_THROW(c.validate()) << e.path();
  }
  EXPECT_GE(n, 1);
  RunConfig d = load_config((dir / "default.toml").string());
  EXPECT_EQ(d.to_json(), RunConfig{}.to_json())
      << "data/configs/default.toml must list the code's defaults";
  // revisit.toml: built-in tasks and their variants, every other key the default.
  RunConfig rv = load_config((dir / "revisit.toml").string());
  ASSERT_EQ(rv.tasks.names.size(), 8u);
  for (const auto& name : rv.tasks.names) EXPECT_TRUE(is_builtin_task(name)) << name;
  rv.tasks.names.clear();
  EXPECT_EQ(rv.to_json(), RunConfig{}.to_json()) << "revisit.toml sets only tasks.names";
}

TEST(Config, OptimizerAndEwcSettingsParseAndValidate) {
  RunConfig c;
  apply_override(c, "train.optimizer=sgd");
  apply_override(c, "ewc.online=true");
  apply_override(c, "ewc.fisher=true");
  apply_override(c, "ewc.fisher_examples=32");
  EXPECT_EQ(c.train.optimizer, "sgd");
  EXPECT_TRUE(c.ewc.online);
  EXPECT_EQ(c.ewc.fisher, "true");
  EXPECT_EQ(c.ewc.fisher_examples, 32);
  c.validate();
  EXPECT_TRUE(config_from_json(c.to_json(), "test").ewc.online);
  EXPECT_NE(c.to_toml().find("online = true"), std::string::npos);
  EXPECT_THROW(apply_override(c, "ewc.online=3"), ConfigError);
  for (const char* bad : {"train.optimizer=adam", "ewc.fisher=fake", "ewc.gamma=1.5"}) {
    RunConfig b;
    apply_override(b, bad);
    try {
      b.validate();
      ADD_FAILURE() << bad << " validated";
    } catch (const ConfigError& e) {
      const std::string key = std::string(bad).substr(0, std::string(bad).find('='));
      EXPECT_NE(std::string(e.what()).find("`" + key + "`"), std::string::npos) << e.what();
    }
  }
}
