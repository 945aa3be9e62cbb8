"""The paper's own setup of the competition: plain SGD (--optimizer=sgd) for every VAE trainer,
the bounded Gaussian decoder in the seed-batched model."""
import dataclasses
import json
import os

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


def _config(**overrides):
  # Sizes all differ (hidden 7, latent 3, batch 8).
  base = dict(hidden_units=7, latent_dim=3, batch_size=8, num_steps=4, log_every=2,
              checkpoint_every=2, eval_batch_size=10, grid_columns=5, seed=3)
  base.update(overrides)
  return config_lib.TrainConfig(**base)


@pytest.mark.parametrize("jit_compile", [None, False, True])
def test_sgd_on_a_quadratic_follows_the_closed_form(jit_compile):
  # loss = 1/2 sum_i a_i (w_i - c_i)^2:  w_t = c + (1 - lr a)^t (w_0 - c), no momentum.
  a = np.array([[0.5, 1.0, 2.0], [3.0, 0.25, 1.5]], np.float32)        # [2, 3]
  c = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], np.float32)
  w0 = np.array([[0.0, 1.0, -1.0], [2.0, 0.5, 4.0]], np.float32)
  w = tf.Variable(w0)
  lr, num_steps = 0.1, 7
  optimizer = steps.make_optimizer("sgd", lr, [w])
  loss_fn = lambda: (0.5 * tf.reduce_sum(a * (w - c) ** 2), tf.constant(0.0))
  step = steps.optimizer_step(loss_fn, [w], optimizer)
  if jit_compile is not None:
    step = tf.function(step, jit_compile=jit_compile, autograph=False)
  for _ in range(num_steps):
    step()
  expected = c + (1 - lr * a) ** num_steps * (w0 - c)
  np.testing.assert_allclose(w.numpy(), expected, rtol=1e-5, atol=1e-6)
  assert int(optimizer.iterations.numpy()) == num_steps


def test_an_unknown_optimizer_is_refused():
  with pytest.raises(UsageError, match="--optimizer='momentum' is not one of"):
    _config(optimizer="momentum").validate()


def _one_sgd_step_is_w_minus_lr_gradient(trainer, variables, loss_fn, lr):
  before = [v.numpy() for v in variables]
  batch = trainer.batch(0)
  grads, _ = steps.gradients_fn(loss_fn, variables)(*batch)
  trainer.step(*batch)
  moved = 0.0
  for w0, g, w1 in zip(before, grads, variables):
    np.testing.assert_allclose(w1.numpy(), w0 - lr * g.numpy(), rtol=1e-4, atol=1e-6)
    moved = max(moved, float(np.abs(w1.numpy() - w0).max()))
  assert moved > 1e-4  # the step did move the weights


def test_the_vae_trainer_takes_plain_sgd_steps(tiny_mnist):
  config = _config(optimizer="sgd", learning_rate=0.05)
  images, labels = tiny_mnist["train"]
  info = data.DatasetInfo("mnist", (28, 28, 1))
  trainer = train.VAETrainer(config, images, labels, info, steps.make_strategy("default"))
  _one_sgd_step_is_w_minus_lr_gradient(trainer, trainer.model.trainable_variables, trainer.loss,
                                       0.05)


def test_the_seed_batched_trainer_takes_plain_sgd_steps(tiny_mnist):
  configs = [_config(seed=s, optimizer="sgd", learning_rate=0.05, num_hidden_layers=3,
                     decoder_split="0") for s in (5, 2)]
  images, labels = tiny_mnist["train"]
  trainer = seed_batched.SeedBatchedTrainer(configs, images, labels, 10)

  def loss_fn(images, labels, noise):
    terms = trainer.vae.elbo_terms(images, labels, noise)
    return -tf.reduce_sum(terms["elbo"]) / 8, terms
  _one_sgd_step_is_w_minus_lr_gradient(trainer, trainer.variables, loss_fn, 0.05)


