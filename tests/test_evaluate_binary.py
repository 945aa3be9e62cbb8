"""binaries.evaluate end to end on a smoke-trained workdir, and its refusals."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfdis.data import datasets as data
from tfdis.experiments import evaluation
from tfdis.metrics import scores
from tfdis.metrics import stats
from tfdis.metrics import style_preservation
from tfdis.training import config as config_lib
from tfdis.training import steps
from tfdis.training import vae_training as train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("run")
  images, labels = data.load_arrays("mnist", "train")
  test = data.load_arrays("mnist", "test")
  config = config_lib.TrainConfig(hidden_units=32, latent_dim=4, batch_size=32, num_steps=30,
                             log_every=10, checkpoint_every=30, grid_columns=8)
  metrics = train.train_and_evaluate(config, str(workdir),
                                     {"train": (images[:2000], labels[:2000]), "test": test})
  return workdir, metrics


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
  """Shared by the tests of this module, so the smoke classifier is trained once."""
  return tmp_path_factory.mktemp("classifier")


def _evaluate(*args):
  return subprocess.run([sys.executable, "-m", "binaries.evaluate", *args], cwd=REPO, env=ENV,
                        capture_output=True, text=True, timeout=600)


def test_restored_model_reproduces_the_trained_elbo(smoke_run):
  workdir, metrics = smoke_run
  model, config = train.restore_model(str(workdir))
  images, labels = data.load_arrays("mnist", "test")
  again = train.evaluate_elbo(model, images, labels, config.eval_batch_size, config.seed)
  np.testing.assert_allclose(again["elbo"], metrics["test_elbo"], rtol=1e-6)


@pytest.mark.parametrize("transform", ["rotation", "reflection"])
def test_evaluate_writes_numbers_with_intervals_and_grids(smoke_run, classifier_dir, transform):
  workdir, _ = smoke_run
  result = _evaluate("--flagfile=flags/evaluate_smoke.cfg", f"--workdir={workdir}",
                     f"--classifier_dir={classifier_dir}", f"--transform={transform}")
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads((workdir / "evaluation.json").read_text())
  assert report["transform"] == transform
  for part in (report, report["entangled"]):
    for key in ("elbo", "lp", "sp"):
      low, high = part[key]["interval"]
      assert low <= part[key]["value"] <= high, (key, part[key])
    assert set(part["sp"]["per_measurement"]) == {"slant", "thickness", "width", "height", "area"}
    assert np.asarray(part["sp"]["pair_matrix"]).shape == (10, 10)
    assert len(part["lp"]["per_class"]) == 10
  assert report["untrained"]["init_seeds"] == [0, 1]  # flags/scales/smoke_evaluate.cfg
  assert len(report["untrained"]["sp"]["per_init"]) == 2
  # Proposition 1: same ELBO, whatever the transform.
  assert report["entangled"]["max_abs_elbo_difference"] < 1e-2
  np.testing.assert_allclose(report["elbo"]["value"], report["entangled"]["elbo"]["value"],
                             rtol=1e-5)
  for name in ("grid_model.png", "grid_entangled.png", "grids.png"):
    assert (workdir / name).stat().st_size > 0
  # Style scores beside raw SP, each defined or undefined with its reason, and printed so.
  for part in (report, report["entangled"]):
    assert set(part) >= {"sp_on_correct", "null", "style"}
    assert part["sp_on_correct"]["num_z"] == 24
    if part["style"]["defined"]:
      assert part["null"]["resampled"] == "z columns and rotation draws"
      low, high = part["null"]["delta"]["interval"]
      assert low <= part["null"]["delta"]["value"] <= high
    else:
      assert part["style"]["reason"] and part["sp_on_correct"]["value"] is None
  assert len(report["untrained"]["style_per_init"]) == 2
  printed = result.stdout
  assert printed.count("SP (raw)") == 4  # model, entangled, two untrained initialisations
  assert "model: LP" in printed and "entangled: LP" in printed
  assert (("SP on correct samples" in printed and "calibrated scale" in printed)
          or "style scores undefined" in printed)


def test_evaluate_refuses_a_workdir_without_a_run(tmp_path):
  result = _evaluate(f"--workdir={tmp_path}")
  assert result.returncode == 2
  assert "holds no training run" in result.stderr and "Traceback" not in result.stderr


def test_untrained_baseline_starts_where_training_starts():
  """Init k of the baseline is seed + k; the first is the trained run's own starting point."""
  config = config_lib.TrainConfig(hidden_units=32, latent_dim=4, batch_size=32, num_steps=1,
                                  seed=3)
  measure = evaluation.EvaluationConfig(num_z=12, lp_samples_per_class=4, num_bootstrap=20,
                                        untrained_inits=3)
  info = data.info("mnist")
  always_zero = lambda images: np.zeros(len(images), np.int64)  # LP = 1/10 exactly
  untrained = evaluation.measure_untrained(config, info.image_shape, info.num_classes,
                                           always_zero, measure)
  assert untrained["init_seeds"] == [3, 4, 5]
  assert untrained["lp"]["per_init"] == [0.1, 0.1, 0.1]
  for style in untrained["style_per_init"]:  # LP at chance: no style score, and why
    assert not style["style"]["defined"] and "not above 2 x chance" in style["style"]["reason"]
    assert style["sp_on_correct"]["value"] is None and style["null"] is None
  sp = untrained["sp"]["per_init"]
  assert len(set(sp)) == 3  # three different networks
  mean, interval = stats.t_interval(sp)
  assert untrained["sp"]["value"] == pytest.approx(mean)
  np.testing.assert_allclose(untrained["sp"]["interval"], interval)
  images, labels = data.load_arrays("mnist", "train")
  trainer = train.VAETrainer(config, images[:64], labels[:64], info,
                             steps.make_strategy("default"))
  before_training = style_preservation.compute_style_preservation(
      trainer.model.decode_mean, info.num_classes, measure.num_z, config.latent_dim,
      seed=measure.seed + 2, names=scores.measurement_names(info.image_shape),
      num_bootstrap=measure.num_bootstrap)
  assert before_training.value == pytest.approx(sp[0], abs=1e-12)


