"""Many seeds at the price of few: S conditional VAEs trained together as one XLA program.

The competition of App. B needs many independent runs of one model (Sec. 1, Eq. 1) to estimate
a win rate. `tfdis.model.seed_batched.SeedBatchedVAE` stacks S models of one shape; this module
trains them with one compiled step, through the one loop (`tfdis.training.loop.fit`):

```none
loss = sum_s  -sum_b ELBO_s(x[s, b], y[s, b]) / B          (Eq. 1, each seed's own batch)
```

Seeds never interact: the loss is a sum of per-seed terms, so seed s's gradient is exactly its
own, and Adam and SGD are elementwise, so Keras Adam (or SGD, --optimizer) on the stacked
variables is S independent optimizers (routed weights' gradients made dense first,
`steps.dense_gradients`).

Everything that makes a single run (`tfdis.training.vae_training.train`) a function of its config
is reproduced per seed: the initial weights (see the model), the batch order
(`steps.BatchOrder(N, B, seed)`), the noise (`steps.step_noise(seed, B, D, step)`) and, with
--dequantize, the dequantisation (`steps.dequantize_batch(images, seed, step)`). So seed s
of a batched run equals the sequential run of seed s up to float rounding (tested). The configs
may differ in `seed` and `transform_seed` only. Shapes: S seeds, B batch, D latent.
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf

from tfdis import files
from tfdis.data import datasets
from tfdis.errors import UsageError
from tfdis.model import seed_batched
from tfdis.training import config as config_lib
from tfdis.training import loop
from tfdis.training import steps

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
    differ = sorted(k for k in first if k not in PER_SEED_FIELDS + config_lib.RESUMABLE_FIELDS
                    and mine[k] != first[k])
    if differ:
      raise UsageError(f"Seed-batched configs differ in {', '.join(differ)}; only "
                       f"{', '.join(PER_SEED_FIELDS)} may differ between seeds trained together.")
  if configs[0].architecture != "mlp":
    raise UsageError(f"Seed-batched training supports --architecture=mlp only, got "
                     f"{configs[0].architecture!r}; train conv models one seed at a time.")
  if configs[0].strategy != "default":
    raise UsageError("Seed-batched training runs on one device; use --strategy=default.")
  if configs[0].balanced_batches:
    raise UsageError("Seed-batched training draws its own batches; leave --balanced_batches off "
                     "(it is a flag of binaries.train).")
  seeds = [c.seed for c in configs]
  if len(set(seeds)) != len(seeds):
    raise UsageError(f"Seeds {seeds} repeat; give each batched run a distinct seed.")


class SeedBatchedTrainer:
  """The trainer `loop.fit` runs: a SeedBatchedVAE, its optimizer on the stacked weights, a step.

  Args:
    configs: TrainConfigs differing only in seed / transform_seed (see `check_configs`).
    images: training images [N, H, W, C] float32; labels: [N] int32.
    num_classes: G.
  """

  def __init__(self, configs, images, labels, num_classes):
    check_configs(configs)
    self.configs = list(configs)
    self.images, self.labels = images, labels
    image_shape = tuple(images.shape[1:])
    self.vae = seed_batched.SeedBatchedVAE(
        [c.model_kwargs(image_shape, num_classes) for c in self.configs],
        [c.seed for c in self.configs])
    config = self.configs[0]
    self.variables = self.vae.variables
    self.optimizer = steps.make_optimizer(config.optimizer, config.learning_rate, self.variables)
    self.checkpoint = tf.train.Checkpoint(stacked_weights=list(self.variables),
                                          optimizer=self.optimizer)
    scale = 1.0 / config.batch_size

    def loss_fn(images, labels, noise):
      terms = self.vae.elbo_terms(images, labels, noise)
      return -tf.reduce_sum(terms["elbo"]) * scale, terms  # sum over seeds of each seed's loss

    train_step = steps.optimizer_step(loss_fn, self.variables, self.optimizer)
    # -> [S] batch-mean ELBO per seed
    self.step = tf.function(lambda *batch: tf.reduce_mean(train_step(*batch)["elbo"], axis=1),
                            jit_compile=config.jit_compile, autograph=False)
    self._orders = [steps.BatchOrder(len(images), c.batch_size, c.seed) for c in self.configs]

  @property
  def completed_steps(self):
    return int(self.optimizer.iterations.numpy())

  def batch(self, step):
    """(images [S, B, H, W, C], labels [S, B], noise [S, B, D]) of every seed at `step`."""
    idx = np.stack([order.indices(step) for order in self._orders])  # [S, B]
    noise = tf.stack([steps.step_noise(c.seed, c.batch_size, self.vae.latent_dim, step)
                      for c in self.configs])
    images = self.images[idx]
    if self.configs[0].dequantize:
      images = np.stack([steps.dequantize_batch(x, c.seed, step)
                         for x, c in zip(images, self.configs)])
    return images, self.labels[idx], noise

  def scalars(self, elbo):
    """The mean over seeds of the batch-mean ELBO, to log."""
    return {"mean_elbo": float(np.mean(elbo))}


def train_seeds(configs, workdir, datasets_override=None, make_hooks=None):
  """Trains (or resumes) the seeds of `configs` together up to `num_steps`, in `workdir`.

  Args:
    configs: TrainConfigs differing only in seed / transform_seed (see `check_configs`).
    workdir: folder for `checkpoints/`, `tensorboard/` and `config.json`; created if missing.
    datasets_override: optional {'train': (images, labels), ...} arrays instead of the dataset.
    make_hooks: optional trainer -> `loop.fit` hooks (e.g. judging the models during training).

  Returns:
    (SeedBatchedTrainer, wall seconds spent training in this call).
  """
  check_configs(configs)
  config = configs[0]
  files.prepare(workdir)
  files.check_settings(os.path.join(workdir, "config.json"),
                       [dataclasses.asdict(c) for c in configs], what="a seed-batched run",
                       ignore=config_lib.RESUMABLE_FIELDS,
                       defaults=dataclasses.asdict(config_lib.TrainConfig()))  # fields added since
  if datasets_override is not None:
    images, labels = datasets_override["train"]
  else:
    images, labels = datasets.load_arrays(config.dataset, "train", config.tfds_dir or None)
  num_classes = datasets.DatasetInfo(config.dataset, tuple(images.shape[1:])).num_classes
  trainer = SeedBatchedTrainer(configs, images, labels, num_classes)
  seconds = loop.fit(trainer, workdir, config.num_steps, config.log_every,
                     config.checkpoint_every, hooks=make_hooks(trainer) if make_hooks else (),
                     log_prefix=f"seeds {[c.seed for c in configs]} (x{len(configs)} models): ")
  return trainer, seconds
