"""The fully supervised conditional VAE of the paper (Sec. 1, Eq. 1).

Generative model and inference model:

```none
p(y)         = Cat(1/10, ..., 1/10)                      uniform label
p(z)         = N(0, I_D)
p(x | y, z)  = Bernoulli(logits = ω_p(y, z))             or N(μ_p(y, z), diag σ²) (--likelihood;
                                                           gaussian_bounded: σ in [1/256, 1])
q(z | x, y)  = N(μ_q(x, y), diag σ_q(x, y)²)
```

Objective, per example (Eq. 1 of the paper, one reparameterised sample z ~ q):

```none
ELBO(x, y) = E_q[ln p(x | y, z)] - KL(q(z | x, y) || p(z)) + ln p(y)   (KL analytic)
```

`elbo` below includes ln p(y) = -ln 10, exactly as Eq. 1; `elbo_x_given_y` is the bound on
ln p(x | y) without it. Every part is a `tfp.distributions` object; nothing is a hand-written
log-density. The encoder's use of y can be switched off (`encoder_uses_label=False`, the paper's
"y masked from the encoder", App. B): the one-hot label it sees is then all zeros.

Competition models (App. B, Figs. 5, 6) insert a label-dependent orthogonal T_y between encoder
and decoder (`latent_transform`): the decoder reads T_y z. The ELBO keeps its form.

Shapes: images x [B, H, W, C] float32 in [0, 1]; labels y [B] int32 in [0, 10); codes z [B, D].
`layout="balanced"` (training with --balanced_batches) promises labels grouped by label, B/K of
each, so the label-routed layers route by a reshape (kernels/routed.py); every other caller keeps
the default "any".
"""
import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfdis.model import networks
from tfdis.model import transforms as transforms_lib

tfd = tfp.distributions

LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_bounded")
# The range of σ of the gaussian_bounded likelihood: from one grey level of 8-bit data (the width of
# a dequantised pixel's interval) to the whole [0, 1] range.
SCALE_BOUNDS = (1.0 / 256, 1.0)


