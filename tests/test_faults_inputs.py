"""Inputs a hostile but fair user gives the binaries, each run as its own process.

Every case ends in exactly one `error:` line that names the problem and the fix, exit status 2,
and (where the input is refused) leaves no file or folder that was not there before. The binaries
run as `python -m binaries.<name>` from the repository root with the smoke flags; a fault that
must strike at one point of the run (an interrupt during set-up or export) is placed there by a
wrapper that patches one library function and then runs the binary's module as `__main__`.
"""
import dataclasses
import gzip
import json
import os
import resource
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

from binaries import flag_defs
from tfdis import errors
from tfdis import flagfiles
from tfdis.metrics import generator as generator_lib
from tfdis.training import config as config_lib
from tfdis.training import vae_training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE_FLAGS = ("--flagfile=flags/smoke.cfg",)  # 20 steps, checkpoints at 10 and 20
BINARIES = ("train", "evaluate", "reproduce", "compete", "regress", "bench")


def _env():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _binary(binary, *args, preexec_fn=None):
  """Runs `python -m binaries.<binary> args` from the repository root; the CompletedProcess."""
  return subprocess.run([sys.executable, "-m", f"binaries.{binary}", *args], cwd=REPO,
                        env=_env(), capture_output=True, text=True, timeout=900,
                        preexec_fn=preexec_fn)


def _interrupted(binary, targets, *args):
  """Runs the binary with each of `targets` sending SIGINT to the process itself.

  `targets` maps "module:attribute" (or "module:Class.method") to the call of that function that
  interrupts, before doing its work (1: the first call).
  """
  script = ["import importlib, os, runpy, signal, sys",
            "def patch(module, attribute, at_call):",
            "  owner, _, name = attribute.rpartition('.')",
            "  owner = getattr(importlib.import_module(module), owner) if owner else (",
            "      importlib.import_module(module))",
            "  original, calls = getattr(owner, name), []",
            "  def interrupting(*args, **kwargs):",
            "    calls.append(1)",
            "    if len(calls) == at_call:",
            "      os.kill(os.getpid(), signal.SIGINT)",
            "    return original(*args, **kwargs)",
            "  setattr(owner, name, interrupting)"]
  for target, at_call in targets.items():
    module, attribute = target.split(":")
    script.append(f"patch({module!r}, {attribute!r}, {at_call})")
  script += [f"sys.argv = ['binaries.{binary}'] + {list(args)!r}",
             f"runpy.run_module('binaries.{binary}', run_name='__main__', alter_sys=True)"]
  return subprocess.run([sys.executable, "-c", "\n".join(script)], cwd=REPO, env=_env(),
                        capture_output=True, text=True, timeout=900)


def _one_error_line(result, *fragments):
  """Asserts exit status 2 and one `error:` line holding every fragment, no traceback."""
  err = result.stderr
  lines = [line for line in err.splitlines() if line.startswith("error: ")]
  assert result.returncode == 2, err[-3000:]
  assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


def _tree(folder):
  """Every file and folder under `folder`, as relative paths."""
  found = set()
  for root, dirs, names in os.walk(folder):
    for name in dirs + names:
      found.add(os.path.relpath(os.path.join(root, name), folder))
  return found


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """A finished smoke run (20 steps), trained once in this process for the module."""
  workdir = tmp_path_factory.mktemp("finished") / "run"
  config = flagfiles.config_from_flagfiles(config_lib.TrainConfig,
                                           [os.path.join(REPO, "flags/smoke.cfg")])
  vae_training.train_and_evaluate(config, str(workdir))
  return workdir


@pytest.fixture
def run(finished, tmp_path):
  """A private copy of the finished run."""
  copy = tmp_path / "run"
  shutil.copytree(finished, copy)
  return copy


# absl's own flag errors, in every binary.


def test_a_value_of_the_wrong_type_is_one_line(tmp_path):
  result = _binary("train", *SMOKE_FLAGS, f"--workdir={tmp_path}/run", "--num_steps=1.5")
  _one_error_line(result, "--num_steps=1.5", "give a value of the flag's type",
                  "python -m binaries.train --helpfull")
  assert _tree(tmp_path) == set()


@pytest.mark.parametrize("binary", BINARIES)
def test_an_unknown_flag_is_one_line_in_every_binary(binary, tmp_path):
  result = _binary(binary, f"--workdir={tmp_path}/run", "--lattent_dim=4")
  _one_error_line(result, "Unknown command line flag 'lattent_dim'", "check its spelling",
                  f"python -m binaries.{binary} --helpfull")
  assert _tree(tmp_path) == set()


