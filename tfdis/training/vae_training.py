"""Training and evaluation of the conditional VAE (Sec. 1, Eq. 1), resumable and deterministic.

`train_and_evaluate(config, workdir)` is the whole job: it trains with Adam (or plain SGD,
--optimizer) on -ELBO through the
one training loop (`tfdis.training.loop.fit`: checkpoints in `workdir/checkpoints`, resumed
automatically, TensorBoard scalars in `workdir/tensorboard`, a progress line with steps/s and ETA),
and at the end writes

  metrics.json          test ELBO and its parts (nats per example), steps, config
  timing.json           wall time of this call (kept apart: metrics.json is reproducible)
  samples.png           row i, column j = μ_p(i, z_j) for shared z_j (the paper's Fig. 1 layout)
  reconstructions.png   test images (odd rows) above μ_p(y, μ_q(x, y)) (even rows)
  saved_model/          signatures encode(x, y), decode(y, z), sample(y) (see tfdis.model.export)
  tracking.json         with --track_every: SP and LP during training (tfdis.training.tracking)

Determinism: batch b of epoch e is a fixed slice of a permutation seeded by (seed, e) (with
--balanced_batches, B/K examples of each label from per-label permutations: `tfdis.data.balanced`),
and the reparameterisation noise of step s is stateless, seeded by (seed, s), as is its
dequantisation with --dequantize (`tfdis.training.steps`).
Together with TF op determinism this makes a run a pure function of its flags: the same flags give
the same metrics.json, and training N steps, stopping, and resuming to 2N equals training 2N at
once.
"""
import dataclasses
import os

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tfdis import grids
from tfdis import files
from tfdis.data import balanced
from tfdis.data import datasets
from tfdis.errors import UsageError
from tfdis.model import export
from tfdis.model import vae
from tfdis.training import checkpoints
from tfdis.training import config as config_lib
from tfdis.training import loop
from tfdis.training import steps
from tfdis.training import tracking