def test_a_seed_batched_workdir_from_before_a_config_field_existed_resumes(tiny_mnist, tmp_path):
  tf.config.experimental.enable_op_determinism()
  configs = [_config(seed=s) for s in (1, 3)]
  straight, _ = seed_batched.train_seeds(configs, str(tmp_path / "a"), tiny_mnist)
  half = [dataclasses.replace(c, num_steps=2) for c in configs]
  seed_batched.train_seeds(half, str(tmp_path / "b"), tiny_mnist)
  # The config.json an older library wrote: no optimizer field.
  path = tmp_path / "b" / "config.json"
  saved = json.loads(path.read_text())
  for entry in saved:
    del entry["optimizer"]
  path.write_text(json.dumps(saved))
  resumed, _ = seed_batched.train_seeds(configs, str(tmp_path / "b"), tiny_mnist)
  assert resumed.completed_steps == 4
  for a, b in zip(straight.vae.variables, resumed.vae.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  # A non-default value of the new field is still a different run.
  with pytest.raises(UsageError, match="different optimizer"):
    seed_batched.train_seeds([dataclasses.replace(c, optimizer="sgd") for c in configs],
                             str(tmp_path / "b"), tiny_mnist)
  assert os.path.exists(path)


def test_seed_batched_bounded_gaussian_equals_each_seeds_model(tiny_mnist):
  configs = [_config(seed=s, likelihood="gaussian_bounded", latent_transform="rotation",
                     transform_seed=s) for s in (5, 2, 9)]
  vae = seed_batched_model.SeedBatchedVAE([c.model_kwargs((28, 28, 1), 10) for c in configs],
                                          [c.seed for c in configs])
  scale_index = [i for i, v in enumerate(vae.template.trainable_variables)
                 if v is vae.template.decoder_log_scale]
  stacked = vae.variables[scale_index[0]]                       # [S, 28, 28, 1]
  stacked.assign(np.random.default_rng(4).standard_normal(stacked.shape).astype(np.float32))
  images, labels = tiny_mnist["train"]
  x = np.stack([images[0:4], images[4:8], images[8:12]])        # [3, 4, 28, 28, 1]
  y = np.stack([labels[0:4], labels[4:8], labels[8:12]])
  noise = np.random.default_rng(5).standard_normal((3, 4, 3)).astype(np.float32)
  batched = vae.elbo_terms(x, y, noise)["log_likelihood"].numpy()
  for i in range(3):
    model = vae.model_for_seed(i)
    np.testing.assert_array_equal(model.decoder_log_scale.numpy(), stacked[i].numpy())
    single = model.elbo_terms(x[i], y[i], noise[i])["log_likelihood"].numpy()
    np.testing.assert_allclose(batched[i], single, rtol=1e-5)


def test_dequantized_pixels_stay_in_their_grey_levels_interval_below_one():
  levels = np.arange(256, dtype=np.float32)
  images = np.broadcast_to(levels / 255.0, (4000, 256)).reshape(4000, 16, 16, 1)
  out = steps.dequantize_batch(images, seed=7, step=3)
  assert out.dtype == np.float32 and out.shape == images.shape
  assert out.min() >= 0.0 and out.max() < 1.0
  # 4 000 draws per level: float32 rounds a few of them up to the next level (to 1.0 for level
  # 255) unless kept below it.
  np.testing.assert_array_equal(np.floor(out.astype(np.float64) * 256), np.rint(images * 255))
  # u is uniform: its mean over a million pixels is 1/2 within a few standard errors.
  u = out.astype(np.float64) * 256 - np.rint(images * 255)
  assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)


def test_dequantization_is_a_function_of_seed_and_step():
  images = np.full((6, 5, 4, 1), 128 / 255, np.float32)
  same = steps.dequantize_batch(images, seed=7, step=3)
  np.testing.assert_array_equal(same, steps.dequantize_batch(images.copy(), 7, 3))
  assert not np.allclose(same, steps.dequantize_batch(images, 7, 4))
  assert not np.allclose(same, steps.dequantize_batch(images, 8, 3))
  assert not np.allclose(same, steps.dequantize_test(images, 7))


