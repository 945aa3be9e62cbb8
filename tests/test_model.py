"""ConditionalVAE: the ELBO against a hand computation in numpy, on tiny shapes that all differ."""
import numpy as np
import pytest
import tensorflow as tf

from tfdis.model import vae as model_lib
from tfdis.model import networks

IMAGE_SHAPE = (2, 3, 1)  # H=2, W=3, C=1: 6 pixels
LATENT = 4
HIDDEN = 5
CLASSES = 10


def _dense_stack(layers, h):
  """Numpy forward through Keras Dense/Flatten/Reshape layers (relu where the layer has it)."""
  for layer in layers:
    if not layer.weights:
      continue
    kernel, bias = (w.numpy() for w in layer.weights)
    h = h @ kernel + bias
    if layer.get_config()["activation"] == "relu":
      h = np.maximum(h, 0.0)
  return h


def _log_sigmoid(a):
  return -np.logaddexp(0.0, -a)


@pytest.mark.parametrize("encoder_uses_label", [True, False])
def test_elbo_matches_hand_computation(encoder_uses_label):
  model = model_lib.ConditionalVAE(image_shape=IMAGE_SHAPE, latent_dim=LATENT,
                                   hidden_units=HIDDEN,
                                   encoder_uses_label=encoder_uses_label).build_all()
  rng = np.random.default_rng(0)
  batch = 3
  x = rng.uniform(size=(batch,) + IMAGE_SHAPE).astype(np.float32)
  y = np.array([0, 7, 9], np.int32)
  noise = rng.standard_normal((batch, LATENT)).astype(np.float32)

  terms = {k: v.numpy() for k, v in model.elbo_terms(x, y, noise).items()}

  onehot = np.eye(CLASSES, dtype=np.float64)[y]
  enc_in = np.concatenate([x.reshape(batch, -1), onehot if encoder_uses_label else 0 * onehot], 1)
  out = _dense_stack(model.encoder_layers, enc_in)
  loc, raw = out[:, :LATENT], out[:, LATENT:]
  scale = np.logaddexp(0.0, raw) + 1e-4
  z = loc + scale * noise
  logits = _dense_stack(model.decoder_layers, np.concatenate([z, onehot], 1))
  flat_x = x.reshape(batch, -1)
  log_lik = (flat_x * _log_sigmoid(logits) + (1 - flat_x) * _log_sigmoid(-logits)).sum(1)
  kl = 0.5 * (scale ** 2 + loc ** 2 - 1.0 - 2.0 * np.log(scale)).sum(1)
  elbo = log_lik - kl - np.log(CLASSES)

  np.testing.assert_allclose(terms["log_likelihood"], log_lik, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(terms["kl"], kl, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(terms["log_prior_y"], -np.log(CLASSES) * np.ones(batch), rtol=1e-6)
  np.testing.assert_allclose(terms["elbo"], elbo, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(terms["elbo_x_given_y"], log_lik - kl, rtol=1e-5, atol=1e-4)


def test_masked_label_makes_encoder_ignore_y():
  model = model_lib.ConditionalVAE(image_shape=IMAGE_SHAPE, latent_dim=LATENT, hidden_units=HIDDEN,
                                   encoder_uses_label=False).build_all()
  x = np.random.default_rng(1).uniform(size=(2,) + IMAGE_SHAPE).astype(np.float32)
  a = model.encode(x, np.array([1, 2], np.int32)).mean().numpy()
  b = model.encode(x, np.array([8, 3], np.int32)).mean().numpy()
  np.testing.assert_array_equal(a, b)
  shared = model_lib.ConditionalVAE(image_shape=IMAGE_SHAPE, latent_dim=LATENT,
                                    hidden_units=HIDDEN).build_all()
  a = shared.encode(x, np.array([1, 2], np.int32)).mean().numpy()
  b = shared.encode(x, np.array([8, 3], np.int32)).mean().numpy()
  assert np.abs(a - b).max() > 1e-4


def test_gaussian_likelihood_is_a_normal_on_the_sigmoid_mean():
  model = model_lib.ConditionalVAE(image_shape=IMAGE_SHAPE, latent_dim=LATENT, hidden_units=HIDDEN,
                                   likelihood="gaussian").build_all()
  y = np.array([4, 5], np.int32)
  z = np.random.default_rng(2).standard_normal((2, LATENT)).astype(np.float32)
  x = np.full((2,) + IMAGE_SHAPE, 0.25, np.float32)
  mean = model.decode_mean(y, z).numpy()
  scale = np.log1p(np.exp(model.decoder_log_scale.numpy())) + 1e-3
  expected = (-0.5 * ((x - mean) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi))
  np.testing.assert_allclose(model.decode(y, z).log_prob(x).numpy(),
                             expected.reshape(2, -1).sum(1), rtol=1e-5)


def test_bounded_gaussian_log_density_matches_a_hand_computation():
  # Output [2, 2, 3, 1]; raw scale parameters spanning both bounds and the midpoint.
  rng = np.random.default_rng(3)
  logits = rng.standard_normal((2,) + IMAGE_SHAPE).astype(np.float32)
  raw = np.array([-200.0, -1.5, 0.0, 0.7, 3.0, 200.0], np.float32).reshape(IMAGE_SHAPE)
  x = rng.uniform(size=(2,) + IMAGE_SHAPE).astype(np.float32)
  mean = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
  scale = np.exp(np.log(1 / 256) * (1 - 1 / (1 + np.exp(-raw.astype(np.float64)))))
  np.testing.assert_allclose(scale.ravel()[[0, 2, 5]], [1 / 256, 1 / 16, 1.0], rtol=1e-6)
  expected = (-0.5 * ((x - mean) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi))
  dist = model_lib.decoder_distribution(logits, "gaussian_bounded", raw)
  np.testing.assert_allclose(dist.log_prob(x).numpy(), expected.reshape(2, -1).sum(1), rtol=1e-5)
  np.testing.assert_allclose(dist.stddev().numpy()[0], scale, rtol=1e-5)
  np.testing.assert_allclose(dist.mean().numpy(), mean, rtol=1e-5)


def test_bounded_gaussian_model_uses_its_learned_scale_in_the_elbo():
  model = model_lib.ConditionalVAE(image_shape=IMAGE_SHAPE, latent_dim=LATENT, hidden_units=HIDDEN,
                                   likelihood="gaussian_bounded").build_all()
  model.decoder_log_scale.assign(np.linspace(-2, 2, 6).reshape(IMAGE_SHAPE))
  y = np.array([4, 5], np.int32)
  z = np.random.default_rng(2).standard_normal((2, LATENT)).astype(np.float32)
  x = np.full((2,) + IMAGE_SHAPE, 0.25, np.float32)
  mean = model.decode_mean(y, z).numpy()
  raw = model.decoder_log_scale.numpy().astype(np.float64)
  scale = np.exp(np.log(1 / 256) * (1 - 1 / (1 + np.exp(-raw))))
  expected = (-0.5 * ((x - mean) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi))
  np.testing.assert_allclose(model.decode(y, z).log_prob(x).numpy(),
                             expected.reshape(2, -1).sum(1), rtol=1e-5)


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (32, 32, 3)])
def test_conv_architecture_shapes(image_shape):
  model = model_lib.ConditionalVAE(image_shape=image_shape, latent_dim=3, hidden_units=6,
                                   architecture="conv").build_all()
  x = np.zeros((2,) + image_shape, np.float32)
  y = np.array([0, 9], np.int32)
  assert model.encode(x, y).mean().shape == (2, 3)
  assert model.decode_mean(y, np.zeros((2, 3), np.float32)).shape == (2,) + image_shape


def test_layers_are_counted_from_the_latent():
  assert networks.num_layers("mlp", "encoder") == 3
  assert networks.num_layers("conv", "decoder") == 4
  assert networks.parse_split("all", 3, "encoder") == {0, 1, 2}
  assert networks.parse_split("none", 3, "encoder") == frozenset()
  assert networks.parse_split("0,2", 3, "decoder") == {0, 2}
  with pytest.raises(networks.SplitSpecError, match="layers 0-2"):
    networks.parse_split("3", 3, "decoder")
  with pytest.raises(networks.SplitSpecError, match="not understood"):
    networks.parse_split("first", 3, "encoder")