class VAETrainer:
  """The trainer `loop.fit` runs: one ConditionalVAE, its optimizer, checkpoint and compiled step.

  Args:
    config: TrainConfig.
    images: training images [N, H, W, C] float32; labels: [N] int32.
    info: DatasetInfo of the data.
    strategy: tf.distribute strategy (`steps.make_strategy`).
  """

  def __init__(self, config, images, labels, info, strategy):
    self.config = config
    self.strategy = strategy
    self.images, self.labels = images, labels
    # The routed layers' layout: balanced batches are grouped by label, B/K of each.
    self.layout = "balanced" if config.balanced_batches else "any"
    if config.balanced_batches:
      if strategy.num_replicas_in_sync != 1:
        raise UsageError(f"--balanced_batches runs on one device; use --strategy=default, not "
                         f"--strategy={config.strategy}.")
      self._order = balanced.BalancedOrder(labels, config.batch_size, config.seed,
                                           info.num_classes)
    else:
      self._order = steps.BatchOrder(len(images), config.batch_size, config.seed)
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
      self.model = vae.ConditionalVAE(
          **config.model_kwargs(info.image_shape, info.num_classes)).build_all()
      self.optimizer = steps.make_optimizer(config.optimizer, config.learning_rate,
                                            self.model.trainable_variables)
    self.variables = self.model.weights
    self.checkpoint = steps.model_checkpoint(self.model, optimizer=self.optimizer)
    self.step = self._make_step()
    self._run_steps = None  # built on first use (loop.fit's steps_per_call)

  def _noise(self, step):
    """The reparameterisation noise [B, D] of `step` (global batch; drawn outside XLA)."""
    return steps.step_noise(self.config.seed, self.config.batch_size, self.model.latent_dim, step)

  def loss(self, images, labels, noise):
    """(−mean ELBO of the batch, its per-example terms): what the step minimises."""
    terms = self.model.elbo_terms(images, labels, noise, self.layout)
    return -tf.reduce_sum(terms["elbo"]) * (1.0 / self.config.batch_size), terms

  def _make_step(self):
    config, model, optimizer = self.config, self.model, self.optimizer
    batch_means = lambda terms: {k: tf.reduce_mean(v) for k, v in terms.items()}
    if self.strategy.num_replicas_in_sync == 1:
      train_step = steps.optimizer_step(self.loss, model.trainable_variables, optimizer)
      return tf.function(lambda *batch: batch_means(train_step(*batch)),
                         jit_compile=config.jit_compile, autograph=False)

    # Several replicas: XLA compiles each replica's loss and gradients; the all-reduce and the
    # update run outside XLA, where tf.distribute can place them.
    grads_fn = tf.function(steps.gradients_fn(self.loss, model.trainable_variables),
                           jit_compile=config.jit_compile, autograph=False)
    num_replicas = self.strategy.num_replicas_in_sync

    def replica_fn(images, labels, step):
      # Each replica takes its rows of the global batch's noise, so any number of replicas
      # computes the same update as one.
      replica = tf.distribute.get_replica_context().replica_id_in_sync_group
      per_replica = config.batch_size // num_replicas
      noise = self._noise(step)[replica * per_replica:(replica + 1) * per_replica]
      grads, terms = grads_fn(images, labels, noise)
      optimizer.apply(grads, model.trainable_variables)
      return batch_means(terms)

    @tf.function
    def distributed_step(images, labels, step):
      means = self.strategy.run(replica_fn, args=(images, labels, step))
      return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
              for k, v in means.items()}
    return distributed_step

  def run_steps(self, start, count):
    """Steps start ... start + count - 1 in one compiled call (a while loop over the batches of
    those steps, each step as `self.step`); returns the list of their batch means."""
    if self.strategy.num_replicas_in_sync != 1:
      raise UsageError(f"Several steps per call run on one device; use --strategy=default, not "
                       f"--strategy={self.config.strategy}.")
    if self._run_steps is None:
      self._run_steps = self._make_run_steps()
    batches = [self.batch(step) for step in range(start, start + count)]
    stacked = self._run_steps(np.stack([b[0] for b in batches]),
                              np.stack([b[1] for b in batches]),
                              tf.stack([b[2] for b in batches]))  # {term: [count]}
    return [{k: v[i] for k, v in stacked.items()} for i in range(count)]

  def _make_run_steps(self):
    one_step = steps.optimizer_step(self.loss, self.model.trainable_variables, self.optimizer)
    keys = ("elbo", "elbo_x_given_y", "log_likelihood", "kl", "log_prior_y")

    def run_steps(images, labels, noise):  # [K, B, H, W, C], [K, B], [K, B, D]
      count = images.shape[0]

      def body(i, means):
        terms = one_step(images[i], labels[i], noise[i])
        return i + 1, [m.write(i, tf.reduce_mean(terms[k])) for m, k in zip(means, keys)]
      means = [tf.TensorArray(tf.float32, size=count) for _ in keys]
      _, means = tf.while_loop(lambda i, _: i < count, body, (tf.constant(0), means))
      return {k: m.stack() for k, m in zip(keys, means)}
    return tf.function(run_steps, jit_compile=self.config.jit_compile, autograph=False)

  @property
  def completed_steps(self):
    """Optimisation steps applied so far (the optimizer's count, restored with checkpoints)."""
    return int(self.optimizer.iterations.numpy())

  def batch(self, step):
    """The arguments of `self.step` for training step `step` (a global batch)."""
    idx = self._order.indices(step)
    images, labels = self.images[idx], self.labels[idx]
    if self.config.dequantize:
      images = steps.dequantize_batch(images, self.config.seed, step)
    replicas = self.strategy.num_replicas_in_sync
    if replicas == 1:
      # The noise is drawn outside XLA: compiled and uncompiled Philox differ for one seed.
      return images, labels, self._noise(tf.constant(step, tf.int64))
    per = len(images) // replicas
    if per * replicas != len(images):
      raise UsageError(f"--batch_size={len(images)} must be divisible by the {replicas} replicas "
                       f"of --strategy={self.config.strategy}.")
    value = lambda a: self.strategy.experimental_distribute_values_from_function(
        lambda ctx: a[ctx.replica_id_in_sync_group * per:(ctx.replica_id_in_sync_group + 1) * per])
    return value(images), value(labels), tf.constant(step, tf.int64)

  def scalars(self, means):
    """Batch means of the ELBO, ln p(x | y, z) and KL, to log."""
    return {k: float(means[k]) for k in ("elbo", "log_likelihood", "kl")}

  def out_of_range(self, means):
    """Why a step's batch-mean ELBO shows a diverged run, or None (`divergence_per_dim`)."""
    dims = int(np.prod(self.images.shape[1:]))
    limit = self.config.divergence_per_dim * dims
    elbo = float(means["elbo"])
    if limit and abs(elbo) > limit:
      return (f"batch ELBO {elbo:.4g} nats, beyond ±{limit:g} = --divergence_per_dim="
              f"{self.config.divergence_per_dim:g} x {dims} dimensions")
    return None


