"""Faults a user meets, driven through the real binaries on a smoke run (issue #17's groups).

Each test asserts the exit status, the one `error:` line (no traceback) and that earlier results
are intact. The binaries run in-process (`binaries.<name>.main`, as absl calls it, with the smoke
flags) except where the fault needs its own process (a file-size limit).
"""
import dataclasses
import errno
import filecmp
import importlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from unittest import mock

from absl.testing import flagsaver
import numpy as np
import pytest
import tensorflow as tf

from binaries import evaluate as evaluate_binary  # noqa: F401  (defines its flags)
from binaries import train as train_binary  # noqa: F401  (defines its flags)
from tfdis import flagfiles
from tfdis import files
from tfdis.experiments import evaluation
from tfdis.training import config as config_lib
from tfdis.training import steps
from tfdis.training import vae_training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMOKE = dataclasses.asdict(flagfiles.config_from_flagfiles(
    config_lib.TrainConfig, [os.path.join(REPO, "flags/smoke.cfg")]))  # 20 steps, ckpt every 10
EVALUATE_SMOKE = dataclasses.asdict(flagfiles.config_from_flagfiles(
    evaluation.EvaluationConfig, [os.path.join(REPO, "flags/evaluate_smoke.cfg")]))


def _main(binary, capsys, **settings):
  """Runs binaries.<binary> as absl would; returns (exit status, stderr)."""
  module = importlib.import_module(f"binaries.{binary}")
  with flagsaver.flagsaver(**settings):
    try:
      module.main([binary])
      code = 0
    except SystemExit as e:
      code = e.code
  return code, capsys.readouterr().err


def _train(capsys, workdir, **overrides):
  return _main("train", capsys, **dict(SMOKE, workdir=str(workdir), **overrides))


def _evaluate(capsys, workdir):
  """binaries.evaluate at the smoke scale (its classifier in the workdir, if it gets that far)."""
  return _main("evaluate", capsys, **dict(EVALUATE_SMOKE, workdir=str(workdir),
                                          classifier_dir=str(workdir / "classifier")))


def _one_error_line(err, *fragments):
  lines = [line for line in err.splitlines() if line.startswith("error: ")]
  assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """A finished smoke run (20 steps, checkpoints at 10 and 20), trained once for the module."""
  workdir = tmp_path_factory.mktemp("finished") / "run"
  config = config_lib.TrainConfig(**SMOKE)
  vae_training.train_and_evaluate(config, str(workdir))
  return workdir


@pytest.fixture
def run(finished, tmp_path):
  """A private copy of the finished run."""
  copy = tmp_path / "run"
  shutil.copytree(finished, copy)
  return copy


def _same_files(a, b, names=("metrics.json", "config.json")):
  for name in names:
    assert filecmp.cmp(a / name, b / name, shallow=False), name


@pytest.mark.parametrize("damage", ["truncated_data", "state_names_deleted_files"])
def test_a_damaged_latest_checkpoint_falls_back_in_train_and_evaluate(damage, finished, run,
                                                                      capsys, caplog):
  directory = run / "checkpoints"
  # tests/test_loop.py damages checkpoints every other way; here, the binaries' paths.
  if damage == "truncated_data":
    data = next(directory.glob("ckpt-20.data-*"))
    data.write_bytes(data.read_bytes()[:100])
  else:
    for path in directory.glob("ckpt-20.*"):
      path.unlink()
  model, _ = vae_training.restore_model(str(run))  # what binaries.evaluate restores
  assert np.isfinite(model.weights[0].numpy()).all()
  os.remove(run / "metrics.json")
  code, err = _train(capsys, run)
  assert code == 0, err[-3000:]
  _same_files(run, finished)  # resumed from step 10 to the same 20-step numbers
  if damage == "truncated_data":
    assert "ckpt-20 is damaged" in caplog.text
    assert (directory / "damaged" / "ckpt-20.index").exists()


def test_every_checkpoint_damaged_is_one_line_in_evaluate(run, capsys):
  for path in (run / "checkpoints").glob("ckpt-*.index"):
    path.write_bytes(b"\0" * 10)
  code, err = _evaluate(capsys, run)
  assert code == 2
  _one_error_line(err, "Every checkpoint in", "is damaged (steps 20, 10)", "delete that folder")


def test_a_failed_checkpoint_write_keeps_the_earlier_one_and_resumes(finished, tmp_path, capsys):
  """A real write failure: a 200 kB file-size limit (one smoke checkpoint is about 320 kB)."""
  workdir = tmp_path / "run"
  shutil.copytree(finished, workdir)
  for path in (workdir / "checkpoints").glob("ckpt-20.*"):
    path.unlink()
  os.remove(workdir / "metrics.json")

  def limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

  command = [sys.executable, "-m", "binaries.train", "--flagfile=flags/smoke.cfg",
             f"--workdir={workdir}"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  failed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, preexec_fn=limit_file_size)
  assert failed.returncode == 2, failed.stderr[-3000:]
  _one_error_line(failed.stderr, "Could not write the checkpoint of step 20", "File too large",
                  "MiB", "the checkpoint of step 10 is intact")
  assert sorted(os.listdir(workdir / "checkpoints")) == [
      "checkpoint", "ckpt-10.data-00000-of-00001", "ckpt-10.index"]
  code, err = _train(capsys, workdir)
  assert code == 0, err[-3000:]
  _same_files(workdir, finished)


