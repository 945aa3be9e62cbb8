"""What a user's terminal shows: the result line, the settings evaluation.json records, the hint
for a flat generator output, and no TensorFlow start-up noise before a binary's own lines."""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from tfdis.experiments import evaluation
from tfdis.metrics import generator as generator_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_flat_output_is_told_to_reshape_to_an_image():
  flat = lambda y, z: np.full((len(y), 784), 0.5, np.float32)
  with pytest.raises(generator_lib.GeneratorError,
                     match=r"returned shape \(20, 784\).*reshape each flat row to an image, e\.g\. "
                           r"\[20, 28, 28, 1\]"):
    generator_lib.from_callable(flat, 10, 4, name="g")
  grey = lambda y, z: np.full((len(y), 28, 28), 0.5, np.float32)
  with pytest.raises(generator_lib.GeneratorError, match=r"\(20, 28, 28\).*add a channel axis"):
    generator_lib.from_callable(grey, 10, 4, name="g")


def test_the_result_line_gives_intervals_and_the_reference():
  summary = lambda v, lo, hi: {"value": v, "interval": [lo, hi]}
  results = {"lp": summary(0.98765, 0.97, 0.99), "sp": summary(0.546621830695793, 0.5, 0.58),
             "reference": {"sp": summary(-0.0151, -0.025, -0.006), "transform": "rotation"}}
  assert evaluation.result_line(results) == (
      "LP 0.988 [0.970, 0.990] | SP 0.547 [0.500, 0.580] | reference SP -0.015 [-0.025, -0.006] "
      "(z through T_y, rotation)")
  del results["reference"]
  assert evaluation.result_line(results) == "LP 0.988 [0.970, 0.990] | SP 0.547 [0.500, 0.580]"


def test_a_grid_folder_records_only_the_settings_it_uses(tmp_path, monkeypatch):
  rng = np.random.default_rng(0)
  for label in range(10):
    (tmp_path / "grid" / str(label)).mkdir(parents=True)
    for column in range(4):  # a blob whose size is the column's style, for every label
      image = np.zeros((28, 28), np.uint8)
      image[10:14 + 2 * column, 8:12 + 3 * column] = 255
      image[rng.integers(0, 28), rng.integers(0, 28)] = 128
      Image.fromarray(image).save(tmp_path / "grid" / str(label) / f"{column}.png")
  monkeypatch.setattr(evaluation, "load_classifier", lambda dataset, config: (
      lambda images: np.arange(len(images)) // 4, {"test_accuracy": 1.0}))
  config = evaluation.EvaluationConfig(generator=str(tmp_path / "grid"),
                                       output_dir=str(tmp_path / "out"), num_bootstrap=20)
  evaluation.evaluate_generator(config)
  recorded = json.loads((tmp_path / "out" / "evaluation.json").read_text())
  assert "reference" not in recorded
  assert recorded["lp"]["value"] == 1.0  # the fake classifier reads row y as y
  assert sorted(recorded["config"]) == sorted(
      ["num_bootstrap", "seed", "classifier_dir", "classifier_epochs",
       "classifier_steps_per_epoch", "grid_columns", "generator", "dataset", "output_dir"])
  assert sorted(os.listdir(tmp_path / "out")) == ["evaluation.json", "grid_model.png"]


def test_a_binary_prints_its_own_lines_only():
  result = subprocess.run([sys.executable, "-m", "binaries.evaluate", "--workdir=nowhere"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
  assert result.returncode == 2
  assert result.stderr.splitlines() == [
      "error: --workdir=nowhere holds no training run (no config.json); train one first with "
      "python -m binaries.train --workdir=<dir>."]