def test_the_vae_trainer_dequantizes_each_step_and_resumes_identically(tiny_mnist, tmp_path):
  tf.config.experimental.enable_op_determinism()
  config = _config(dequantize=True, likelihood="gaussian_bounded")
  images, labels = tiny_mnist["train"]
  info = data.DatasetInfo("mnist", (28, 28, 1))
  trainer = train.VAETrainer(config, images, labels, info, steps.make_strategy("default"))
  x, _, _ = trainer.batch(5)
  order = steps.BatchOrder(len(images), config.batch_size, config.seed)
  np.testing.assert_array_equal(x, steps.dequantize_batch(images[order.indices(5)], 3, 5))
  straight, _, _ = train.train(config, str(tmp_path / "a"), tiny_mnist)
  train.train(dataclasses.replace(config, num_steps=2), str(tmp_path / "b"), tiny_mnist)
  resumed, _, _ = train.train(config, str(tmp_path / "b"), tiny_mnist)
  for a, b in zip(straight.model.weights, resumed.model.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  undequantized, _, _ = train.train(dataclasses.replace(config, dequantize=False),
                                    str(tmp_path / "c"), tiny_mnist)
  assert not np.array_equal(straight.model.weights[0].numpy(),
                            undequantized.model.weights[0].numpy())


def test_seed_batched_dequantized_bounded_gaussian_resumes_identically(tiny_mnist, tmp_path):
  tf.config.experimental.enable_op_determinism()
  configs = [_config(seed=s, dequantize=True, likelihood="gaussian_bounded") for s in (1, 3)]
  trainer = seed_batched.SeedBatchedTrainer(configs, *tiny_mnist["train"], 10)
  x, _, _ = trainer.batch(2)
  for row, config in zip(x, configs):
    order = steps.BatchOrder(96, 8, config.seed)
    np.testing.assert_array_equal(
        row, steps.dequantize_batch(tiny_mnist["train"][0][order.indices(2)], config.seed, 2))
  straight, _ = seed_batched.train_seeds(configs, str(tmp_path / "a"), tiny_mnist)
  half = [dataclasses.replace(c, num_steps=2) for c in configs]
  seed_batched.train_seeds(half, str(tmp_path / "b"), tiny_mnist)
  resumed, _ = seed_batched.train_seeds(configs, str(tmp_path / "b"), tiny_mnist)
  for a, b in zip(straight.vae.variables, resumed.vae.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("transform", ["rotation", "reflection"])
@pytest.mark.parametrize("setup,changed", [
    ("gaussian", dict(likelihood="gaussian_bounded", dequantize=True)),
    ("sgd", dict(optimizer="sgd", learning_rate=0.01)),
])
def test_the_paper_setup_flagfiles_differ_from_the_standard_run_in_the_setup_only(
    transform, setup, changed):
  from tfdis import flagfiles  # pylint: disable=g-import-not-at-top
  from tfdis.experiments import competition  # pylint: disable=g-import-not-at-top
  read = lambda path: flagfiles.config_from_flagfiles(competition.CompetitionConfig, [path])
  paper = read(f"flags/compete_paper_{setup}_{transform}.cfg").validate()
  standard = read(f"flags/compete/{transform}_standard.cfg")
  assert {k: getattr(paper, k) for k in changed} == changed
  assert dataclasses.replace(paper, seeds_per_batch=standard.seeds_per_batch,
                             **{k: getattr(standard, k) for k in changed}) == standard
  assert (paper.transform, paper.variants(), paper.seeds, paper.num_steps) == (
      transform, ["standard"], 20, 10000)
  assert paper.seeds_per_batch == 2


def test_the_regression_refuses_dequantization_and_resumes_older_records():
  from tfdis import files  # pylint: disable=g-import-not-at-top
  from tfdis.experiments import regression  # pylint: disable=g-import-not-at-top
  with pytest.raises(UsageError, match="--dequantize: the regression trains on the teacher's"):
    regression.RegressionConfig(dequantize=True).validate()
  regression.RegressionConfig(optimizer="sgd").validate()  # the regression's own SGD rows
  mine = dataclasses.asdict(regression.RegressionConfig())
  older = {k: v for k, v in mine.items() if k not in ("optimizer", "dequantize")}
  assert files.differing_fields(older, mine,
                                defaults=regression.RegressionConfig.ABSENT_FIELD_VALUES) == []
