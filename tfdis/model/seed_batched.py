"""S conditional VAEs (paper Sec. 1, Eq. 1) of one shape as one model with a leading seed axis.

A win rate (App. B, "the exact win rate remains to be determined") needs many independent runs of
one model. Seeds share every shape, so instead of S models this module stacks them: every weight
gets a leading seed axis and one computation evaluates all S ELBOs.

```none
shared dense:   h[s, b] = act(x[s, b] @ W[s] + c[s])                einsum 'sbi,sio->sbo'
routed dense:   h[s, b] = act(x[s, b] @ W[s*G + y[s, b]] + c[s*G + y[s, b]])   W [S*G, in, out]
                (the (seed, label) pairs are the S*G groups of kernels.routed.routed_dense)
ELBO_s(x, y)    = Eq. 1 of seed s's model, assembled by `vae.elbo_terms` from the same
                  q(z | x, y) and p(x | y, z) constructors as one ConditionalVAE
```

Seeds never interact: a loss that sums per-seed terms has, for seed s, exactly seed s's gradient.
Routed weights are stored [S*G, ...] and handed to the routed kernel unreshaped, so their gradients
have the structure of a single model's.

The initial weights of seed s are those its `ConditionalVAE` gets after
`keras.utils.set_random_seed(seed)` (S models are built that way and their weights stacked), so
`model_for_seed(s)` of an untrained stack is that model.

Only the MLP architecture is supported (the competition of App. B uses it). Shapes: S seeds,
B batch, D latent, G labels.
"""
import keras
import numpy as np
import tensorflow as tf

from kernels import routed
from tfdis.errors import UsageError
from tfdis.model import networks
from tfdis.model import vae


def _stacked_dense(x, labels, kernel, bias, routed_layer, num_groups):
  """One seed-stacked (routed) dense layer.

  Args:
    x: [S, B, in]. labels: [S, B] int32.
    kernel: [S, in, out] (shared) or [S*G, in, out] (routed; row s*G + g is seed s, label g).
    bias: [S, out] or [S*G, out].

  Returns:
    [S, B, out] before the activation.
  """
  if not routed_layer:
    return tf.einsum("sbi,sio->sbo", x, kernel) + bias[:, None, :]
  num_seeds, batch = x.shape[0], tf.shape(x)[1]
  groups = labels + num_groups * tf.range(num_seeds, dtype=labels.dtype)[:, None]  # [S, B]
  flat = routed.routed_dense(tf.reshape(x, [-1, x.shape[-1]]), tf.reshape(groups, [-1]),
                             kernel, bias)  # [S*B, out]
  return tf.reshape(flat, [num_seeds, batch, kernel.shape[-1]])


