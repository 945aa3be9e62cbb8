"""Many seeds at the price of few: S independent conditional VAEs trained as one XLA program.

A win rate (App. B, "the exact win rate remains to be determined") needs many independent runs of
one model (paper Sec. 1, Eq. 1). Seeds share every shape, so instead of S processes this module
stacks them: every weight gets a leading seed axis and one compiled step updates all S models.

```none
shared dense:   h[s, b] = act(x[s, b] @ W[s] + c[s])                einsum 'sbi,sio->sbo'
routed dense:   h[s, b] = act(x[s, b] @ W[s*G + y[s, b]] + c[s*G + y[s, b]])   W [S*G, in, out]
                (the (seed, label) pairs are the S*G groups of kernels.routed.routed_dense)
loss            = sum_s  -sum_b ELBO_s(x[s, b], y[s, b]) / B          (Eq. 1, each seed's own batch)
```

Seeds never interact: the loss is a sum of per-seed terms, so seed s's gradient is exactly its
own, and Adam is elementwise, so Keras Adam on the stacked variables is S independent Adams.
Routed weights are stored [S*G, ...] and handed to the routed kernel unreshaped; their gradients
(IndexedSlices where the kernel gathers) are made dense before Adam, as `tfdis.train` does
(`train.dense_gradients`: Keras 3 Adam would otherwise square the unsummed rows).

Everything that makes a `tfdis.train.train` run a function of its config is reproduced per seed:
the initial weights are those `ConditionalVAE` gets after `keras.utils.set_random_seed(seed)`
(S models are built that way and their weights stacked), batch b of seed s is
`train.batch_indices(step, N, B, seed)`, and its noise `train.step_noise(config_s, D, step)`. So
seed s of a batched run equals the sequential run of seed s up to float rounding (tested).

What it buys (`tfdis.bench_seeds`, 2 CPU cores shared with other jobs, so +-30% noise): at the
competition size (MLP 512 x 3, B = 128) 16 seeds together ran 0.9-1.33x the model-steps/s of 16
sequential runs (4 seeds: 1.1x), at 64 units 1.3x. A CPU is compute-bound here: stacking saves
per-step dispatch and a process per seed, not FLOPs, so issue #6's 4x is not reached on this
machine (a GPU, which one such model leaves mostly idle, is where it would pay).

Only the MLP architecture is supported (the competition of App. B uses it); the configs may
differ in `seed` and `transform_seed` only. Shapes: S seeds, B batch, D latent, G labels.
"""
import dataclasses
import json
import os
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from kernels import routed
from tfdis.data import datasets as data
from tfdis.model import vae as model_lib
from tfdis.model import networks
from tfdis.training import vae_training as train
from tfdis.errors import UsageError

tfd = tfp.distributions

# TrainConfig fields that may differ between the seeds of one batched run.
PER_SEED_FIELDS = ("seed", "transform_seed")


def check_configs(configs):
  """Raises UsageError unless `configs` (TrainConfigs) can be trained together."""
  if not configs:
    raise UsageError("Seed-batched training needs at least one config; pass one per seed.")
  first = dataclasses.asdict(configs[0])
  for config in configs:
    config.validate()
    mine = dataclasses.asdict(config)
    differ = sorted(k for k in first if k not in PER_SEED_FIELDS + train._RESUMABLE_FIELDS  # pylint: disable=protected-access
                    and mine[k] != first[k])
    if differ:
      raise UsageError(f"Seed-batched configs differ in {', '.join(differ)}; only "
                       f"{', '.join(PER_SEED_FIELDS)} may differ between seeds trained together.")
  if configs[0].architecture != "mlp":
    raise UsageError(f"Seed-batched training supports --architecture=mlp only, got "
                     f"{configs[0].architecture!r}; train conv models one seed at a time.")
  if configs[0].strategy != "default":
    raise UsageError("Seed-batched training runs on one device; use --strategy=default.")
  seeds = [c.seed for c in configs]
  if len(set(seeds)) != len(seeds):
    raise UsageError(f"Seeds {seeds} repeat; give each batched run a distinct seed.")


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
  # The variables go to the kernel unreshaped, so their gradients have the same structure as a
  # single model's (made dense before Adam, see the module docstring).
  flat = routed.routed_dense(tf.reshape(x, [-1, x.shape[-1]]), tf.reshape(groups, [-1]),
                             kernel, bias)  # [S*B, out]
  return tf.reshape(flat, [num_seeds, batch, kernel.shape[-1]])


