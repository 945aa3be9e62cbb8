"""binaries.flag_defs: every flag defined once, whichever binaries a process imports, in any order.
(the flagfile reading of tfdis.flagfiles is tested here too)"""
import json
import os
import subprocess
import sys

from absl import flags
import pytest

from binaries import flag_defs
from tfdis import flagfiles
from tfdis.errors import UsageError
from tfdis.experiments import competition
from tfdis.experiments import regression
from tfdis.training import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
BINARIES = ("train", "evaluate", "regress", "compete", "reproduce", "bench")

_DUMP = """
import importlib, json, sys
from absl import flags
for name in sys.argv[1:]:
  importlib.import_module("binaries." + name)
print(json.dumps({name: [repr(flags.FLAGS[name].default), flags.FLAGS[name].help,
                         type(flags.FLAGS[name]).__name__] for name in flags.FLAGS}))
"""


def _flags_after_importing(order):
  result = subprocess.run([sys.executable, "-c", _DUMP, *order], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_binaries_in_any_order_gives_the_same_flags():
  forward = _flags_after_importing(BINARIES)
  backward = _flags_after_importing(BINARIES[::-1])
  assert forward == backward
  # The shared names that used to depend on the import order, with their one default.
  assert forward["num_hidden_layers"][0] == "2" and forward["num_steps"][0] == "10000"
  assert forward["log_every"][0] == "500" and forward["grid_columns"][0] == "20"
  assert forward["transform"][2] == "EnumFlag"
  for binary in BINARIES:
    for name in flag_defs.flag_names(binary):
      assert name in forward, (binary, name)


@pytest.mark.parametrize("order", [BINARIES, BINARIES[::-1], ("compete", "regress", "train")])
def test_defining_twice_in_one_process_neither_clashes_nor_changes_a_default(order):
  flag_values = flags.FlagValues()
  for binary in order + order:
    flag_defs.define_flags(binary, flag_values)
  specs = flag_defs.flag_specs()
  for name in flag_values:
    assert flag_values[name].default == specs[name].default, name


@pytest.mark.parametrize("binary", [b for b in BINARIES if b != "bench"])
def test_a_binary_given_no_flags_builds_its_config_defaults(binary):
  flag_values = flags.FlagValues()
  flag_defs.define_flags(binary, flag_values)
  flag_values(["prog"])
  config_class = flag_defs.binary_config(binary)
  assert flag_defs.config_from_flags(config_class, flag_values) == config_class()


def test_experiment_configs_hold_the_training_fields_with_one_default():
  train_fields = {f.name for f in config_lib.TrainConfig.__dataclass_fields__.values()}
  for config_class in (regression.RegressionConfig, competition.CompetitionConfig):
    assert train_fields <= set(config_class.__dataclass_fields__)
    assert config_class().hidden_units == 512 and config_class().num_hidden_layers == 2


def test_a_flag_defined_outside_flag_defs_is_refused():
  flag_values = flags.FlagValues()
  flags.DEFINE_integer("hidden_units", 7, "another meaning", flag_values=flag_values)
  with pytest.raises(ValueError, match="--hidden_units is defined outside binaries.flag_defs"):
    flag_defs.define_flags("train", flag_values)


def test_no_binary_defines_or_guards_a_flag_itself():
  """Only binaries/flag_defs.py defines flags."""
  for name in os.listdir(os.path.join(REPO, "binaries")):
    if name.endswith(".py") and name != "flag_defs.py":
      with open(os.path.join(REPO, "binaries", name)) as f:
        source = f.read()
      assert "DEFINE_" not in source and "in flags.FLAGS" not in source, name


def test_competition_settings_the_sweep_sets_are_refused():
  config = flagfiles.config_from_flagfiles(competition.CompetitionConfig,
                                           ["flags/compete_rotation.cfg"])
  assert (config.transform, config.num_hidden_layers, config.seeds, config.seed) == (
      "rotation", 3, 20, 0)
  assert [c.seed for c in config.train_configs("standard", [4, 5])] == [4, 5]
  assert config.train_configs("y_masked", [4])[0].latent_transform == "rotation"
  for override, match in ((dict(encoder_split="all"), "--encoder_split=all: the competition sets"),
                          (dict(num_hidden_layers=2), "--num_hidden_layers=2: the split")):
    with pytest.raises(UsageError, match=match):
      flagfiles.config_from_flagfiles(competition.CompetitionConfig,
                                      ["flags/compete_rotation.cfg"], override).validate()


def test_a_regression_must_describe_its_teachers_networks():
  config = flagfiles.config_from_flagfiles(regression.RegressionConfig, ["flags/regress.cfg"])
  teacher = flagfiles.config_from_flagfiles(config_lib.TrainConfig, ["flags/shared.cfg"])
  config.check_teacher(teacher)
  smoke_teacher = flagfiles.config_from_flagfiles(config_lib.TrainConfig, ["flags/smoke.cfg"])
  with pytest.raises(UsageError,
                     match="--hidden_units=512 differs from the teacher's 16"):
    config.check_teacher(smoke_teacher)


@pytest.mark.parametrize("binary", [b for b in BINARIES if b != "bench"])
def test_every_negative_count_or_seed_is_refused_by_one_validator(binary):
  """Each integer setting of a binary's config (a count, a seed or an index) refuses -1 by name
  (settings that must be positive say so; the rest get the integer kind's one check)."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  from tfdis.errors import UsageError  # pylint: disable=g-import-not-at-top
  config_class = flag_defs.binary_config(binary)
  base = {"scale": "smoke"} if binary == "reproduce" else {}
  names = [f.name for f in dataclasses.fields(config_class) if f.type in (int, "int")]
  assert "seed" in names or binary in ("evaluate", "reproduce")
  for name in names:
    config = config_class(**dict(base, **{name: -1}))
    with pytest.raises(UsageError, match=f"--{name}=-1 (is negative; it is a (seed|count)|"
                                         "must be a positive integer)"):
      config.validate()