@keras.saving.register_keras_serializable(package="tfdis")
class ConditionalVAE(keras.Model):
  """p(y) p(z) p(x | y, z) with q(z | x, y); encoder and decoder are addressable layer lists."""

  def __init__(self, image_shape=(28, 28, 1), num_classes=10, latent_dim=16, architecture="mlp",
               hidden_units=512, likelihood="bernoulli", encoder_uses_label=True,
               encoder_split="none", decoder_split="none", num_hidden_layers=2,
               latent_transform="none", transform_seed=0, **kwargs):
    super().__init__(**kwargs)
    if likelihood not in LIKELIHOODS:
      raise ValueError(f"Unknown likelihood {likelihood!r}; use one of {LIKELIHOODS}.")
    self.image_shape = tuple(int(d) for d in image_shape)
    self.num_classes = int(num_classes)
    self.latent_dim = int(latent_dim)
    self.architecture = architecture
    self.hidden_units = int(hidden_units)
    self.likelihood = likelihood
    self.encoder_uses_label = bool(encoder_uses_label)
    self.encoder_split = str(encoder_split)
    self.decoder_split = str(decoder_split)
    self.num_hidden_layers = int(num_hidden_layers)
    self.latent_transform = str(latent_transform)
    self.transform_seed = int(transform_seed)
    if self.latent_transform != "none":
      # App. B competition: the decoder reads T_y z, z ~ q(z | x, y). A constant, not a weight.
      self.transforms = transforms_lib.by_name(self.latent_transform, self.num_classes,
                                               self.latent_dim, self.transform_seed)
    self.encoder_layers = networks.build_encoder_layers(
        architecture, self.image_shape, self.latent_dim, self.hidden_units, encoder_split,
        self.num_classes, self.num_hidden_layers)
    self.decoder_layers = networks.build_decoder_layers(
        architecture, self.image_shape, self.hidden_units, decoder_split, self.num_classes,
        self.num_hidden_layers)
    if likelihood != "bernoulli":
      # One learned scale parameter per pixel, shared across examples (`decoder_distribution`).
      self.decoder_log_scale = self.add_weight(
          shape=self.image_shape, initializer="zeros", name="decoder_log_scale")

  def get_config(self):
    config = super().get_config()
    config.update(image_shape=self.image_shape, num_classes=self.num_classes,
                  latent_dim=self.latent_dim, architecture=self.architecture,
                  hidden_units=self.hidden_units, likelihood=self.likelihood,
                  encoder_uses_label=self.encoder_uses_label, encoder_split=self.encoder_split,
                  decoder_split=self.decoder_split, num_hidden_layers=self.num_hidden_layers,
                  latent_transform=self.latent_transform, transform_seed=self.transform_seed)
    return config

  def prior_y(self):
    """p(y): uniform categorical over the classes."""
    return tfd.Categorical(logits=tf.zeros([self.num_classes]))

  def prior_z(self):
    """p(z) = N(0, I); event shape [D]."""
    return tfd.MultivariateNormalDiag(loc=tf.zeros([self.latent_dim]))

  def _one_hot(self, labels):
    return tf.one_hot(tf.cast(labels, tf.int32), self.num_classes)  # [B, K]

  def encode(self, images, labels, layout="any"):
    """q(z | x, y): batch shape [B], event shape [D]."""
    labels = tf.cast(labels, tf.int32)
    onehot = self._one_hot(labels)
    if not self.encoder_uses_label:
      onehot = tf.zeros_like(onehot)
    if self.architecture == "mlp":
      flat = tf.reshape(images, [-1, self.image_shape[0] * self.image_shape[1] *
                                 self.image_shape[2]])
      h = tf.concat([flat, onehot], axis=-1)  # [B, HWC + K]
    else:
      planes = tf.broadcast_to(onehot[:, None, None, :],
                               tf.concat([tf.shape(images)[:3], [self.num_classes]], 0))
      h = tf.concat([images, planes], axis=-1)  # [B, H, W, C + K]
    return encoder_distribution(
        networks.apply_layers(self.encoder_layers, h, labels, layout))  # [B, 2D]

  def decoder_logits(self, labels, z, layout="any"):
    """ω_p(y, z): the decoder network's output [B, H, W, C] (logits or Gaussian means)."""
    labels = tf.cast(labels, tf.int32)
    h = tf.concat([z, self._one_hot(labels)], axis=-1)  # [B, D + K]
    return networks.apply_layers(self.decoder_layers, h, labels, layout)

  def decode(self, labels, z, layout="any"):
    """p(x | y, z): batch shape [B], event shape [H, W, C]."""
    log_scale = self.decoder_log_scale if self.likelihood != "bernoulli" else None
    return decoder_distribution(self.decoder_logits(labels, z, layout), self.likelihood,
                                log_scale)

  def decode_mean(self, labels, z):
    """μ_p(y, z): the mean image [B, H, W, C] in [0, 1]."""
    return tf.sigmoid(self.decoder_logits(labels, z))

  def decoder_code(self, labels, z):
    """What the decoder reads for code z: z itself, or T_y z in a competition model (App. B)."""
    if self.latent_transform == "none":
      return z
    return transforms_lib.apply(self.transforms, labels, z)

  def generator_mean(self, labels, z):
    """The trained generator's mean: μ_p(y, z), or μ'_p(y, z) = μ_p(y, T_y z) in a competition."""
    return self.decode_mean(labels, self.decoder_code(labels, z))

  def elbo_terms(self, images, labels, noise, layout="any"):
    """Per-example ELBO and its parts for one reparameterised sample z ~ q(z | x, y).

    Args:
      images: [B, H, W, C] float32 in [0, 1].
      labels: [B] int32.
      noise: [B, D] standard normal draws; z = μ_q + σ_q ⊙ noise (see `standard_normal`).
      layout: "any", or "balanced" for labels grouped by label, B/K of each (the routed layers'
        fast path; kernels/routed.py).

    Returns:
      dict of [B] tensors: elbo (Eq. 1, with ln p(y)), elbo_x_given_y, log_likelihood
      (ln p(x | y, z) at the sample), kl (analytic KL(q || p(z))), log_prior_y.
    """
    return elbo_terms(images, labels, self.encode(images, labels, layout),
                      lambda z: self.decode(labels, self.decoder_code(labels, z), layout), noise,
                      self.prior_z(), self.prior_y())

  def call(self, inputs):
    """(images [B, H, W, C], labels [B]) -> per-example ELBO [B] with a fixed seed."""
    images, labels = inputs
    noise = standard_normal([tf.shape(images)[0], self.latent_dim], [0, 0])
    return self.elbo_terms(images, labels, noise)["elbo"]

  def build_all(self):
    """Creates every weight by running one example through encoder and decoder."""
    images = tf.zeros((1,) + self.image_shape)
    labels = tf.zeros([1], tf.int32)
    self((images, labels))
    return self