class SeedBatchedVAE:
  """S ConditionalVAEs as stacked tf.Variables [S, ...] with a stacked ELBO.

  Args:
    model_kwargs: one dict of ConditionalVAE arguments per seed; they may differ in
      `transform_seed` only.
    seeds: the seed of each model's initial weights.
  """

  def __init__(self, model_kwargs, seeds):
    if model_kwargs[0]["architecture"] != "mlp":
      raise UsageError(f"Seed-batched models support --architecture=mlp only, got "
                       f"{model_kwargs[0]['architecture']!r}; train conv models one at a time.")
    self.model_kwargs = [dict(k) for k in model_kwargs]
    self.num_seeds = len(model_kwargs)
    models = []
    for kwargs, seed in zip(model_kwargs, seeds):
      keras.utils.set_random_seed(seed)  # as a single model's trainer does before building
      models.append(vae.ConditionalVAE(**kwargs).build_all())
    self.template = models[0]
    self.latent_dim = self.template.latent_dim
    self.num_classes = self.template.num_classes
    self.image_shape = self.template.image_shape
    routed_ids = {id(w) for layer in self.template.encoder_layers + self.template.decoder_layers
                  if networks.is_routed(layer) for w in layer.trainable_variables}
    # Shared weights [S, ...]; routed ones [S*G, ...], seeds' label groups one after another.
    self._routed = [id(v) in routed_ids for v in self.template.trainable_variables]
    self.variables = []
    for i, is_routed in enumerate(self._routed):
      stacked = np.stack([m.trainable_variables[i].numpy() for m in models])
      if is_routed:
        stacked = stacked.reshape((-1,) + stacked.shape[2:])
      self.variables.append(tf.Variable(stacked, name=f"stacked_{i}"))
    self._index = {id(v): i for i, v in enumerate(self.template.trainable_variables)}
    if self.template.latent_transform != "none":
      self.transforms = tf.stack([m.transforms for m in models])  # [S, G, D, D]

  def _weight(self, variable):
    return self.variables[self._index[id(variable)]]

  def _apply(self, layers, h, labels):
    """The template's layer list on seed-stacked h [S, B, ...]."""
    for layer in layers:
      if isinstance(layer, keras.layers.Flatten):
        h = tf.reshape(h, [self.num_seeds, -1, int(np.prod(h.shape[2:]))])
      elif isinstance(layer, keras.layers.Reshape):
        h = tf.reshape(h, [self.num_seeds, -1] + list(layer.target_shape))
      else:
        h = _stacked_dense(h, labels, self._weight(layer.kernel), self._weight(layer.bias),
                           networks.is_routed(layer), self.num_classes)
        h = layer.activation(h)
    return h

  def encode(self, images, labels):
    """q(z | x, y) of every seed: batch shape [S, B], event shape [D].

    Args:
      images: [S, B, H, W, C] float32 in [0, 1]. labels: [S, B] int32.
    """
    t = self.template
    labels = tf.cast(labels, tf.int32)
    onehot = tf.one_hot(labels, self.num_classes)  # [S, B, K]
    encoder_onehot = onehot if t.encoder_uses_label else tf.zeros_like(onehot)
    flat = tf.reshape(images, [self.num_seeds, -1, int(np.prod(self.image_shape))])
    h = self._apply(t.encoder_layers, tf.concat([flat, encoder_onehot], -1), labels)  # [S, B, 2D]
    return vae.encoder_distribution(h)

  def decode(self, labels, z):
    """p(x | y, z) of every seed: batch shape [S, B], event [H, W, C] (z [S, B, D], T_y applied).

    As `ConditionalVAE.decode(labels, decoder_code(labels, z))` with a seed axis.
    """
    t = self.template
    labels = tf.cast(labels, tf.int32)
    if t.latent_transform != "none":
      per_example = tf.gather(self.transforms, labels, batch_dims=1)  # [S, B, D, D]
      z = tf.einsum("sbij,sbj->sbi", per_example, z)
    onehot = tf.one_hot(labels, self.num_classes)  # [S, B, K]
    out = self._apply(t.decoder_layers, tf.concat([z, onehot], -1), labels)  # [S, B, H, W, C]
    log_scale = None
    if t.likelihood != "bernoulli":
      log_scale = self._weight(t.decoder_log_scale)[:, None]  # [S, 1, H, W, C]
    return vae.decoder_distribution(out, t.likelihood, log_scale)

  def elbo_terms(self, images, labels, noise):
    """Per-example ELBO terms of every seed, as ConditionalVAE.elbo_terms with a seed axis.

    Args:
      images: [S, B, H, W, C] float32 in [0, 1].
      labels: [S, B] int32.
      noise: [S, B, D] standard normal.

    Returns:
      dict of [S, B] tensors: elbo, elbo_x_given_y, log_likelihood, kl, log_prior_y.
    """
    labels = tf.cast(labels, tf.int32)
    return vae.elbo_terms(images, labels, self.encode(images, labels),
                          lambda z: self.decode(labels, z), noise, self.template.prior_z(),
                          self.template.prior_y())

  def model_for_seed(self, index):
    """The ConditionalVAE of seed number `index` (a new model holding a copy of its weights)."""
    model = vae.ConditionalVAE(**self.model_kwargs[index])
    model.build_all()
    g = self.num_classes
    for target, stacked, is_routed in zip(model.trainable_variables, self.variables,
                                          self._routed):
      target.assign(stacked[index * g:(index + 1) * g] if is_routed else stacked[index])
    return model
