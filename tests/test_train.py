"""Trainer: determinism, exact resume, NaN handling, mirrored strategy, and the SavedModel export."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tfdis import files
from tfdis.data import datasets as data
from tfdis.errors import UsageError
from tfdis.training import config as config_lib
from tfdis.training import loop
from tfdis.training import steps
from tfdis.training import vae_training as train


@pytest.fixture(scope="module")
def tiny_mnist():
  """A small slice of real MNIST, so each test trains in a second or two."""
  train_images, train_labels = data.load_arrays("mnist", "train")
  test_images, test_labels = data.load_arrays("mnist", "test")
  return {"train": (train_images[:320], train_labels[:320]),
          "test": (test_images[:150], test_labels[:150])}


def _config(**overrides):
  base = dict(hidden_units=12, latent_dim=3, batch_size=16, num_steps=8, log_every=4,
              checkpoint_every=4, eval_batch_size=64, grid_columns=5, seed=3)
  base.update(overrides)
  return config_lib.TrainConfig(**base)


def _weights(model):
  return [w.numpy() for w in model.weights]


def test_same_flags_give_identical_metrics_and_all_outputs(tiny_mnist, tmp_path):
  tf.config.experimental.enable_op_determinism()
  first = train.train_and_evaluate(_config(), str(tmp_path / "a"), tiny_mnist)
  second = train.train_and_evaluate(_config(), str(tmp_path / "b"), tiny_mnist)
  assert first == second
  assert ((tmp_path / "a" / "metrics.json").read_bytes() ==
          (tmp_path / "b" / "metrics.json").read_bytes())
  for name in ("samples.png", "reconstructions.png", "saved_model/saved_model.pb", "config.json",
               "timing.json"):
    assert (tmp_path / "a" / name).exists(), name
  assert first["steps"] == 8
  assert -800 < first["test_elbo"] < -100
  np.testing.assert_allclose(first["test_elbo"],
                             first["test_elbo_x_given_y"] - np.log(10), rtol=1e-6)
  other_seed = train.train_and_evaluate(_config(seed=4), str(tmp_path / "c"), tiny_mnist)
  assert other_seed["test_elbo"] != first["test_elbo"]


def test_resume_equals_uninterrupted_training(tiny_mnist, tmp_path):
  tf.config.experimental.enable_op_determinism()
  straight, _, _ = train.train(_config(num_steps=10, checkpoint_every=5), str(tmp_path / "a"),
                               tiny_mnist)
  halfway, _, _ = train.train(_config(num_steps=5, checkpoint_every=5), str(tmp_path / "b"),
                              tiny_mnist)
  assert halfway.completed_steps == 5
  del halfway  # as if the process had ended
  resumed, _, _ = train.train(_config(num_steps=10, checkpoint_every=5), str(tmp_path / "b"),
                              tiny_mnist)
  assert resumed.completed_steps == 10
  for a, b in zip(_weights(straight.model), _weights(resumed.model)):
    np.testing.assert_array_equal(a, b)


def test_resume_with_a_different_model_is_refused(tiny_mnist, tmp_path):
  train.train(_config(num_steps=2), str(tmp_path), tiny_mnist)
  with pytest.raises(UsageError, match="different hidden_units"):
    train.train(_config(num_steps=4, hidden_units=13), str(tmp_path), tiny_mnist)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_mnist, tmp_path):
  config = _config(learning_rate=1e30, num_steps=50, checkpoint_every=1, log_every=1)
  with pytest.raises(loop.NonFiniteLossError, match="the last good checkpoint .* is kept") as e:
    train.train(config, str(tmp_path), tiny_mnist)
  latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
  assert latest is not None
  step = int(latest.rsplit("-", 1)[1])
  assert 1 <= step < 50 and f"(step {step}) is kept" in str(e.value)
  for name, _ in tf.train.list_variables(latest):
    if name.startswith("model/") and "VARIABLE_VALUE" in name:
      assert np.isfinite(tf.train.load_variable(latest, name)).all(), name


def test_mirrored_strategy_on_two_cpus_matches_default(tiny_mnist, tmp_path):
  assert len(tf.config.list_logical_devices("CPU")) == 2  # set up in conftest.py
  tf.config.experimental.enable_op_determinism()
  default, _, _ = train.train(_config(), str(tmp_path / "default"), tiny_mnist)
  mirrored, _, _ = train.train(_config(strategy="mirrored"), str(tmp_path / "mirrored"),
                               tiny_mnist)
  assert mirrored.strategy.num_replicas_in_sync == 2
  for a, b in zip(_weights(default.model), _weights(mirrored.model)):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def test_saved_model_decodes_the_same_in_a_fresh_process(tiny_mnist, tmp_path):
  trainer, _, _ = train.train(_config(num_steps=4), str(tmp_path / "run"), tiny_mnist)
  path = str(tmp_path / "export")
  from tfdis.model import export  # pylint: disable=g-import-not-at-top
  export.export_saved_model(trainer.model, path)
  y = np.array([0, 3, 9, 9], np.int32)
  z = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
  x = tiny_mnist["test"][0][:4]
  np.savez(tmp_path / "inputs.npz", y=y, z=z, x=x)
  script = textwrap.dedent(f"""
      import numpy as np, tensorflow as tf
      inputs = np.load({str(tmp_path / "inputs.npz")!r})
      loaded = tf.saved_model.load({path!r})
      decoded = loaded.signatures["decode"](y=tf.constant(inputs["y"]), z=tf.constant(inputs["z"]))
      encoded = loaded.signatures["encode"](x=tf.constant(inputs["x"]), y=tf.constant(inputs["y"]))
      sampled = loaded.signatures["sample"](y=tf.constant(inputs["y"]))
      np.savez({str(tmp_path / "outputs.npz")!r}, images=decoded["images"].numpy(),
               loc=encoded["loc"].numpy(), sample_shape=np.array(sampled["images"].shape))
      """)
  subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                 env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  outputs = np.load(tmp_path / "outputs.npz")
  np.testing.assert_allclose(outputs["images"], trainer.model.decode_mean(y, z).numpy(),
                             atol=1e-6)
  np.testing.assert_allclose(outputs["loc"], trainer.model.encode(x, y).mean().numpy(),
                             atol=1e-5)
  assert outputs["sample_shape"].tolist() == [4, 28, 28, 1]


def test_batch_order_is_a_seeded_permutation_per_epoch():
  first_epoch = np.concatenate([steps.batch_indices(s, 12, 4, seed=5) for s in range(3)])
  assert sorted(first_epoch.tolist()) == list(range(12))
  second_epoch = np.concatenate([steps.batch_indices(s, 12, 4, seed=5) for s in range(3, 6)])
  assert sorted(second_epoch.tolist()) == list(range(12))
  assert first_epoch.tolist() != second_epoch.tolist()
  np.testing.assert_array_equal(steps.batch_indices(4, 12, 4, seed=5),
                                steps.batch_indices(4, 12, 4, seed=5))


@pytest.mark.parametrize("field,value,match", [
    ("batch_size", 0, "--batch_size=0 must be a positive integer"),
    ("learning_rate", -1.0, "--learning_rate=-1.0 must be a positive finite number"),
    ("dataset", "cifar10", "Unknown dataset 'cifar10'"),
    ("encoder_split", "7", "--encoder_split names layer"),
])
def test_bad_config_is_refused_before_training(field, value, match, tmp_path, tiny_mnist):
  with pytest.raises(UsageError, match=match):
    train.train(_config(**{field: value}), str(tmp_path), tiny_mnist)


def test_unwritable_workdir_is_refused(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("x")
  with pytest.raises(UsageError, match="cannot be written"):
    files.prepare(str(blocker / "run"))
  with pytest.raises(UsageError, match="--workdir is required"):
    files.prepare(None)


def test_tracking_scores_the_generator_during_training_and_survives_resume(tiny_mnist, tmp_path):
  from tfdis.training import tracking  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / "run")
  train.train(_config(num_steps=4, track_every=4, track_lp=False), workdir, tiny_mnist)
  trainer, _, _ = train.train(_config(num_steps=8, track_every=4, track_lp=False), workdir,
                              tiny_mnist)
  series = files.read_json(os.path.join(workdir, "tracking.json"))
  assert [e["step"] for e in series] == [0, 4, 8]
  for entry in series:
    low, high = entry["sp"]["interval"]
    assert -1 <= low <= entry["sp"]["value"] <= high <= 1 and entry["lp"] is None
  assert os.listdir(os.path.join(workdir, "tensorboard", "tracking"))
  # A classifier that always answers 0 is right for one label in ten: LP = 0.1 exactly.
  tracker = tracking.Tracker(trainer.model, str(tmp_path / "fake"),
                             classify=lambda images: np.zeros(len(images), np.int64), seed=3)
  tracker(3)
  (entry,) = files.read_json(str(tmp_path / "fake" / "tracking.json"))
  assert entry["lp"]["value"] == pytest.approx(0.1) and entry["step"] == 3
  assert entry["sp"] == series[-1]["sp"]  # the same model and z as the run's last entry


@pytest.mark.parametrize("overrides", [dict(jit_compile=False), dict(decoder_split="all")])
def test_several_steps_per_call_train_the_same_weights(tiny_mnist, overrides):
  """loop.fit(steps_per_call=K) runs VAETrainer.run_steps; at these sizes it gives the same bits."""
  images, labels = tiny_mnist["train"]
  info = data.DatasetInfo("mnist", tuple(images.shape[1:]))
  weights, elbos = [], []
  for steps_per_call in (1, 4):
    trainer = train.VAETrainer(_config(**overrides), images, labels, info,
                               steps.make_strategy("default"))
    loop.fit(trainer, None, num_steps=7, log_every=5, steps_per_call=steps_per_call)
    weights.append(_weights(trainer.model))
    elbos.append(float(trainer.step(*trainer.batch(7))["elbo"]))
  for a, b in zip(*weights):
    np.testing.assert_array_equal(a, b)
  assert elbos[0] == elbos[1] and trainer.completed_steps == 8