def elbo_per_example(model, images, labels, batch_size, seed, jit_compile=True):
  """Per-example ELBO terms over a whole split, one z sample each (noise seeded by `seed`).

  `model` is anything with `elbo_terms(images, labels, noise)` and `latent_dim` (a
  ConditionalVAE, or an entangled counterpart). Returns a dict of float64 arrays [N].
  """
  fn = tf.function(model.elbo_terms, jit_compile=jit_compile, autograph=False)
  parts = {}
  for start in range(0, len(images), batch_size):
    x, y = images[start:start + batch_size], labels[start:start + batch_size]
    noise = vae.standard_normal([len(x), model.latent_dim], [seed, -1 - start])
    for k, v in fn(x, y, noise).items():
      parts.setdefault(k, []).append(v.numpy().astype(np.float64))
  return {k: np.concatenate(v) for k, v in parts.items()}


def evaluate_elbo(model, images, labels, batch_size, seed, jit_compile=True):
  """Mean per-example ELBO terms (nats): elbo, elbo_x_given_y, log_likelihood, kl, log_prior_y."""
  terms = elbo_per_example(model, images, labels, batch_size, seed, jit_compile)
  return {k: float(v.mean()) for k, v in terms.items()}


def train(config, workdir, datasets_override=None):
  """Trains (or resumes) the model in `workdir` up to `config.num_steps`.

  Args:
    config: TrainConfig.
    workdir: folder for checkpoints, logs and results; created if missing.
    datasets_override: optional {'train': (images, labels), 'test': (images, labels)} arrays,
      the seam tests use instead of loading `config.dataset`.

  Returns:
    (trainer, test arrays, wall seconds spent training in this call).
  """
  config.validate()
  files.prepare(workdir)
  config_path = os.path.join(workdir, "config.json")
  settings = dict(what="a run", ignore=config_lib.RESUMABLE_FIELDS,
                  defaults=dataclasses.asdict(config_lib.TrainConfig()))
  files.check_settings(config_path, dataclasses.asdict(config), check_only=True, **settings)
  held = checkpoints.steps_on_disk(os.path.join(workdir, "checkpoints"))
  if held and held[0] > config.num_steps:
    raise UsageError(f"--workdir={workdir} already holds a run trained for {held[0]} steps, more "
                     f"than --num_steps={config.num_steps}; give --num_steps={held[0]} or more to "
                     "continue it, or a new --workdir.")
  if datasets_override is not None:
    train_images, train_labels = datasets_override["train"]
    test_arrays = datasets_override["test"]
  else:
    tfds_dir = config.tfds_dir or None
    train_images, train_labels = datasets.load_arrays(config.dataset, "train", tfds_dir)
    test_arrays = datasets.load_arrays(config.dataset, "test", tfds_dir)
  info = datasets.DatasetInfo(config.dataset, tuple(train_images.shape[1:]))
  trainer = VAETrainer(config, train_images, train_labels, info,
                       steps.make_strategy(config.strategy))
  if not os.path.exists(config_path):  # checkpoints without their config: are they this model's?
    checkpoints.restore_newest_intact(trainer.checkpoint, os.path.join(workdir, "checkpoints"))
  # Recorded only now that the model was built from it: a setting the model refuses leaves no
  # config.json behind to block the corrected command.
  files.check_settings(config_path, dataclasses.asdict(config), **settings)
  _set_aside_stale_results(workdir, config.num_steps, held[0] if held else 0)
  hooks = ()
  if config.track_every:
    classify = None
    if config.track_lp:
      from tfdis.metrics import classifier  # pylint: disable=g-import-not-at-top
      classify = classifier.cached_classify(config.dataset, config.classifier_dir)
    hooks = [loop.EveryN(config.track_every, tracking.Tracker(trainer.model, workdir, classify,
                                                              seed=config.seed), at_start=True)]
  seconds = loop.fit(trainer, workdir, config.num_steps, config.log_every, config.checkpoint_every,
                     hooks=hooks)
  return trainer, test_arrays, seconds


# What train_and_evaluate writes after training (binaries.evaluate adds evaluation.json and its
# grids): all of it describes the model at the step metrics.json records.
RESULT_FILES = ("metrics.json", "timing.json", "samples.png", "reconstructions.png",
                "saved_model", "evaluation.json", "grid_model.png", "grid_entangled.png",
                "grids.png")


def _set_aside_stale_results(workdir, num_steps, held_step):
  """Moves result files aside when they may describe another model than training will leave.

  They are kept only when they record the step of the newest checkpoint (`held_step`) and
  training goes no further (a finished run run again); otherwise (a continued run, checkpoints
  deleted and trained anew) they go to superseded/step_<their step>/.
  """
  present = [name for name in RESULT_FILES if os.path.exists(os.path.join(workdir, name))]
  if not present:
    return
  recorded = None
  for name in ("metrics.json", "evaluation.json"):
    saved = files.read_json(os.path.join(workdir, name))
    if isinstance(saved, dict) and isinstance(saved.get("steps"), int):
      recorded = saved["steps"]
      break
  if recorded == held_step and held_step >= num_steps:
    return
  folder = f"superseded/step_{recorded if recorded is not None else 'unknown'}"
  moved = files.set_aside(workdir, RESULT_FILES, folder)
  logging.warning("Training goes from step %d to %d: the results of step %s (%s) were moved to "
                  "%s.", held_step, num_steps, recorded, ", ".join(moved),
                  os.path.join(workdir, folder))


