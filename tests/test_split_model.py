"""Split (label-routed) encoders and decoders inside the VAE: equal to shared ones when the groups
agree, different when they do not, trainable, exportable."""
import numpy as np
import pytest
import tensorflow as tf

from tfdis.model import export
from tfdis.model import vae as model_lib
from tfdis.model import networks


def _copy_into_groups(shared, split):
  """Gives every label's weights of `split` the values of the shared model's same layer."""
  for a, b in zip(shared.encoder_layers + shared.decoder_layers,
                  split.encoder_layers + split.decoder_layers):
    for wa, wb in zip(a.weights, b.weights):
      value = wa.numpy()
      if networks.is_routed(b):
        value = np.broadcast_to(value, wb.shape)
      wb.assign(value)


@pytest.mark.parametrize("architecture,shape", [("mlp", (6, 5, 1)), ("conv", (8, 12, 3))])
@pytest.mark.parametrize("encoder_split,decoder_split", [("all", "all"), ("0", "none"),
                                                         ("none", "1")])
def test_split_model_with_equal_groups_equals_the_shared_one(architecture, shape, encoder_split,
                                                             decoder_split):
  kwargs = dict(image_shape=shape, latent_dim=3, hidden_units=7, architecture=architecture)
  shared = model_lib.ConditionalVAE(**kwargs).build_all()
  split = model_lib.ConditionalVAE(encoder_split=encoder_split, decoder_split=decoder_split,
                                   **kwargs).build_all()
  routed = [l for l in split.encoder_layers + split.decoder_layers if networks.is_routed(l)]
  assert routed and all(l.kernel.shape[0] == 10 for l in routed)
  rng = np.random.default_rng(0)
  x = rng.uniform(size=(4,) + shape).astype(np.float32)
  y = np.array([0, 3, 3, 9], np.int32)
  noise = rng.standard_normal((4, 3)).astype(np.float32)
  before = split.elbo_terms(x, y, noise)["elbo"].numpy()
  _copy_into_groups(shared, split)
  np.testing.assert_allclose(split.elbo_terms(x, y, noise)["elbo"].numpy(),
                             shared.elbo_terms(x, y, noise)["elbo"].numpy(), rtol=1e-5, atol=1e-3)
  assert np.abs(before - shared.elbo_terms(x, y, noise)["elbo"].numpy()).max() > 1e-3


def test_split_layers_are_counted_from_the_latent():
  model = model_lib.ConditionalVAE(image_shape=(4, 4, 1), latent_dim=2, hidden_units=3,
                                   num_hidden_layers=3, encoder_split="3",
                                   decoder_split="0").build_all()
  encoder_routed = [networks.is_routed(l) for l in model.encoder_layers if l.weights]
  decoder_routed = [networks.is_routed(l) for l in model.decoder_layers if l.weights]
  assert encoder_routed == [True, False, False, False]   # l-3 is the encoder's first layer
  assert decoder_routed == [True, False, False, False]   # l is the decoder's first layer


def test_split_model_trains_under_xla_and_exports(tmp_path):
  from tfdis.data import datasets as data  # pylint: disable=g-import-not-at-top
  from tfdis.training import config as config_lib  # pylint: disable=g-import-not-at-top
  from tfdis.training import vae_training  # pylint: disable=g-import-not-at-top
  images, labels = data.load_arrays("mnist", "test")
  override = {"train": (images[:200], labels[:200]), "test": (images[200:260], labels[200:260])}
  for jit in (False, True):
    config = config_lib.TrainConfig(hidden_units=8, latent_dim=3, batch_size=20, num_steps=3,
                                    encoder_split="all", decoder_split="all", jit_compile=jit,
                                    log_every=3, checkpoint_every=3, grid_columns=4)
    trainer, _, _ = vae_training.train(config, str(tmp_path / f"run{jit}"), override)
    assert trainer.completed_steps == 3
    assert all(np.isfinite(w.numpy()).all() for w in trainer.model.weights)
  path = export.export_saved_model(trainer.model, str(tmp_path / "export"))
  loaded = tf.saved_model.load(path)
  y = tf.constant([1, 7], tf.int32)
  z = tf.constant(np.random.default_rng(1).standard_normal((2, 3)), tf.float32)
  np.testing.assert_allclose(loaded.signatures["decode"](y=y, z=z)["images"].numpy(),
                             trainer.model.decode_mean(y, z).numpy(), atol=1e-6)


def test_gather_gradients_reach_adam_summed():
  """Duplicate rows of an IndexedSlices gradient are summed before Adam sees them."""
  from tfdis.training import steps  # pylint: disable=g-import-not-at-top
  slices = tf.IndexedSlices(values=tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
                            indices=tf.constant([0, 2, 0]), dense_shape=tf.constant([3, 2]))
  dense, untouched = steps.dense_gradients([slices, tf.ones([2])])
  np.testing.assert_array_equal(dense.numpy(), [[6.0, 8.0], [0.0, 0.0], [3.0, 4.0]])
  np.testing.assert_array_equal(untouched.numpy(), [1.0, 1.0])