def test_calibrate_needs_an_output_dir(capsys):
  from absl.testing import flagsaver  # pylint: disable=g-import-not-at-top
  from binaries import evaluate as evaluate_binary  # pylint: disable=g-import-not-at-top
  with flagsaver.flagsaver(calibrate=True, output_dir=""):
    with pytest.raises(SystemExit) as exit_info:
      evaluate_binary.main(["evaluate"])
  assert exit_info.value.code == 2
  assert "--output_dir is required with --calibrate" in capsys.readouterr().err


def test_the_printed_summary_places_sp_on_the_committed_calibration(capsys):
  from binaries import evaluate as evaluate_binary  # pylint: disable=g-import-not-at-top
  from tfdis.metrics import calibration  # pylint: disable=g-import-not-at-top
  table = calibration.read_table()
  sp_at = table["rows"][3]["sp"]["value"]  # rho = 0.6
  entry = lambda v: {"value": v, "interval": [v - 0.01, v + 0.01]}
  model = {"lp": entry(0.97), "sp": dict(entry(0.5), num_z=200),
           "sp_on_correct": dict(entry(sp_at), num_columns=150, num_z=200),
           "null": {"delta": entry(0.45), "sp_null": entry(0.05), "num_draws": 5,
                    "resampled": "z columns and rotation draws"},
           "style": {"defined": True, "reason": ""}}
  untrained = {"lp": entry(0.1), "sp": dict(entry(0.6), num_z=200),
               "sp_on_correct": {"value": None, "interval": [None, None], "num_columns": 0,
                                 "num_z": 200},
               "null": None, "style": {"defined": False, "reason": "LP 0.100 is at chance"}}
  evaluate_binary.print_summary(dict(model, entangled=untrained))
  printed = capsys.readouterr().out
  assert "SP on correct samples 0.392" in printed or f"SP on correct samples {sp_at:.3f}" in printed
  assert "150 of 200 z columns" in printed and "ΔSP 0.450 [0.440, 0.460]" in printed
  assert "rho = 0.60" in printed
  assert "entangled: LP 0.100" in printed and "style scores undefined: LP 0.100 is at chance" in printed


def test_the_printed_summary_of_an_untrained_init_names_only_the_intervals_it_has(capsys):
  from binaries import evaluate as evaluate_binary  # pylint: disable=g-import-not-at-top
  style = {"sp_on_correct": {"value": None, "interval": [None, None], "num_columns": 0,
                             "num_z": 24},
           "null": None, "style": {"defined": False, "reason": "LP at chance"}}
  entry = {"value": 0.3, "interval": [0.25, 0.35]}
  results = {"lp": entry, "sp": dict(entry, num_z=24), **style,
             "untrained": {"init_seeds": [0, 1], "lp": {"per_init": [0.1, 0.1]},
                           "sp": {"per_init": [0.55, None],
                                  "per_init_interval": [[0.5, 0.6], [None, None]]},
                           "style_per_init": [style, style]}}
  evaluate_binary.print_summary(results)
  printed = capsys.readouterr().out
  assert "untrained (init seed 0): LP 0.100\n  SP (raw) 0.550 [0.500, 0.600] (bootstrap 95%" in printed
  assert "untrained (init seed 1): LP 0.100\n  SP (raw) n/a\n  style scores undefined" in printed