class SeedBatchedVAE:
  """S ConditionalVAEs (one per config) as stacked tf.Variables [S, ...] with a stacked ELBO."""

  def __init__(self, configs, image_shape, num_classes):
    check_configs(configs)
    self.configs = list(configs)
    self.num_seeds = len(configs)
    models = []
    for config in configs:
      keras.utils.set_random_seed(config.seed)  # as train._Trainer does before building
      models.append(model_lib.ConditionalVAE(
          **config.model_kwargs(image_shape, num_classes)).build_all())
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

  def elbo_terms(self, images, labels, noise):
    """Per-example ELBO terms of every seed, as ConditionalVAE.elbo_terms with a seed axis.

    Args:
      images: [S, B, H, W, C] float32 in [0, 1].
      labels: [S, B] int32.
      noise: [S, B, D] standard normal.

    Returns:
      dict of [S, B] tensors: elbo, elbo_x_given_y, log_likelihood, kl, log_prior_y.
    """
    t = self.template
    labels = tf.cast(labels, tf.int32)
    onehot = tf.one_hot(labels, self.num_classes)  # [S, B, K]
    encoder_onehot = onehot if t.encoder_uses_label else tf.zeros_like(onehot)
    flat = tf.reshape(images, [self.num_seeds, -1, int(np.prod(self.image_shape))])
    h = self._apply(t.encoder_layers, tf.concat([flat, encoder_onehot], -1), labels)  # [S, B, 2D]
    loc, raw_scale = tf.split(h, 2, axis=-1)
    q = tfd.MultivariateNormalDiag(loc=loc, scale_diag=tf.nn.softplus(raw_scale) + 1e-4)
    z = q.mean() + q.stddev() * noise  # [S, B, D]
    if t.latent_transform != "none":
      per_example = tf.gather(self.transforms, labels, batch_dims=1)  # [S, B, D, D]
      z = tf.einsum("sbij,sbj->sbi", per_example, z)
    out = self._apply(t.decoder_layers, tf.concat([z, onehot], -1), labels)  # [S, B, H, W, C]
    if t.likelihood == "bernoulli":
      p = tfd.Independent(tfd.Bernoulli(logits=out, dtype=tf.float32), reinterpreted_batch_ndims=3)
    else:
      log_scale = self._weight(t.decoder_log_scale)[:, None]  # [S, 1, H, W, C]
      p = tfd.Independent(tfd.Normal(loc=tf.sigmoid(out), scale=tf.nn.softplus(log_scale) + 1e-3),
                          reinterpreted_batch_ndims=3)
    log_likelihood = p.log_prob(images)  # [S, B]
    kl = tfd.kl_divergence(q, t.prior_z())  # [S, B]
    log_prior_y = t.prior_y().log_prob(labels)  # [S, B]
    elbo_x_given_y = log_likelihood - kl
    return {"elbo": elbo_x_given_y + log_prior_y, "elbo_x_given_y": elbo_x_given_y,
            "log_likelihood": log_likelihood, "kl": kl, "log_prior_y": log_prior_y}

  def model_for_seed(self, index):
    """The ConditionalVAE of seed number `index` (a new model holding a copy of its weights)."""
    config = self.configs[index]
    model = model_lib.ConditionalVAE(**config.model_kwargs(self.image_shape, self.num_classes))
    model.build_all()
    g = self.num_classes
    for target, stacked, is_routed in zip(model.trainable_variables, self.variables,
                                          self._routed):
      target.assign(stacked[index * g:(index + 1) * g] if is_routed else stacked[index])
    return model


