"""binaries.train end to end, as a user runs it: flagfile, outputs, interruption, bad input."""
import gzip
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _train(*args, timeout=300):
  return subprocess.run([sys.executable, "-m", "binaries.train", *args], cwd=REPO, env=ENV,
                        capture_output=True, text=True, timeout=timeout)


def test_smoke_flagfile_end_to_end(tmp_path):
  workdir = tmp_path / "smoke"
  result = _train("--flagfile=flags/smoke.cfg", f"--workdir={workdir}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "steps/s" in result.stderr and "ETA" in result.stderr  # the progress line
  metrics = json.loads((workdir / "metrics.json").read_text())
  assert metrics["steps"] == 20 and metrics["dataset"] == "mnist"
  assert -700 < metrics["test_elbo"] < -150
  for name in ("samples.png", "reconstructions.png", "saved_model/saved_model.pb"):
    assert (workdir / name).stat().st_size > 0, name
  assert any(f.startswith("events") for f in os.listdir(workdir / "tensorboard"))


def test_multi_worker_strategy_as_a_single_worker_matches_default(tmp_path):
  """Without TF_CONFIG, --strategy=multi_worker is one worker: the same numbers as default."""
  runs = {}
  for strategy in ("default", "multi_worker"):
    workdir = tmp_path / strategy
    result = _train("--flagfile=flags/smoke.cfg", f"--workdir={workdir}", f"--strategy={strategy}",
                    "--num_steps=6")
    assert result.returncode == 0, result.stderr[-3000:]
    runs[strategy] = json.loads((workdir / "metrics.json").read_text())
  assert runs["default"]["steps"] == 6
  np.testing.assert_allclose(runs["multi_worker"]["test_elbo"], runs["default"]["test_elbo"],
                             rtol=1e-5)


def test_interrupt_checkpoints_and_the_same_command_resumes(tmp_path):
  workdir = tmp_path / "run"
  args = ["--flagfile=flags/smoke.cfg", f"--workdir={workdir}", "--num_steps=100000",
          "--checkpoint_every=100000", "--log_every=50"]
  proc = subprocess.Popen([sys.executable, "-m", "binaries.train", *args], cwd=REPO, env=ENV,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 120
  seen = ""
  while time.time() < deadline and "steps/s" not in seen:
    seen += proc.stderr.readline()
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=60)
  assert proc.returncode == 2, err[-2000:]
  assert "Interrupted (SIGTERM)" in err and "run the same command again to resume" in err
  assert "Traceback" not in err
  saved = [f for f in os.listdir(workdir / "checkpoints") if f.endswith(".index")]
  assert len(saved) == 1
  stopped_at = int(saved[0].split("-")[1].split(".")[0])
  assert stopped_at >= 50
  resumed = _train("--flagfile=flags/smoke.cfg", f"--workdir={workdir}",
                   f"--num_steps={stopped_at + 5}", "--checkpoint_every=100000", "--log_every=50")
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert f"at step {stopped_at}" in resumed.stderr
  assert json.loads((workdir / "metrics.json").read_text())["steps"] == stopped_at + 5


def _write_idx(path, array):
  header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def _idx_dir(root, labels, truncate=False):
  root.mkdir()
  images = np.zeros((len(labels), 28, 28), np.uint8)
  for split in ("train", "t10k"):
    _write_idx(root / f"{split}-images-idx3-ubyte.gz", images[:-1] if truncate else images)
    _write_idx(root / f"{split}-labels-idx1-ubyte.gz", np.array(labels))
  if truncate:  # a header that promises more images than the file holds
    path = root / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "rb") as f:
      raw = bytearray(f.read())
    raw[4:8] = len(labels).to_bytes(4, "big")
    with gzip.open(path, "wb") as f:
      f.write(bytes(raw))
  return root


@pytest.mark.parametrize("case", ["unknown_dataset", "bad_enum", "truncated_idx"])
def test_bad_input_is_one_clear_line(case, tmp_path):
  """In a real process: absl's own flag checks, and ours, exit non-zero without a traceback."""
  workdir = f"--workdir={tmp_path / 'w'}"
  if case == "unknown_dataset":
    args, expected = ["--dataset=cifar10", workdir], "Unknown dataset 'cifar10'"
  elif case == "bad_enum":
    args, expected = ["--architecture=transformer", workdir], "value should be one of"
  else:
    folder = _idx_dir(tmp_path / "d", [1] * 8, truncate=True)
    args, expected = [f"--dataset=idx:{folder}", workdir], "truncated or corrupt"
  result = _train("--flagfile=flags/smoke.cfg", *args)
  assert result.returncode != 0
  assert expected in result.stderr, result.stderr[-2000:]
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", ["no_workdir", "unwritable_workdir", "negative_batch",
                                  "bad_label", "bad_split_spec"])
def test_bad_input_exits_2_with_one_line(case, tmp_path, capsys):
  """The same path in-process (binaries.train.main), for the checks that are ours."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl.testing import flagsaver  # pylint: disable=g-import-not-at-top
  from binaries import train as train_binary  # pylint: disable=g-import-not-at-top
  del train_binary  # defines the flags
  blocker = tmp_path / "file"
  blocker.write_text("x")
  workdir = str(tmp_path / "w")
  overrides, expected = {
      "no_workdir": (dict(workdir=None), "--workdir is required"),
      "unwritable_workdir": (dict(workdir=f"{blocker}/run"), "cannot be written"),
      "negative_batch": (dict(batch_size=-3), "--batch_size=-3 must be a positive"),
      "bad_label": (dict(dataset=f"idx:{_idx_dir(tmp_path / 'd', [1, 2, 10, 3])}"),
                    "label 10 at index 2 is outside [0, 10)"),
      "bad_split_spec": (dict(decoder_split="top"), "--decoder_split='top' is not understood"),
  }[case]
  settings = dict(workdir=workdir, hidden_units=8, latent_dim=2, batch_size=2, num_steps=2)
  settings.update(overrides)
  from binaries import train as train_binary  # pylint: disable=g-import-not-at-top,reimported
  with flagsaver.flagsaver(**settings):
    assert flags.FLAGS.batch_size == settings["batch_size"]
    with pytest.raises(SystemExit) as exit_info:
      train_binary.main(["train"])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and expected in err and err.count("\n") == 1, err
