"""Seed-batched training (tfdis.training.seed_batched) equals sequential runs of the same seeds."""
import numpy as np
import pytest
import tensorflow as tf

from tfdis.data import datasets as data
from tfdis.errors import UsageError
from tfdis.model import seed_batched as seed_batched_model
from tfdis.training import config as config_lib
from tfdis.training import seed_batched
from tfdis.training import steps
from tfdis.training import vae_training as train


@pytest.fixture(scope="module")
def tiny_mnist():
  images, labels = data.load_arrays("mnist", "train")
  return {"train": (images[:96], labels[:96]), "test": (images[96:126], labels[96:126])}


def _config(seed, **overrides):
  # Sizes all differ (hidden 7, latent 3, batch 8, 3 hidden layers -> 4 weight layers per net).
  base = dict(hidden_units=7, latent_dim=3, batch_size=8, num_steps=5, log_every=5,
              checkpoint_every=5, num_hidden_layers=3, seed=seed, transform_seed=seed + 10)
  base.update(overrides)
  return config_lib.TrainConfig(**base)


def test_three_batched_seeds_equal_three_sequential_runs(tiny_mnist, tmp_path):
  tf.config.experimental.enable_op_determinism()
  # Routed layers on both sides, y masked from the encoder, a per-seed rotation: every code path.
  overrides = dict(latent_transform="rotation", encoder_split="3", decoder_split="0",
                   encoder_uses_label=False)
  configs = [_config(s, **overrides) for s in (5, 2, 9)]
  trainer, _ = seed_batched.train_seeds(configs, str(tmp_path / "batched"), tiny_mnist)
  assert trainer.completed_steps == 5
  for i, config in enumerate(configs):
    sequential, _, _ = train.train(config, str(tmp_path / f"seed{config.seed}"), tiny_mnist)
    batched = trainer.vae.model_for_seed(i)
    moved = 0.0
    for w_seq, w_bat, w_init in zip(sequential.model.trainable_variables,
                                    batched.trainable_variables,
                                    trainer.vae.template.trainable_variables):
      np.testing.assert_allclose(w_bat.numpy(), w_seq.numpy(), rtol=1e-4, atol=1e-5,
                                 err_msg=w_seq.path)
      moved = max(moved, float(np.abs(w_seq.numpy() - w_init.numpy()).max()))
    if i > 0:  # training moved the weights by Adam-sized steps, far above the tolerance
      assert moved > 1e-3
    x, y = tiny_mnist["test"][0][:4], tiny_mnist["test"][1][:4]
    z = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(batched.generator_mean(y, z).numpy(),
                               sequential.model.generator_mean(y, z).numpy(), atol=1e-5)


def test_seeds_start_from_their_own_initialisation(tiny_mnist):
  configs = [_config(5), _config(2)]
  vae = seed_batched_model.SeedBatchedVAE([c.model_kwargs((28, 28, 1), 10) for c in configs],
                                          [c.seed for c in configs])
  first = [v.numpy() for v in vae.model_for_seed(0).trainable_variables]
  second = [v.numpy() for v in vae.model_for_seed(1).trainable_variables]
  assert not np.allclose(first[0], second[0])
  # model_for_seed(0) is the template: the model seed 5 builds.
  for a, b in zip(first, vae.template.trainable_variables):
    np.testing.assert_array_equal(a, b.numpy())


def test_resume_continues_the_batched_run(tiny_mnist, tmp_path):
  tf.config.experimental.enable_op_determinism()
  configs = [_config(s, num_steps=4, checkpoint_every=2, log_every=2) for s in (1, 3)]
  straight, _ = seed_batched.train_seeds(configs, str(tmp_path / "a"), tiny_mnist)
  half = [_config(s, num_steps=2, checkpoint_every=2, log_every=2) for s in (1, 3)]
  seed_batched.train_seeds(half, str(tmp_path / "b"), tiny_mnist)
  resumed, _ = seed_batched.train_seeds(configs, str(tmp_path / "b"), tiny_mnist)
  assert resumed.completed_steps == 4
  for a, b in zip(straight.vae.variables, resumed.vae.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("second,match", [
    (dict(hidden_units=8), "differ in hidden_units"),
    (dict(seed=5), r"Seeds \[5, 5\] repeat"),
    (dict(seed=6, architecture="conv"), "differ in architecture"),
])
def test_incompatible_configs_are_refused(second, match):
  with pytest.raises(UsageError, match=match):
    seed_batched.check_configs([_config(5), _config(**dict(dict(seed=6), **second))])


def test_cached_batch_order_equals_batch_indices():
  images = np.arange(30, dtype=np.float32)[:, None, None, None] * np.ones((30, 28, 28, 1),
                                                                          np.float32)
  labels = np.arange(30, dtype=np.int32) % 10
  trainer = seed_batched.SeedBatchedTrainer([_config(5), _config(2)], images, labels, 10)
  for step in (0, 1, 3, 4, 7, 3):  # 30 // 8 = 3 steps per epoch, and back to epoch 1
    got, _, _ = trainer.batch(step)  # pixel value = example index
    for row, config in zip(got[:, :, 0, 0, 0], trainer.configs):
      np.testing.assert_array_equal(row, steps.batch_indices(step, 30, 8, config.seed))