def standard_normal(shape, seed):
  """Stateless N(0, 1) draws of `shape` for seed int32 [2]: the reparameterisation noise.

  The algorithm is pinned to Philox. Draw it outside `jit_compile` functions: XLA's Philox
  returns other numbers than TF's kernel for the same seed (measured on TF 2.21 CPU).
  """
  return tf.random.stateless_normal(shape, seed=tf.cast(seed, tf.int32), alg="philox")


def encoder_distribution(encoder_output):
  """q(z | x, y) from the encoder's output [..., 2D] = (μ_q, raw σ_q): batch [...], event [D].

  q = N(μ_q, diag σ_q²) with σ_q = softplus(raw) + 1e-4.
  """
  loc, raw_scale = tf.split(encoder_output, 2, axis=-1)
  return tfd.MultivariateNormalDiag(loc=loc, scale_diag=tf.nn.softplus(raw_scale) + 1e-4)


def decoder_distribution(decoder_output, likelihood, log_scale=None):
  """p(x | y, z) from the decoder's output ω_p [..., H, W, C]: batch [...], event [H, W, C].

  Bernoulli(logits = ω_p), or N(sigmoid(ω_p), diag σ²) with a learned per-pixel σ from the scale
  parameter `log_scale` [H, W, C] (or broadcastable to the output): for likelihood 'gaussian'
  σ = softplus(log_scale) + 1e-3; for 'gaussian_bounded' σ = `bounded_scale(log_scale)`, in
  SCALE_BOUNDS = [1/256, 1].
  """
  if likelihood == "bernoulli":
    return tfd.Independent(tfd.Bernoulli(logits=decoder_output, dtype=tf.float32),
                           reinterpreted_batch_ndims=3)
  if likelihood == "gaussian_bounded":
    scale = bounded_scale(log_scale)
  else:
    scale = tf.nn.softplus(log_scale) + 1e-3
  return tfd.Independent(tfd.Normal(loc=tf.sigmoid(decoder_output), scale=scale),
                         reinterpreted_batch_ndims=3)


def bounded_scale(raw):
  """σ in SCALE_BOUNDS from an unconstrained parameter: geometric between the bounds.

  ```none
  ln σ = ln σ_min + (ln σ_max - ln σ_min) sigmoid(raw)       σ_min, σ_max = 1/256, 1
  ```

  raw = 0 (the initial value) gives the geometric midpoint σ = 1/16.
  """
  low, high = (float(np.log(b)) for b in SCALE_BOUNDS)
  return tf.exp(low + (high - low) * tf.sigmoid(raw))


def elbo_terms(images, labels, q, decode, noise, prior_z, prior_y):
  """Per-example ELBO of Eq. 1 and its parts, for one reparameterised sample z ~ q.

  ```none
  z     = μ_q + S_q ε                  (q = N(μ_q, S_q S_qᵀ); ε = noise)
  ELBO  = ln p(x | y, z) - KL(q || p(z)) + ln p(y)
  ```

  Args:
    images: x [..., B, H, W, C].
    labels: y [..., B] int.
    q: q(z | x, y), a multivariate normal with batch shape [..., B], event shape [D].
    decode: z [..., B, D] -> p(x | y, z) with batch shape [..., B] (any T_y included).
    noise: ε [..., B, D], standard normal.
    prior_z: p(z), event shape [D].
    prior_y: p(y), a distribution over labels.

  Returns:
    dict of [..., B] tensors: elbo (with ln p(y)), elbo_x_given_y, log_likelihood (ln p(x | y, z)
    at the sample), kl (analytic KL(q || p(z))), log_prior_y.
  """
  if isinstance(q.scale, tf.linalg.LinearOperatorDiag):
    # The same numbers as S_q ε, but XLA rounds the two graphs differently: keep the form that
    # trained runs were made with.
    z = q.mean() + q.stddev() * noise                             # [..., B, D]
  else:
    z = q.mean() + q.scale.matvec(noise)                          # [..., B, D]
  log_likelihood = decode(z).log_prob(images)                     # [..., B]
  kl = tfd.kl_divergence(q, prior_z)                              # [..., B]
  log_prior_y = prior_y.log_prob(tf.cast(labels, tf.int32))       # [..., B]
  elbo_x_given_y = log_likelihood - kl
  return {"elbo": elbo_x_given_y + log_prior_y, "elbo_x_given_y": elbo_x_given_y,
          "log_likelihood": log_likelihood, "kl": kl, "log_prior_y": log_prior_y}