def test_a_flagfile_that_is_a_folder_is_one_line(tmp_path):
  folder = tmp_path / "flags.cfg"
  folder.mkdir()
  result = _binary("evaluate", f"--flagfile={folder}", f"--workdir={tmp_path}/run")
  _one_error_line(result, f"Flagfile {folder} is a folder", "give the path of a flagfile")
  assert _tree(tmp_path) == {"flags.cfg"}


def test_a_flagfile_line_that_is_no_flag_names_the_file_and_line(tmp_path):
  flagfile = tmp_path / "mine.cfg"
  flagfile.write_text("--flagfile=flags/smoke.cfg\n# a comment\nbatch_size 32\n")
  result = _binary("train", f"--flagfile={flagfile}", f"--workdir={tmp_path}/run")
  _one_error_line(result, f"{flagfile} line 3: 'batch_size 32' is no --flag line",
                  "write it as --batch_size=32")
  assert _tree(tmp_path) == {"mine.cfg"}


def test_a_seed_numpy_cannot_take_is_refused_without_leaving_a_workdir(tmp_path):
  result = _binary("train", *SMOKE_FLAGS, f"--workdir={tmp_path}/run",
                   "--seed=18446744073709551616")
  _one_error_line(result, "--seed=18446744073709551616 is too large for a seed",
                  f"give a number from 0 to {errors.MAX_SEED}")
  assert _tree(tmp_path) == set()  # no workdir, no .lock


def test_every_seed_of_every_config_has_the_upper_bound():
  checked = []
  for binary in ("train", "evaluate", "regress", "compete", "reproduce"):
    config_class = flag_defs.binary_config(binary)
    for field in dataclasses.fields(config_class):
      if errors.is_seed(field.name):
        config = config_class(**{field.name: errors.MAX_SEED + 1})
        with pytest.raises(errors.UsageError, match=f"--{field.name}=2147483648 is too large"):
          config.validate()
        checked.append(field.name)
  assert {"seed", "transform_seed", "judge_seed"} <= set(checked), checked


# An interrupt outside the training loop.


def test_sigint_during_set_up_is_one_line_and_leaves_no_workdir(tmp_path):
  result = _interrupted("train", {"tfdis.data.datasets:load_arrays": 1}, *SMOKE_FLAGS,
                        f"--workdir={tmp_path}/run")
  _one_error_line(result, "Interrupted (SIGINT)", "run the same command again")
  assert _tree(tmp_path) == set()


def test_sigint_during_export_is_one_line_and_keeps_the_earlier_export(run):
  before = (run / "saved_model" / "saved_model.pb").read_bytes()
  result = _interrupted("train", {"tfdis.model.export:export_saved_model": 1}, *SMOKE_FLAGS,
                        f"--workdir={run}")  # a finished run is re-exported
  _one_error_line(result, "Interrupted (SIGINT)", "run the same command again")
  assert (run / "saved_model" / "saved_model.pb").read_bytes() == before
  assert not [n for n in os.listdir(run) if n.startswith("saved_model.")]


def test_two_sigints_in_a_row_are_one_line(tmp_path):
  """The first stops training before step 6; the second while the loop checkpoints step 5."""
  result = _interrupted("train", {"tfdis.training.vae_training:VAETrainer.batch": 6,
                                  "tfdis.training.checkpoints:save": 1},
                        *SMOKE_FLAGS, f"--workdir={tmp_path}/run")
  _one_error_line(result, "Interrupted (SIGINT)", "run the same command again")


# A full disk or a file-size limit.


def _file_size_limit(limit):
  def apply():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
  return apply


def test_a_workdir_that_cannot_be_written_says_free_space_and_leaves_nothing(tmp_path):
  result = _binary("train", *SMOKE_FLAGS, f"--workdir={tmp_path}/run",
                   preexec_fn=_file_size_limit(1))  # the 2-byte write probe fails
  _one_error_line(result, f"--workdir={tmp_path}/run cannot be written (File too large)",
                  "free space on its device")
  assert _tree(tmp_path) == set()  # no .write_probe, no workdir


def test_a_file_size_limit_at_the_first_checkpoint_is_one_line(tmp_path):
  """One smoke checkpoint is about 330 kB: the first one (step 10) cannot be written."""
  workdir = tmp_path / "run"
  result = _binary("train", *SMOKE_FLAGS, f"--workdir={workdir}",
                   preexec_fn=_file_size_limit(200_000))
  _one_error_line(result, "Could not write the checkpoint of step 10", "(File too large)",
                  "one checkpoint takes about 0.3 MiB", "free space",
                  "no earlier checkpoint exists")
  assert os.listdir(workdir / "checkpoints") == []
  assert not (workdir / ".write_probe").exists() and not (workdir / ".lock").exists()


