"""Sec. 3 regression experiment: statistics on known curves, the dataset, training, the binary."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfdis.data import datasets as data
from tfdis.model import vae as model_lib
from tfdis.model import networks
from tfdis.experiments import regression
from tfdis.training import config as config_lib
from tfdis.training import vae_training as train
from tfdis.model import transforms as transforms_lib
from tfdis.errors import UsageError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
# Sizes that all differ, so a swapped axis fails: H=6, W=5, D=3, hidden 7, N=40, batch 8.
TINY = dict(image_shape=(6, 5, 1), num_classes=10, latent_dim=3, architecture="mlp",
            hidden_units=7)


# --- Statistics on known curves. ---


def test_steps_to_fraction_finds_the_known_step():
  steps = [0, 10, 20, 30, 40, 50]
  losses = [10.0, 8.0, 5.0, 1.95, 1.0, 1.0]
  # L0 = 10, L_final = 1 (last 2), threshold 10 - 0.9 * 9 = 1.9: first reached at step 40.
  assert regression.steps_to_fraction(steps, losses, 0.9, final_window=2) == 40.0
  # Half way (threshold 5.5) is reached at step 20.
  assert regression.steps_to_fraction(steps, losses, 0.5, final_window=2) == 20.0
  # A curve that never descends has no convergence step.
  assert np.isnan(regression.steps_to_fraction(steps, [1.0, 2.0, 3.0, 3.0, 3.0, 3.0]))


def test_normalised_auc_of_a_line_and_a_constant():
  steps = np.arange(0, 101, 10)
  assert regression.normalised_auc(steps, 1.0 - steps / 100) == pytest.approx(0.5)
  assert regression.normalised_auc(steps, np.full(11, 3.0)) == pytest.approx(1.0)
  assert regression.final_loss([5.0, 4.0, 2.0, 3.0], final_window=2) == 2.5


def test_summarise_a_slower_entangled_curve():
  steps = np.arange(0, 101, 10)
  fast = 1.0 + 9.0 * np.exp(-steps / 10.0)
  slow = 1.0 + 9.0 * np.exp(-steps / 30.0)
  seeds = [0, 1, 2, 3, 4]
  curves = {("encoder", "disentangled", "heldout"): {s: fast * (1 + 0.01 * s) for s in seeds},
            ("encoder", "entangled", "heldout"): {s: slow * (1 + 0.01 * s) for s in seeds}}
  summary = regression.summarise(steps, curves, seeds, fraction=0.9, final_window=2)
  assert list(summary) == ["encoder"]
  speed = summary["encoder"]["steps_to_fraction"]
  assert speed["disentangled"]["per_seed"] == [30.0] * 5
  # slow: L_final = (1.448 + 1.321) / 2, threshold 10 - 0.9 (10 - 1.385) = 2.246, reached at 60.
  assert speed["entangled"]["per_seed"] == [60.0] * 5
  assert speed["difference"]["interval"] == pytest.approx([30.0, 30.0])
  assert speed["p_value"] == 1 / 32 and speed["p_value_alternative"] == "greater"
  assert speed["p_value_floor"] == 1 / 32  # five seeds
  assert summary["encoder"]["auc"]["p_value"] == 1 / 32
  ratio = summary["encoder"]["final_loss"]["ratio"]["mean"]
  assert ratio == pytest.approx(slow[-2:].mean() / fast[-2:].mean())  # 1.384: slow not settled
  assert summary["encoder"]["final_loss"]["p_value_alternative"] == "two-sided"
  assert summary["encoder"]["final_loss"]["p_value_floor"] == 2 / 32


def test_dense_early_evaluation_steps():
  config = regression.RegressionConfig(num_steps=400, eval_every=100, dense_eval_until=50,
                                       dense_eval_every=10)
  assert config.eval_steps().tolist() == [0, 10, 20, 30, 40, 50, 100, 200, 300, 400]
  assert config.early_until() == 50
  assert regression.RegressionConfig(num_steps=400, eval_every=100).eval_steps().tolist() == [
      0, 100, 200, 300, 400]
  with pytest.raises(UsageError, match="--optimizer='rmsprop' is not one of"):
    regression.RegressionConfig(optimizer="rmsprop").validate()
  with pytest.raises(UsageError, match="--dense_eval_every=0 must be a positive integer"):
    regression.RegressionConfig(dense_eval_until=10, dense_eval_every=0).validate()
  with pytest.raises(UsageError, match="--decoder_learning_rate=0.01 is a step size of "
                     "--optimizer=sgd"):
    regression.RegressionConfig(decoder_learning_rate=0.01).validate()


def test_summarise_reports_the_training_loss_and_the_early_area():
  steps = np.array([0, 10, 20, 30, 40, 100, 200])
  seeds = [0, 1, 2]
  fast = 1.0 + 9.0 * np.exp(-steps / 10.0)
  slow = 1.0 + 9.0 * np.exp(-steps / 30.0)
  curves = {("decoder", "disentangled", "heldout"): {s: fast + 0.5 for s in seeds},
            ("decoder", "entangled", "heldout"): {s: slow + 0.5 for s in seeds},
            ("decoder", "disentangled", "train"): {s: fast for s in seeds},
            ("decoder", "entangled", "train"): {s: fast for s in seeds}}
  summary = regression.summarise(steps, curves, seeds, fraction=0.9, final_window=2,
                                 early_until=40)["decoder"]
  assert set(summary) == {"final_loss", "steps_to_fraction", "auc", "early_auc", "train"}
  assert set(summary["train"]) == {"final_loss", "steps_to_fraction", "auc", "early_auc"}
  # The early area covers steps 0-40 only: (1 / 40) Σ trapezoids / L(0).
  keep = steps <= 40
  expected = np.sum(np.diff(steps[keep]) * (fast[keep][1:] + fast[keep][:-1]) / 2) / 40 / 10.0
  assert summary["train"]["early_auc"]["disentangled"]["mean"] == pytest.approx(expected)
  assert regression.early_auc(steps, fast, 40) == pytest.approx(expected)
  # Held-out: the entangled curve is slower; training: the two are equal.
  assert summary["steps_to_fraction"]["difference"]["mean"] > 0
  assert summary["early_auc"]["difference"]["mean"] > 0
  assert summary["train"]["steps_to_fraction"]["difference"]["per_seed"] == [0.0] * 3
  assert summary["train"]["early_auc"]["p_value"] == 1.0
  assert "early_auc" not in regression.summarise(steps, curves, seeds, 0.9, 2)["decoder"]


def test_angle_and_sgd_flagfiles():
  import dataclasses  # pylint: disable=g-import-not-at-top
  from tfdis import flagfiles  # pylint: disable=g-import-not-at-top
  read = lambda name: flagfiles.config_from_flagfiles(regression.RegressionConfig,
                                                      [f"{REPO}/flags/{name}.cfg"])
  full = read("regress")
  for percent in (0, 25, 50, 75, 100):
    config = read(f"regress_angle_{percent}").validate()
    assert config.rotation_fraction == percent / 100
    assert (config.dense_eval_until, config.dense_eval_every, config.num_seeds) == (1000, 10, 8)
    # Only the angle and the dense evaluation differ from the Fig. 3 row.
    assert dataclasses.replace(config, rotation_fraction=1.0, dense_eval_until=0) == full
    assert set(range(0, 1001, 10)) <= set(config.eval_steps().tolist())
  sgd = read("regress_sgd").validate()
  assert (sgd.optimizer, sgd.rotation_fraction, sgd.dense_eval_until) == ("sgd", 1.0, 1000)
  assert sgd.decoder_learning_rate > 0
  split = read("regress_sgd_split_teacher").validate()
  assert dataclasses.replace(split, teacher_run="shared") == sgd


def test_learning_rate_is_chosen_on_the_disentangled_target_alone(tmp_path):
  def run(lr, encoder, decoder):
    result = {p: {"final_loss": {"disentangled": {"mean": d}, "entangled": {"mean": 0.0}}}
              for p, d in (("encoder", encoder), ("decoder", decoder))}
    (tmp_path / f"lr_{lr}").mkdir()
    (tmp_path / f"lr_{lr}" / "regression.json").write_text(json.dumps(result))
  run(0.1, 0.30, 90.0)
  run(0.01, 0.40, 80.0)
  run(0.001, 0.50, 85.0)
  (tmp_path / "lr_1").mkdir()  # diverged: no regression.json
  sweep = regression.choose_learning_rates(str(tmp_path))
  assert sweep["chosen"] == {"encoder": 0.1, "decoder": 0.01}
  assert sweep["losses"][1.0] == {"encoder": None, "decoder": None}
  assert sweep["losses"][0.001] == {"encoder": 0.5, "decoder": 85.0}


def test_dose_response_trend_over_seeds():
  def result(a, gaps):
    entry = {"steps_to_fraction": {"difference": {"per_seed": gaps}}}
    return {"rotation_fraction": a, "transform_distance": [2 * a, 2 * a],
            "encoder": entry, "decoder": dict(entry, train=entry)}
  # Three seeds: the gap grows with a in seeds 0 and 1; seed 2's gap is flat (no trend: 0).
  runs = [result(1.0, [300, 200, 5]), result(0.0, [0, 0, 5]), result(0.5, [100, 50, 5])]
  got = regression.dose_response(runs)["encoder"]
  assert got["fractions"] == [0.0, 0.5, 1.0] and got["distance"] == [0.0, 1.0, 2.0]
  assert [g["mean"] for g in got["gap"]] == pytest.approx([5 / 3, 155 / 3, 505 / 3])
  assert got["seed_trend"]["per_seed"] == [1.0, 1.0, 0.0]
  # Sign flips of (1, 1, 0): the observed mean is matched by 2 of the 8 patterns (the 0 flips too).
  assert got["seed_trend"]["p_value"] == 2 / 8 and got["seed_trend"]["p_value_floor"] == 1 / 8
  train = regression.dose_response(runs, split="train")["decoder"]
  assert train["seed_trend"]["per_seed"] == [1.0, 1.0, 0.0]


# --- Dataset. ---


@pytest.fixture(scope="module")
def tiny_teacher():
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(5)
  teacher = model_lib.ConditionalVAE(**TINY).build_all()
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(40, 6, 5, 1)).astype(np.float32)
  labels = np.arange(40, dtype=np.int32) % 10
  return teacher, images, labels


def test_dataset_applies_the_transform_of_each_label_and_is_reproducible(tiny_teacher):
  teacher, images, labels = tiny_teacher
  reflect = transforms_lib.by_name("reflection", 10, 3)
  first = regression.build_dataset(teacher, images, labels, reflect, seed=3)
  again = regression.build_dataset(teacher, images, labels, reflect, seed=3)
  other = regression.build_dataset(teacher, images, labels, reflect, seed=4)
  assert first.z.shape == (40, 3) and first.tz.shape == (40, 3) and len(first) == 40
  np.testing.assert_array_equal(first.z, again.z)
  assert np.abs(first.z - other.z).min() > 0
  # T_i = -I for labels 0-4, +I for 5-9.
  sign = np.where(labels < 5, -1.0, 1.0)[:, None]
  np.testing.assert_allclose(first.tz, sign * first.z, rtol=1e-6)
  rotate = transforms_lib.by_name("rotation", 10, 3, seed=1)
  rotated = regression.build_dataset(teacher, images, labels, rotate, seed=3)
  np.testing.assert_array_equal(rotated.z, first.z)
  expected = np.einsum("bij,bj->bi", rotate.numpy()[labels], first.z)
  np.testing.assert_allclose(rotated.tz, expected, rtol=1e-5, atol=1e-6)
  # z is a draw from q*, not its mean: the standardised residuals look like N(0, 1) draws.
  q = teacher.encode(images, labels)
  residual = (first.z - q.mean().numpy()) / q.stddev().numpy()
  assert 0.5 < residual.std() < 1.5 and np.abs(residual).max() > 0.1


def test_each_seed_fits_its_own_transform(tiny_teacher):
  teacher, images, labels = tiny_teacher
  config = regression.RegressionConfig(seed=3, num_seeds=3, transform_seed=10)
  assert [config.transform_seed_of(s) for s in config.seeds()] == [10, 11, 12]
  one = regression.RegressionConfig(seed=3, num_seeds=3, transform_seed=10,
                                    per_seed_transforms=False)
  assert [one.transform_seed_of(s) for s in one.seeds()] == [10, 10, 10]
  first = regression.build_dataset(teacher, images, labels,
                                   transforms_lib.by_name("rotation", 10, 3, seed=10), seed=0)
  same = regression.retarget(first, transforms_lib.by_name("rotation", 10, 3, seed=10))
  np.testing.assert_allclose(same.tz, first.tz, rtol=1e-6, atol=1e-7)
  other = regression.retarget(first, transforms_lib.by_name("rotation", 10, 3, seed=11))
  np.testing.assert_array_equal(other.z, first.z)  # only the entangled target changes
  assert np.abs(other.tz - first.tz).max() > 0.1
  np.testing.assert_allclose(np.linalg.norm(other.tz, axis=1), np.linalg.norm(first.z, axis=1),
                             rtol=1e-5)


def test_rotation_fraction_turns_the_target_part_of_the_way(tiny_teacher):
  teacher, images, labels = tiny_teacher
  whole = regression.RegressionConfig(transform_seed=10)
  np.testing.assert_array_equal(whole.transforms(10, 3, 10).numpy(),  # a = 1: untouched
                                transforms_lib.by_name("rotation", 10, 3, seed=10).numpy())
  half = regression.RegressionConfig(rotation_fraction=0.5)
  t_half = half.transforms(10, 3, 10).numpy().astype(np.float64)
  np.testing.assert_allclose(t_half @ t_half, whole.transforms(10, 3, 10).numpy(), atol=1e-5)
  none = regression.RegressionConfig(rotation_fraction=0.0).transforms(10, 3, 10).numpy()
  np.testing.assert_allclose(none, np.broadcast_to(np.eye(3), (10, 3, 3)), atol=1e-6)
  data = regression.build_dataset(teacher, images, labels, t_half, seed=0)
  # T^(1/2) turns z half the angle T turns it, keeping its length.
  full = regression.retarget(data, whole.transforms(10, 3, 10))
  angle = lambda u, v: np.arccos(np.clip(np.sum(u * v, 1) / np.linalg.norm(u, axis=1)
                                         / np.linalg.norm(v, axis=1), -1, 1))
  np.testing.assert_allclose(np.linalg.norm(data.tz, axis=1), np.linalg.norm(data.z, axis=1),
                             rtol=1e-5)
  assert np.all(angle(data.z, data.tz) <= angle(data.z, full.tz) + 1e-4)
  assert angle(data.z, data.tz).mean() > 0.2 * angle(data.z, full.tz).mean()
  with pytest.raises(UsageError, match="--rotation_fraction=0.5 needs rotations"):
    regression.RegressionConfig(transform="reflection", rotation_fraction=0.5).validate()
  with pytest.raises(UsageError, match=r"--rotation_fraction=1.5 must lie in \[0, 1\]"):
    regression.RegressionConfig(rotation_fraction=1.5).validate()


# --- Training. ---


def _tiny_run(transform, tiny_teacher, **splits):
  teacher, images, labels = tiny_teacher
  dataset = regression.build_dataset(teacher, images, labels,
                                     transforms_lib.by_name(transform, 10, 3, seed=2), seed=0)
  config = regression.RegressionConfig(transform=transform, num_seeds=1, num_steps=12,
                                       batch_size=8, eval_every=4, eval_examples=16,
                                       final_window=2)
  heldout = dataset.slice(24, 40)
  return config, regression.train_seed(dict(TINY, **splits), dataset.slice(0, 24),
                                       {"train": dataset.slice(0, 16), "heldout": heldout},
                                       config, seed=7)


def test_both_targets_start_from_identical_weights():
  models = regression.build_models(TINY, seed=3)
  split = regression.build_models(dict(TINY, encoder_split="0"), seed=3)["entangled"]
  assert [networks.is_routed(l) for l in split.encoder_layers] == [False, False, False, True]
  for a, b in zip(models["disentangled"].weights, models["entangled"].weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  other = regression.build_models(TINY, seed=4)
  assert not np.array_equal(other["disentangled"].weights[0].numpy(),
                            models["disentangled"].weights[0].numpy())


@pytest.mark.parametrize("splits", [{}, {"encoder_split": "all", "decoder_split": "0"}],
                         ids=["shared", "split"])
def test_identity_transform_gives_identical_curves(tiny_teacher, splits):
  """The control that must come out equal: same init, same batches, same targets."""
  config, curves = _tiny_run("identity", tiny_teacher, **splits)
  assert len(curves) == 8  # 2 problems x 2 targets x 2 splits
  for problem in regression.PROBLEMS:
    for split in regression.SPLITS:
      disentangled = curves[(problem, "disentangled", split)]
      assert disentangled.shape == (len(config.eval_steps()),) == (4,)
      np.testing.assert_array_equal(curves[(problem, "entangled", split)], disentangled)
      assert disentangled[-1] < disentangled[0]  # it learns


def test_rotation_transform_gives_different_curves(tiny_teacher):
  _, curves = _tiny_run("rotation", tiny_teacher)
  for problem in regression.PROBLEMS:
    assert not np.allclose(curves[(problem, "entangled", "heldout")][1:],
                           curves[(problem, "disentangled", "heldout")][1:], rtol=1e-4)


def test_sgd_takes_plain_gradient_steps(tiny_teacher):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  teacher, images, labels = tiny_teacher
  dataset = regression.build_dataset(teacher, images, labels,
                                     transforms_lib.by_name("rotation", 10, 3, seed=2), seed=0)
  config = regression.RegressionConfig(optimizer="sgd", learning_rate=0.05, batch_size=8,
                                       decoder_learning_rate=0.01, jit_compile=False)
  trainer = regression.PairTrainer(TINY, dataset, config, seed=7)
  before = [v.numpy().copy() for v in trainer.variables]
  batch = trainer.batch(0)
  with tf.GradientTape() as tape:
    losses = regression.problem_losses(trainer.models["entangled"], *batch[:2], batch[3])
    total = losses["encoder"] + 0.2 * losses["decoder"]  # decoder step 0.01 = 0.2 x 0.05
  entangled = trainer.models["entangled"].trainable_variables
  grads = dict(zip([id(v) for v in entangled],
                   [tf.convert_to_tensor(g) for g in tape.gradient(total, entangled)]))
  trainer.step(*batch)
  assert trainer.completed_steps == 1
  moved = 0
  for v, old in zip(trainer.variables, before):
    if id(v) in grads:  # the entangled network: w - lr g
      np.testing.assert_allclose(v.numpy(), old - 0.05 * grads[id(v)].numpy(), rtol=1e-5,
                                 atol=1e-6)
      moved += int(np.abs(v.numpy() - old).max() > 0)
  assert moved >= 4


def test_bad_config_is_refused_with_the_fix():
  with pytest.raises(UsageError, match="--transform='shear' is unknown"):
    regression.RegressionConfig(transform="shear").validate()
  with pytest.raises(UsageError, match="--final_window=30 exceeds"):
    regression.RegressionConfig(num_steps=100, eval_every=10, final_window=30).validate()
  with pytest.raises(UsageError, match="--fraction=1.0"):
    regression.RegressionConfig(fraction=1.0).validate()


# --- The binary end to end. ---


@pytest.fixture(scope="module")
def smoke_teacher(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("teacher")
  images, labels = data.load_arrays("mnist", "train")
  test_images, test_labels = data.load_arrays("mnist", "test")
  # The network of flags/scales/smoke.cfg, which flags/regress_smoke.cfg trains.
  config = config_lib.TrainConfig(hidden_units=16, latent_dim=4, batch_size=32, num_steps=30,
                             log_every=10, checkpoint_every=30, grid_columns=8)
  train.train_and_evaluate(config, str(workdir), {"train": (images[:2000], labels[:2000]),
                                                  "test": (test_images[:500], test_labels[:500])})
  return workdir


def _regress(*args):
  """binaries.regress in a real process, as a user runs it."""
  return subprocess.run([sys.executable, "-m", "binaries.regress", *args], cwd=REPO, env=ENV,
                        capture_output=True, text=True, timeout=600)


def test_smoke_flagfile_end_to_end_and_rerun_resumes(smoke_teacher, tmp_path):
  workdir = tmp_path / "regress"
  args = [f"--flagfile={REPO}/flags/regress_smoke.cfg", f"--teacher={smoke_teacher}",
          f"--workdir={workdir}"]
  result = _regress(*args)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "steps/s" in result.stderr and "ETA" in result.stderr  # the progress line
  report = json.loads((workdir / "regression.json").read_text())
  assert report["transform"] == "rotation" and report["dataset"] == "mnist"
  assert report["transform_seeds"] == [0, 1]  # a T_y per seed
  assert report["steps"] == [0, 5, 10, 15, 20]
  assert report["num_train_examples"] == 640 and report["num_heldout_examples"] == 200
  with open(workdir / "curves.csv") as f:
    rows = list(csv.DictReader(f))
  assert list(rows[0]) == ["problem", "target", "seed", "step", "split", "loss"]
  assert len(rows) == 2 * 2 * 2 * 2 * 5  # problems x targets x seeds x splits x steps
  assert {r["seed"] for r in rows} == {"0", "1"}
  for problem in regression.PROBLEMS:
    for metric in ("final_loss", "steps_to_fraction", "auc"):
      entry = report[problem][metric]
      for part in ("disentangled", "entangled", "difference"):
        assert len(entry[part]["per_seed"]) == 2
        low, high = entry[part]["interval"]
        assert low <= entry[part]["mean"] <= high, (problem, metric, part)
      assert 1 / 4 <= entry["p_value"] <= 1
    assert report[problem]["final_loss"]["ratio"]["mean"] > 0
    initial = [float(r["loss"]) for r in rows if r["problem"] == problem and r["step"] == "0"
               and r["split"] == "heldout" and r["target"] == "disentangled"]
    final = report[problem]["final_loss"]["disentangled"]["per_seed"]
    assert np.all(np.array(final) < np.array(initial)), (problem, final, initial)  # it learns
  # The tangent-kernel alignment of every target and seed at initialisation, and its ranking.
  assert report["config"]["alignment_examples"] == 256
  for problem in regression.PROBLEMS:
    entry = report["alignment"][problem]
    assert entry["seeds"] == [0, 1]
    for target in regression.TARGETS:
      assert all(0 < a <= 1 for a in entry[target]["alignment"])
      assert len(entry[target]["descent_rate"]) == 2 and len(entry[target]["frobenius"]) == 2
    assert entry["rank_correlation"]["num_points"] == 4
    assert entry["rank_correlation"]["resamples"] == "seeds"
    assert 0 <= entry["agreement"] <= 2
    assert report[problem]["train"]["final_loss"]["disentangled"]["per_seed"] != (
        report[problem]["final_loss"]["disentangled"]["per_seed"])
  assert (workdir / "regression.png").stat().st_size > 10000
  assert any(f.startswith("events") for f in os.listdir(workdir / "tensorboard"))

  # The same command again, through the in-process seam: both seeds are finished, so it only
  # summarises, and the summary is byte for byte the same.
  first = (workdir / "regression.json").read_bytes()
  os.remove(workdir / "regression.json")
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl.testing import flagsaver  # pylint: disable=g-import-not-at-top
  from binaries import regress as regress_binary  # pylint: disable=g-import-not-at-top
  with flagsaver.flagsaver():
    flags.FLAGS(["regress", *args], known_only=True)
    assert flags.FLAGS.num_steps == 20 and flags.FLAGS.transform == "rotation"
    regress_binary.run()
  assert (workdir / "regression.json").read_bytes() == first


def test_smoke_angle_sgd_and_dense_evaluation_through_the_binary(smoke_teacher, tmp_path):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from absl.testing import flagsaver  # pylint: disable=g-import-not-at-top
  from binaries import regress as regress_binary  # pylint: disable=g-import-not-at-top
  workdir = tmp_path / "angle"
  with flagsaver.flagsaver():
    flags.FLAGS(["regress", f"--flagfile={REPO}/flags/regress_smoke.cfg",
                 f"--teacher={smoke_teacher}", f"--workdir={workdir}", "--rotation_fraction=0.5",
                 "--dense_eval_until=8", "--dense_eval_every=2", "--optimizer=sgd",
                 "--learning_rate=0.05", "--decoder_learning_rate=0.0005",
                 "--alignment_examples=64", "--alignment_probes=8", "--descent_steps=4"],
                known_only=True)
    report = regress_binary.run()
  assert report["steps"] == [0, 2, 4, 5, 6, 8, 10, 15, 20]
  assert report["rotation_fraction"] == 0.5 and report["config"]["optimizer"] == "sgd"
  # ‖T^½ - I‖_F: two planes of D = 4 turned by at most π / 2 each, so at most (2 x 4)^½.
  assert all(0 < d < np.sqrt(8.0) for d in report["transform_distance"])
  for problem in regression.PROBLEMS:
    assert set(report[problem]) >= {"final_loss", "steps_to_fraction", "auc", "early_auc", "train"}
    assert report[problem]["train"]["early_auc"]["disentangled"]["mean"] < 1  # SGD descends
    rates = report["alignment"][problem]["disentangled"]["descent_rate"]
    assert all(np.isfinite(rates))


def test_teacher_without_a_run_is_one_line(tmp_path, capsys):
  from absl.testing import flagsaver  # pylint: disable=g-import-not-at-top
  from binaries import regress as regress_binary  # pylint: disable=g-import-not-at-top
  with flagsaver.flagsaver(teacher=str(tmp_path), workdir=str(tmp_path / "out")):
    with pytest.raises(SystemExit) as exit_info:
      regress_binary.main(["regress"])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith(f"error: --teacher={tmp_path} holds no training run"), err
  assert err.count("\n") == 1