def train_and_evaluate(config, workdir, datasets_override=None):
  """Trains, then writes metrics.json, samples.png, reconstructions.png and saved_model/.

  Returns:
    The metrics dict written to metrics.json.
  """
  trainer, (test_images, test_labels), seconds = train(config, workdir, datasets_override)
  model = trainer.model
  elbo_images = test_images
  if config.dequantize:
    elbo_images = steps.dequantize_test(test_images, config.seed)
  metrics = evaluate_elbo(model, elbo_images, test_labels, config.eval_batch_size, config.seed,
                          config.jit_compile)
  metrics = {"test_" + k: v for k, v in metrics.items()}
  metrics.update(steps=trainer.completed_steps, dataset=config.dataset,
                 train_seconds_this_call=round(seconds, 1))
  write_figures(model, test_images, test_labels, workdir, config)
  export.export_saved_model(model, os.path.join(workdir, "saved_model"))
  # Wall time varies between runs; keep it out of metrics.json so that file is reproducible.
  files.write_json(os.path.join(workdir, "timing.json"),
                   {"train_seconds_this_call": round(seconds, 1)})
  del metrics["train_seconds_this_call"]
  files.write_json(os.path.join(workdir, "metrics.json"), metrics)
  logging.info("Test ELBO %.2f nats (KL %.2f); results in %s", metrics["test_elbo"],
               metrics["test_kl"], workdir)
  return metrics


def write_figures(model, images, labels, workdir, config):
  """samples.png (label x shared-z grid) and reconstructions.png for a trained model."""
  z = np.random.default_rng([config.seed, 7]).standard_normal(
      (config.grid_columns, model.latent_dim)).astype(np.float32)
  decode = lambda y, codes: model.decode_mean(tf.constant(y), tf.constant(codes)).numpy()
  grid = grids.label_z_grid(decode, model.num_classes, z)
  grids.save_png(grids.tile(grid), os.path.join(workdir, "samples.png"))
  count = min(len(images), config.grid_columns * 5)
  x, y = images[:count], labels[:count]
  recon = model.generator_mean(y, model.encode(x, y).mean()).numpy()
  cols = config.grid_columns
  rows = count // cols
  if rows:
    x = x[:rows * cols].reshape((rows, cols) + x.shape[1:])
    recon = recon[:rows * cols].reshape((rows, cols) + recon.shape[1:])
    pairs = np.stack([x, recon], axis=1).reshape((2 * rows, cols) + x.shape[2:])
    grids.save_png(grids.tile(pairs), os.path.join(workdir, "reconstructions.png"))


def restore_model(workdir, with_step=False):
  """The trained model of a workdir (config.json, newest intact checkpoint) and its TrainConfig.

  With `with_step`, also the step of the checkpoint restored: (model, config, step).
  """
  path = os.path.join(workdir or "", "config.json")
  if not workdir or not os.path.exists(path):
    raise UsageError(f"--workdir={workdir} holds no training run (no config.json); train one first "
                     "with python -m binaries.train --workdir=<dir>.")
  saved = files.read_json(path)
  files.check_saved_types(path, saved, dataclasses.asdict(config_lib.TrainConfig()))
  known = {f.name for f in dataclasses.fields(config_lib.TrainConfig)}
  config = config_lib.TrainConfig(**{k: v for k, v in saved.items() if k in known})
  info = datasets.info(config.dataset)
  model = vae.ConditionalVAE(**config.model_kwargs(info.image_shape, info.num_classes))
  model.build_all()
  step, _ = checkpoints.restore_newest_intact(steps.model_checkpoint(model),
                                              os.path.join(workdir, "checkpoints"), partial=True)
  if step is None:
    raise UsageError(f"--workdir={workdir} has no checkpoint yet; finish its training with "
                     "python -m binaries.train first.")
  if not checkpoints.all_finite(model.weights):
    raise UsageError(f"The model in --workdir={workdir} (checkpoint of step {step}) has NaN or "
                     "infinite weights: its training diverged; train again in a new --workdir "
                     "with a lower --learning_rate.")
  return (model, config, step) if with_step else (model, config)