def test_the_partial_write_of_a_killed_checkpoint_is_removed_by_the_next_run(finished, run):
  """kill -9 while TF writes ckpt-30 leaves ckpt-30_temp/ (its files as they were being written)."""
  partial = run / "checkpoints" / "ckpt-30_temp"
  partial.mkdir()
  for path in (run / "checkpoints").glob("ckpt-20.*"):
    shutil.copy(path, partial / path.name.replace("ckpt-20", "part-00000-of-00001"))
  result = _binary("train", *SMOKE_FLAGS, f"--workdir={run}")  # the finished run, re-run
  assert result.returncode == 0, result.stderr[-3000:]
  assert sorted(os.listdir(run / "checkpoints")) == sorted(os.listdir(finished / "checkpoints"))
  assert "partial write of a checkpoint" in result.stderr


def test_the_export_refused_by_a_full_disk_states_the_size_it_needs(run):
  """The smoke SavedModel takes about 0.33 MiB (its graph 0.23 MB, over a 0.2 MB limit)."""
  before = (run / "saved_model" / "saved_model.pb").read_bytes()
  result = _binary("train", *SMOKE_FLAGS, f"--workdir={run}",
                   preexec_fn=_file_size_limit(200_000))  # a finished run is re-exported
  _one_error_line(result, "Could not write the SavedModel", "(File too large)",
                  "it takes about 0.3 MiB", "free space", "the earlier export there is intact")
  assert (run / "saved_model" / "saved_model.pb").read_bytes() == before
  assert not [n for n in os.listdir(run) if n.startswith("saved_model.")]


# Inputs that can be checked before anything is built or trained.


def test_a_model_too_big_for_this_machine_is_refused_before_it_is_built(tmp_path):
  result = _binary("train", *SMOKE_FLAGS, f"--workdir={tmp_path}/run",
                   "--latent_dim=1000000000")
  _one_error_line(result, "--latent_dim=1000000000", "training needs at least",
                  "GiB of memory; lower --latent_dim.")
  assert _tree(tmp_path) == set()


def test_a_one_dimensional_latent_is_refused_up_front(tmp_path):
  result = _binary("train", *SMOKE_FLAGS, f"--workdir={tmp_path}/run", "--latent_dim=1")
  _one_error_line(result, "--latent_dim=1 is too small", "give --latent_dim=2 or more")
  assert _tree(tmp_path) == set()


def _write_idx(path, array):
  header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def test_idx_train_and_test_images_of_two_shapes_are_refused_before_training(tmp_path):
  folder = tmp_path / "digits"
  folder.mkdir()
  rng = np.random.default_rng(0)
  for split, side in (("train", 28), ("t10k", 32)):
    _write_idx(folder / f"{split}-images-idx3-ubyte.gz",
               rng.integers(0, 256, size=(30, side, side)))
    _write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(30) % 10)
  before = _tree(tmp_path)
  result = _binary("train", *SMOKE_FLAGS, f"--workdir={tmp_path}/run", f"--dataset=idx:{folder}")
  _one_error_line(result, f"{folder}: the train images are 28x28 but the test images 32x32",
                  "replace the files that do not belong")
  assert _tree(tmp_path) == before


def test_a_ledger_that_is_a_file_is_refused_at_start(tmp_path):
  ledger = tmp_path / "ledger"
  ledger.write_text("not a folder\n")
  result = _binary("reproduce", "--flagfile=flags/paper.cfg", "--scale=smoke",
                   f"--workdir={tmp_path}/paper", f"--ledger={ledger}")
  _one_error_line(result, f"--ledger={ledger}: {ledger} is a file", "give a folder")
  assert _tree(tmp_path) == {"ledger"}  # no workdir, no progress.json


# A workdir whose files say something other than its checkpoints.

EVALUATE_FLAGS = ("--flagfile=flags/evaluate_smoke.cfg",)


def _evaluate(run):
  return _binary("evaluate", *EVALUATE_FLAGS, f"--workdir={run}",
                 f"--classifier_dir={run}/classifier")


@pytest.mark.parametrize("binary,damage,expected", [
    ("train", "[1, 2]", "it holds a list, not an object of settings"),
    ("evaluate", "sixteen", "hidden_units is 'sixteen', not a whole number")])
def test_a_damaged_config_json_that_parses_is_one_line(binary, damage, expected, run):
  path = run / "config.json"
  if damage == "sixteen":
    path.write_text(path.read_text().replace('"hidden_units": 16', '"hidden_units": "sixteen"'))
  else:
    path.write_text(damage)
  before = _tree(run)
  result = (_binary("train", *SMOKE_FLAGS, f"--workdir={run}") if binary == "train"
            else _evaluate(run))
  _one_error_line(result, f"{path} is damaged ({expected})", "delete it")
  assert _tree(run) == before