def test_a_full_disk_while_exporting_keeps_the_finished_results(finished, run, capsys):
  full = tf.errors.ResourceExhaustedError(None, None, "saved_model.pb; No space left on device")
  with mock.patch.object(tf.saved_model, "save", side_effect=full):
    code, err = _train(capsys, run)  # re-running a finished run re-exports it
  assert code == 2
  _one_error_line(err, "Could not write the SavedModel", "(No space left on device)", "MiB",
                  "the earlier export there is intact")
  _same_files(run, finished)
  assert filecmp.cmp(run / "saved_model/saved_model.pb", finished / "saved_model/saved_model.pb",
                     shallow=False)
  assert not [n for n in os.listdir(run) if n.startswith("saved_model.")]


def test_a_full_disk_while_writing_results_is_one_line(finished, run, capsys):
  full = OSError(errno.ENOSPC, "No space left on device")
  with mock.patch.object(files, "write_text", side_effect=full):
    code, err = _train(capsys, run)  # re-running a finished run rewrites its result files
  assert code == 2
  _one_error_line(err, "No space left on the device", "run the same command again")
  _same_files(run, finished)


@pytest.mark.parametrize("binary", ["train", "evaluate"])
def test_a_truncated_config_json_is_one_line(binary, run, capsys):
  text = (run / "config.json").read_text()
  (run / "config.json").write_text(text[:len(text) // 2])
  code, err = _train(capsys, run) if binary == "train" else _evaluate(capsys, run)
  assert code == 2
  _one_error_line(err, "config.json is damaged", "delete it")


def test_a_damaged_tfds_shard_is_one_line(tmp_path, capsys):
  prepared = os.path.join(os.path.expanduser("~"), ".cache/tfdis/tensorflow_datasets/mnist")
  tfds_dir = tmp_path / "tfds"
  shutil.copytree(prepared, tfds_dir / "mnist")
  shard = sorted((tfds_dir / "mnist").rglob("mnist-train.tfrecord*"))[0]  # decoded first
  shard.write_bytes(shard.read_bytes()[:5000])
  code, err = _train(capsys, tmp_path / "run", tfds_dir=str(tfds_dir))
  assert code == 2
  _one_error_line(err, f"{tfds_dir}/mnist is damaged", "delete that folder")


def test_nan_weights_are_refused_by_evaluate(run, capsys):
  model, _ = vae_training.restore_model(str(run))
  for weight in model.weights:
    weight.assign(tf.fill(weight.shape, np.nan))
  tf.train.CheckpointManager(steps.model_checkpoint(model), str(run / "checkpoints"),
                             max_to_keep=None).save(checkpoint_number=30)
  code, err = _evaluate(capsys, run)
  assert code == 2
  _one_error_line(err, "checkpoint of step 30", "NaN or infinite weights", "new --workdir")


@pytest.mark.parametrize("learning_rate,num_steps,expected", [
    (1e2, 20, "The run diverged (batch ELBO"),
    (1e39, 1, "NaN or infinite by step 1")])
def test_a_diverging_run_stops_without_results(learning_rate, num_steps, expected, tmp_path,
                                               capsys):
  workdir = tmp_path / "run"
  code, err = _train(capsys, workdir, learning_rate=learning_rate, num_steps=num_steps)
  assert code == 2
  _one_error_line(err, expected, "no results were written", "lower --learning_rate")
  assert not (workdir / "metrics.json").exists()
  if list((workdir / "checkpoints").glob("ckpt-*.index")):  # whatever was kept is finite
    model, _ = vae_training.restore_model(str(workdir))
    assert all(np.isfinite(w.numpy()).all() for w in model.weights)


def test_fewer_steps_than_the_workdir_holds_is_refused_before_anything_is_written(
    finished, run, capsys):
  code, err = _train(capsys, run, num_steps=5)
  assert code == 2
  _one_error_line(err, "trained for 20 steps, more than --num_steps=5", "--num_steps=20")
  _same_files(run, finished)  # config.json still says 20 steps


def test_a_flagfile_that_includes_itself_is_refused(tmp_path, capsys):
  flagfile = tmp_path / "self.cfg"
  flagfile.write_text(f"--flagfile={flagfile}\n--num_steps=3\n")
  with mock.patch.object(sys, "argv", ["train", f"--flagfile={flagfile}"]):
    code, err = _train(capsys, tmp_path / "run")
  assert code == 2
  _one_error_line(err, f"Flagfile {flagfile} includes itself", "remove that --flagfile line")
  assert not (tmp_path / "run" / "config.json").exists()


@pytest.mark.parametrize("binary", ["train", "evaluate"])
def test_a_second_process_on_a_busy_workdir_is_refused(binary, finished, run, capsys):
  with files.lock(str(run), "binaries.train"):  # a training process holds the folder
    code, err = _train(capsys, run) if binary == "train" else _evaluate(capsys, run)
  assert code == 2
  _one_error_line(err, f"Another binaries.{binary} is running in --workdir={run}")
  _same_files(run, finished)


def test_results_a_continued_run_replaces_are_moved_aside_first(finished, run, capsys, caplog):
  with mock.patch.object(vae_training.VAETrainer, "batch", side_effect=KeyboardInterrupt):
    code, err = _train(capsys, run, num_steps=30)  # continued, then stopped part-way
  assert code == 2
  _one_error_line(err, "Interrupted", "run the same command again to resume")
  assert not (run / "metrics.json").exists() and not (run / "saved_model").exists()
  old = run / "superseded" / "step_20"
  assert json.loads((old / "metrics.json").read_text())["steps"] == 20
  assert (old / "saved_model" / "saved_model.pb").exists()
  assert "results of step 20" in caplog.text


def test_a_setting_the_model_refuses_leaves_no_config_behind(tmp_path, capsys):
  workdir = tmp_path / "run"
  code, err = _train(capsys, workdir, encoder_split="bogus")
  assert code == 2
  _one_error_line(err, "--encoder_split='bogus'")
  assert not (workdir / "config.json").exists()  # the corrected command is not refused
