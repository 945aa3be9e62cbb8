"""benchmarks.reference_jax computes tfdis's loss and Adam step from the same weights and batch.

Skipped without the optional extra `bench` (jax, optax).
"""
import numpy as np
import pytest
import tensorflow as tf

jax = pytest.importorskip("jax")
pytest.importorskip("optax")

from benchmarks import reference_jax as ref  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfdis.data import datasets  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfdis.training import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfdis.training import vae_training  # pylint: disable=g-import-not-at-top,wrong-import-position

IMAGE_SHAPE = (4, 5, 1)  # every size differs: a swapped axis fails
SIZES = dict(image_shape=IMAGE_SHAPE, latent_dim=3, hidden_units=7, num_hidden_layers=2)
VARIANTS = [("none", "none"), ("all", "none"), ("none", "all"), ("all", "all")]


def _data(batch, seed=0):
  rng = np.random.default_rng(seed)
  images = (rng.uniform(size=(60,) + IMAGE_SHAPE) > 0.5).astype(np.float32)
  labels = np.tile(np.arange(10, dtype=np.int32), 6)
  rng.shuffle(labels)
  return images, labels


def _tfdis_trainer(encoder_split, decoder_split, batch, images, labels, **overrides):
  config = config_lib.TrainConfig(hidden_units=7, latent_dim=3, batch_size=batch, seed=2,
                                  encoder_split=encoder_split, decoder_split=decoder_split,
                                  jit_compile=False, **overrides)
  info = datasets.DatasetInfo("mnist", IMAGE_SHAPE)
  return vae_training.VAETrainer(config, images, labels, info, tf.distribute.get_strategy())


@pytest.mark.parametrize("encoder_split,decoder_split,form",
                         [v + ("gather",) for v in VARIANTS] + [("all", "all", "masked")])
def test_one_step_gives_tfdis_loss_and_update(encoder_split, decoder_split, form):
  images, labels = _data(12)
  trainer = _tfdis_trainer(encoder_split, decoder_split, 12, images, labels)
  params = ref.params_from_tfdis(trainer.model)
  spec = ref.spec_for(encoder_split, decoder_split, **SIZES)
  assert jax.tree.map(np.shape, params) == jax.tree.map(np.shape, ref.init_params(spec, 0))
  order = ref.BatchOrder(len(images), 12, seed=2)
  np.testing.assert_array_equal(order.indices(7), trainer._order.indices(7))  # same data order
  x, y = images[order.indices(0)], labels[order.indices(0)]
  noise = ref.step_noise(2, 0, (12, 3))
  want, _ = trainer.loss(x, y, tf.constant(np.asarray(noise)))
  got, _ = ref.loss_fn(params, x, y, noise, form=form)
  np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
  assert float(want) > 1.0  # an untrained model's -ELBO per example: many nats
  # One step of each: the reference's loss is the one above, and after both updates the next
  # batch's loss agrees too. (Not weight by weight: Keras adds Adam's ε to √v, optax to √v̂, so a
  # weight whose gradient is near 0 moves by up to lr in one and far less in the other.)
  step = ref.make_step(spec, 1e-3, seed=2, form=form)
  state, loss = step(ref.init_state(params, 1e-3), x, y)
  np.testing.assert_allclose(float(loss), float(want), rtol=1e-5)
  trainer.step(tf.constant(x), tf.constant(y), tf.constant(np.asarray(noise)))
  x1, y1 = images[order.indices(1)], labels[order.indices(1)]
  noise1 = ref.step_noise(2, 1, (12, 3))
  want1, _ = trainer.loss(x1, y1, tf.constant(np.asarray(noise1)))
  state, loss1 = step(state, x1, y1)
  np.testing.assert_allclose(float(loss1), float(want1), rtol=1e-4)
  assert abs(float(want1) - float(want)) > 1e-3  # the step changed the loss
  assert int(state["step"]) == 2


def test_the_balanced_form_matches_tfdis_balanced_batches():
  images, labels = _data(20)
  trainer = _tfdis_trainer("all", "all", 20, images, labels, balanced_batches=True)
  params = ref.params_from_tfdis(trainer.model)
  x, y, noise = trainer.batch(0)
  want, _ = trainer.loss(x, y, noise)
  got, _ = ref.loss_fn(params, x, y, np.asarray(noise), form="balanced")
  np.testing.assert_allclose(float(got), float(want), rtol=1e-5)


def test_initial_weights_have_keras_scales():
  spec = ref.spec_for("all", "none", **SIZES)
  params = ref.init_params(spec, 0)
  first = np.asarray(params["encoder"][0]["kernel"])  # [G, 20 + 10, 7]
  assert first.shape == (10, 30, 7)
  limit = np.sqrt(6.0 / (30 + 7))
  assert np.abs(first).max() <= limit and np.abs(first).max() > 0.9 * limit
  assert not np.allclose(first[0], first[1])  # each group drawn on its own
  assert not np.asarray(params["encoder"][0]["bias"]).any()