def test_checkpoints_of_another_shape_are_a_mismatch_and_the_workdir_stays_usable(finished, run):
  os.remove(run / "config.json")
  before = _tree(run)
  result = _binary("train", *SMOKE_FLAGS, f"--workdir={run}", "--latent_dim=8")
  _one_error_line(result, "hold a model of other shapes than these flags build",
                  "give the flags it was trained with")
  assert "damaged" not in result.stderr
  assert _tree(run) == before  # no config.json of the refused flags
  result = _binary("train", *SMOKE_FLAGS, f"--workdir={run}")  # the run's own command
  assert result.returncode == 0, result.stderr[-3000:]
  assert (run / "config.json").read_text() == (finished / "config.json").read_text()


def test_retraining_leaves_no_result_of_the_earlier_model(run):
  assert _evaluate(run).returncode == 0
  assert json.loads((run / "evaluation.json").read_text())["steps"] == 20
  shutil.rmtree(run / "checkpoints")
  result = _binary("train", *SMOKE_FLAGS, f"--workdir={run}", "--num_steps=10")
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads((run / "metrics.json").read_text())["steps"] == 10
  stale = ("evaluation.json", "grid_model.png", "grid_entangled.png", "grids.png")
  assert not [name for name in stale if (run / name).exists()]
  old = run / "superseded" / "step_20"
  assert json.loads((old / "evaluation.json").read_text())["steps"] == 20
  assert json.loads((old / "metrics.json").read_text())["steps"] == 20


# Anyone's generator, given to binaries.evaluate --generator.


def _evaluate_generator(generator, output_dir):
  return _binary("evaluate", *EVALUATE_FLAGS, f"--generator={generator}",
                 f"--output_dir={output_dir}", "--dataset=mnist")


def _grid_folder(path):
  rng = np.random.default_rng(0)
  generator_lib.write_grid_folder(rng.uniform(size=(10, 3, 28, 28, 1)), str(path))


@pytest.mark.parametrize("damage,expected", [
    ("leading_zero", "3 holds '00.png'"),
    ("random_bytes", "3/1.png is not a PNG image"),
    ("text", "3/1.png is not a PNG image"),
    ("empty", "3 is empty")])
def test_a_damaged_grid_folder_is_one_line_before_any_image_is_read(damage, expected, tmp_path):
  grid = tmp_path / "grid"
  _grid_folder(grid)
  column = grid / "3" / "1.png"
  if damage == "leading_zero":
    os.rename(grid / "3" / "0.png", grid / "3" / "00.png")
  elif damage == "random_bytes":
    column.write_bytes(np.random.default_rng(1).bytes(300))
  elif damage == "text":
    column.write_text("not an image\n")
  else:
    shutil.rmtree(grid / "3")
    (grid / "3").mkdir()
  before = _tree(tmp_path)
  result = _evaluate_generator(grid, tmp_path / "out")
  _one_error_line(result, f"{grid}/{expected}")
  assert _tree(tmp_path) == before


def test_a_truncated_saved_model_is_one_line(run, tmp_path):
  model = tmp_path / "model"
  shutil.copytree(run / "saved_model", model)
  data = next((model / "variables").glob("variables.data-*"))
  data.write_bytes(data.read_bytes()[:50_000])
  before = _tree(tmp_path)
  result = _evaluate_generator(model, tmp_path / "out")
  _one_error_line(result, f"{model} is not a loadable SavedModel", "damaged or incomplete",
                  "export it again")
  assert _tree(tmp_path) == before


def _keras_generator(path, order):
  """A .keras generator whose inputs are named y (one-hot) and z, in `order`."""
  keras.utils.set_random_seed(0)
  inputs = {"y": keras.Input((10,), name="y"), "z": keras.Input((10,), name="z")}
  joined = keras.layers.Concatenate()([inputs["y"] * 3.0, inputs["z"] * 0.3])
  pixels = keras.layers.Dense(784, activation="sigmoid")(joined)
  model = keras.Model([inputs[name] for name in order], keras.layers.Reshape((28, 28, 1))(pixels))
  model.save(path)


def test_a_keras_generator_s_inputs_are_matched_by_name(tmp_path):
  """The same generator with inputs (z, y) and (y, z): the same scores."""
  scores = {}
  for order in (("z", "y"), ("y", "z")):
    name = "".join(order)
    _keras_generator(tmp_path / f"{name}.keras", order)
    result = _evaluate_generator(tmp_path / f"{name}.keras", tmp_path / name)
    assert result.returncode == 0, result.stderr[-3000:]
    scores[name] = json.loads((tmp_path / name / "evaluation.json").read_text())
  for key in ("lp", "sp"):
    assert scores["zy"][key]["value"] == scores["yz"][key]["value"], key
  # The same images: z was not fed as y (which would change every pixel of the grid).
  assert (tmp_path / "zy" / "grid_model.png").read_bytes() == (
      tmp_path / "yz" / "grid_model.png").read_bytes()