class SeedBatchedTrainer:
  """A SeedBatchedVAE, Keras Adam on its stacked variables, a checkpoint and the compiled step."""

  def __init__(self, configs, image_shape, num_classes):
    self.vae = SeedBatchedVAE(configs, image_shape, num_classes)
    self.configs = self.vae.configs
    config = self.configs[0]
    self.optimizer = keras.optimizers.Adam(config.learning_rate)
    self.optimizer.build(self.vae.variables)
    self.checkpoint = tf.train.Checkpoint(stacked_weights=list(self.vae.variables),
                                          optimizer=self.optimizer)
    variables, optimizer, scale = self.vae.variables, self.optimizer, 1.0 / config.batch_size

    def step_fn(images, labels, noise):
      with tf.GradientTape() as tape:
        terms = self.vae.elbo_terms(images, labels, noise)
        loss = -tf.reduce_sum(terms["elbo"]) * scale  # sum over seeds of each seed's loss
      optimizer.apply(train.dense_gradients(tape.gradient(loss, variables)), variables)
      return tf.reduce_mean(terms["elbo"], axis=1)  # [S]
    self._step = tf.function(step_fn, jit_compile=config.jit_compile)
    self._orders = {}  # (seed, epoch, N) -> that epoch's permutation

  @property
  def completed_steps(self):
    return int(self.optimizer.iterations.numpy())

  def _batch_indices(self, step, num_examples, batch_size, seed):
    """train.batch_indices(step, ...), with each seed's epoch permutation drawn once per epoch."""
    steps_per_epoch = num_examples // batch_size
    if steps_per_epoch < 1:
      return train.batch_indices(step, num_examples, batch_size, seed)  # raises its UsageError
    epoch, position = divmod(int(step), steps_per_epoch)
    key = (seed, epoch, num_examples)
    if key not in self._orders:
      self._orders = {k: v for k, v in self._orders.items() if k[1] == epoch}  # keep one epoch
      self._orders[key] = np.random.default_rng([seed, epoch]).permutation(num_examples)
    return self._orders[key][position * batch_size:(position + 1) * batch_size]

  def batch(self, train_images, train_labels, step):
    """(images [S, B, H, W, C], labels [S, B], noise [S, B, D]) of every seed at `step`."""
    idx = np.stack([self._batch_indices(step, len(train_images), c.batch_size, c.seed)
                    for c in self.configs])  # [S, B]
    noise = tf.stack([train.step_noise(c, self.vae.latent_dim, step) for c in self.configs])
    return train_images[idx], train_labels[idx], noise

  def run_step(self, train_images, train_labels, step):
    """One Adam step of every seed; returns the per-seed batch-mean ELBO [S] (a tensor)."""
    return self._step(*self.batch(train_images, train_labels, step))


def _load_train_arrays(config, datasets_override):
  if datasets_override is not None:
    return datasets_override["train"]
  return data.load_arrays(config.dataset, "train", config.tfds_dir or None)


def train_seeds(configs, workdir, datasets_override=None):
  """Trains (or resumes) the seeds of `configs` together up to `num_steps`, checkpointing in workdir.

  Args:
    configs: TrainConfigs differing only in seed / transform_seed (see `check_configs`).
    workdir: folder for `checkpoints/` and `config.json`; created if missing.
    datasets_override: optional {'train': (images, labels), ...} arrays instead of the dataset.

  Returns:
    (SeedBatchedTrainer, wall seconds spent training in this call).
  """
  check_configs(configs)
  config = configs[0]
  train.prepare_workdir(workdir)
  saved = [dataclasses.asdict(c) for c in configs]
  path = os.path.join(workdir, "config.json")
  if os.path.exists(path):
    with open(path) as f:
      previous = json.load(f)
    strip = lambda cs: [{k: v for k, v in c.items() if k not in train._RESUMABLE_FIELDS}  # pylint: disable=protected-access
                        for c in cs]
    if strip(previous) != strip(saved):
      raise UsageError(f"{workdir} holds a seed-batched run of other configs; use a new folder "
                       "or the same configs to resume it.")
  train._write_json(path, saved)  # pylint: disable=protected-access
  train_images, train_labels = _load_train_arrays(config, datasets_override)
  trainer = SeedBatchedTrainer(configs, tuple(train_images.shape[1:]),
                               data.DatasetInfo(config.dataset,
                                                tuple(train_images.shape[1:])).num_classes)
  manager = tf.train.CheckpointManager(trainer.checkpoint, os.path.join(workdir, "checkpoints"),
                                       max_to_keep=1)
  if manager.latest_checkpoint:
    trainer.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
  start, began = trainer.completed_steps, time.time()
  window_start, window_step = began, start
  for step in range(start, config.num_steps):
    elbo = trainer.run_step(train_images, train_labels, step)
    done = step + 1
    if done % config.log_every == 0 or done % config.checkpoint_every == 0 or (
        done == config.num_steps):
      elbo = elbo.numpy()
      if not np.all(np.isfinite(elbo)):
        bad = [c.seed for c, e in zip(configs, elbo) if not np.isfinite(e)]
        raise train.NonFiniteLossError(
            f"The loss of seed(s) {bad} became NaN or infinite before step {done}; the last good "
            f"checkpoint in {workdir} was kept; lower --learning_rate.")
      if done % config.log_every == 0 or done == config.num_steps:
        rate = (done - window_step) / max(time.time() - window_start, 1e-9)
        window_start, window_step = time.time(), done
        logging.info("seeds %s: step %d/%d  mean elbo %.2f  %.1f steps/s (x%d models)",
                     [c.seed for c in configs], done, config.num_steps, float(elbo.mean()),
                     rate, len(configs))
      if done % config.checkpoint_every == 0 or done == config.num_steps:
        manager.save(checkpoint_number=done)
  return trainer, time.time() - began
