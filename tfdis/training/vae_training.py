"""Training and evaluation of the conditional VAE (paper Sec. 1, Eq. 1), resumable and deterministic.

`train_and_evaluate(config, workdir)` is the whole job: it trains with Adam on -ELBO, checkpoints
into `workdir/checkpoints` (resuming from there automatically), logs TensorBoard scalars to
`workdir/tensorboard` and a progress line with steps/s and ETA, and at the end writes

  metrics.json          test ELBO and its parts (nats per example), steps, wall time, config
  samples.png           row i, column j = μ_p(i, z_j) for shared z_j (the paper's Fig. 1 layout)
  reconstructions.png   test images (odd rows) above μ_p(y, μ_q(x, y)) (even rows)
  saved_model/          signatures encode(x, y), decode(y, z), sample(y) (see tfdis.export)

Determinism: batch b of epoch e is a fixed slice of a permutation seeded by (seed, e), and the
reparameterisation noise of step s is stateless, seeded by (seed, s). Together with TF op
determinism this makes a run a pure function of its flags: the same flags give the same
metrics.json, and training N steps, stopping, and resuming to 2N equals training 2N at once.
"""
import dataclasses
import json
import math
import os
import signal
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tfdis.data import datasets as data
from tfdis.model import export
from tfdis import workdir as files
from tfdis import grids
from tfdis.model import vae as model_lib
from tfdis.errors import UsageError

STRATEGIES = ("default", "mirrored", "multi_worker")
LATENT_TRANSFORMS = ("none", "rotation", "reflection")
# Config fields that may change between a run and its resumption without changing the model.
_RESUMABLE_FIELDS = ("num_steps", "log_every", "checkpoint_every", "strategy")


class NonFiniteLossError(UsageError):
  """The loss became NaN or infinite; the last good checkpoint was kept."""


@dataclasses.dataclass
class TrainConfig:
  """Everything that defines a training run (the flags of binaries.train, one to one)."""
  dataset: str = "mnist"
  tfds_dir: str = ""
  architecture: str = "mlp"
  hidden_units: int = 512
  num_hidden_layers: int = 2
  latent_dim: int = 16
  likelihood: str = "bernoulli"
  encoder_uses_label: bool = True
  encoder_split: str = "none"
  decoder_split: str = "none"
  latent_transform: str = "none"
  transform_seed: int = 0
  batch_size: int = 128
  num_steps: int = 10000
  learning_rate: float = 1e-3
  seed: int = 0
  strategy: str = "default"
  jit_compile: bool = True
  log_every: int = 500
  checkpoint_every: int = 2000
  eval_batch_size: int = 1000
  grid_columns: int = 20

  def validate(self):
    """Raises UsageError naming the first bad field and how to fix it."""
    positive = ("hidden_units", "num_hidden_layers", "latent_dim", "batch_size", "num_steps", "log_every",
                "checkpoint_every", "eval_batch_size", "grid_columns")
    for name in positive:
      if getattr(self, name) < 1:
        raise UsageError(f"--{name}={getattr(self, name)} must be a positive integer.")
    if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
      raise UsageError(f"--learning_rate={self.learning_rate} must be a positive finite number.")
    if self.likelihood not in model_lib.LIKELIHOODS:
      raise UsageError(f"--likelihood={self.likelihood!r} is not one of {model_lib.LIKELIHOODS}.")
    if self.latent_transform not in LATENT_TRANSFORMS:
      raise UsageError(f"--latent_transform={self.latent_transform!r} is not one of "
                       f"{LATENT_TRANSFORMS}.")
    if self.strategy not in STRATEGIES:
      raise UsageError(f"--strategy={self.strategy!r} is not one of {STRATEGIES}.")
    data.check_name(self.dataset)
    return self

  def model_kwargs(self, image_shape, num_classes):
    return dict(image_shape=image_shape, num_classes=num_classes, latent_dim=self.latent_dim,
                architecture=self.architecture, hidden_units=self.hidden_units,
                likelihood=self.likelihood, encoder_uses_label=self.encoder_uses_label,
                encoder_split=self.encoder_split, decoder_split=self.decoder_split,
                num_hidden_layers=self.num_hidden_layers,
                latent_transform=self.latent_transform, transform_seed=self.transform_seed)


def prepare_workdir(workdir):
  """Creates `workdir` if needed and checks that it is writable."""
  if not workdir:
    raise UsageError("--workdir is required; give a folder for checkpoints and results, "
                     "e.g. --workdir=runs/shared.")
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, ".write_probe")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise UsageError(f"--workdir={workdir} cannot be written ({e.strerror}); "
                     "choose a folder you can write to.") from None
  return workdir


def make_strategy(name):
  """tf.distribute strategy for `name`; mirrored uses every visible CPU/GPU device."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
        d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)
  return tf.distribute.MultiWorkerMirroredStrategy()


def batch_indices(step, num_examples, batch_size, seed):
  """Example indices [batch_size] of training step `step`: a slice of epoch's seeded permutation."""
  steps_per_epoch = num_examples // batch_size
  if steps_per_epoch < 1:
    raise UsageError(f"--batch_size={batch_size} exceeds the {num_examples} training examples; "
                     "lower it.")
  epoch, position = divmod(int(step), steps_per_epoch)
  order = np.random.default_rng([seed, epoch]).permutation(num_examples)
  return order[position * batch_size:(position + 1) * batch_size]


def _check_resume(config, workdir):
  """Refuses to resume a workdir whose saved config defines a different model or data."""
  path = os.path.join(workdir, "config.json")
  mine = dataclasses.asdict(config)
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    defaults = dataclasses.asdict(TrainConfig())  # fields added since the run was written
    differ = sorted(k for k in mine if k not in _RESUMABLE_FIELDS and
                    saved.get(k, defaults[k]) != mine[k])
    if differ:
      raise UsageError(f"--workdir={workdir} holds a run with different {', '.join(differ)}; "
                       "use a new --workdir or the same flags to resume it.")
  _write_json(path, mine)


def _write_json(path, obj):
  files.write_json(path, obj)


def dense_gradients(grads):
  """Gradients as dense tensors, for the optimizer.

  Routed layers gather their weights by label, so some gradients arrive as tf.IndexedSlices with
  one row per example. Keras 3 Adam (3.15) would then build its second moment from the unsummed
  rows, Σ g_i², instead of from the row's gradient (Σ g_i)²: not Adam. Summing them first is.
  """
  return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]


def model_checkpoint(model, **others):
  """A tf.train.Checkpoint holding the model's weights (in `model.weights` order) and `others`.

  Keras 3 models are not checkpoint dependencies of their own, so the weights are tracked as a list.
  """
  return tf.train.Checkpoint(model_weights=list(model.weights), **others)


class _Trainer:
  """Builds the model, optimizer, checkpoint and compiled step for one config."""

  def __init__(self, config, info, strategy):
    self.config = config
    self.strategy = strategy
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
      self.model = model_lib.ConditionalVAE(
          **config.model_kwargs(info.image_shape, info.num_classes)).build_all()
      self.optimizer = keras.optimizers.Adam(config.learning_rate)
      self.optimizer.build(self.model.trainable_variables)
    self.checkpoint = model_checkpoint(self.model, optimizer=self.optimizer)
    self._train_step = self._make_train_step()

  def _loss_and_grads(self, images, labels, noise, scale):
    with tf.GradientTape() as tape:
      terms = self.model.elbo_terms(images, labels, noise)
      loss = -tf.reduce_sum(terms["elbo"]) * scale
    grads = dense_gradients(tape.gradient(loss, self.model.trainable_variables))
    means = {k: tf.reduce_mean(v) for k, v in terms.items()}
    return grads, means

  def _make_train_step(self):
    config, model, optimizer = self.config, self.model, self.optimizer
    if self.strategy.num_replicas_in_sync == 1:
      def step_fn(images, labels, noise):
        grads, means = self._loss_and_grads(images, labels, noise, 1.0 / config.batch_size)
        optimizer.apply(grads, model.trainable_variables)
        return means
      return tf.function(step_fn, jit_compile=config.jit_compile)

    # Several replicas: XLA compiles each replica's loss and gradients; the all-reduce and the
    # update run outside XLA, where tf.distribute can place them.
    grad_fn = tf.function(self._loss_and_grads, jit_compile=config.jit_compile)
    num_replicas = self.strategy.num_replicas_in_sync

    def replica_fn(images, labels, step):
      # Each replica takes its rows of the global batch's noise, so any number of replicas
      # computes the same update as one.
      replica = tf.distribute.get_replica_context().replica_id_in_sync_group
      per_replica = config.batch_size // num_replicas
      noise = step_noise(config, model.latent_dim, step)[
          replica * per_replica:(replica + 1) * per_replica]
      grads, means = grad_fn(images, labels, noise, 1.0 / config.batch_size)
      optimizer.apply(grads, model.trainable_variables)
      return means

    @tf.function
    def distributed_step(images, labels, step):
      means = self.strategy.run(replica_fn, args=(images, labels, step))
      return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
              for k, v in means.items()}
    return distributed_step

  @property
  def completed_steps(self):
    """Optimisation steps applied so far (the optimizer's count, restored with checkpoints)."""
    return int(self.optimizer.iterations.numpy())

  def weights_finite(self):
    return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.model.weights)

  def run_step(self, images, labels, step):
    """One optimisation step on a global batch; returns the batch means of the ELBO terms."""
    step = tf.constant(step, tf.int64)
    replicas = self.strategy.num_replicas_in_sync
    if replicas == 1:
      # The noise is drawn outside XLA: compiled and uncompiled Philox differ for one seed.
      return self._train_step(images, labels, step_noise(self.config, self.model.latent_dim, step))
    per = len(images) // replicas
    if per * replicas != len(images):
      raise UsageError(f"--batch_size={len(images)} must be divisible by the {replicas} replicas "
                       f"of --strategy={self.config.strategy}.")
    value = lambda a: self.strategy.experimental_distribute_values_from_function(
        lambda ctx: a[ctx.replica_id_in_sync_group * per:(ctx.replica_id_in_sync_group + 1) * per])
    return self._train_step(value(images), value(labels), step)


def step_noise(config, latent_dim, step):
  """The reparameterisation noise [batch_size, D] of training step `step` (global batch).

  Call it outside XLA: a jit-compiled stateless Philox gives other numbers for the same seed.
  """
  seed = tf.stack([tf.constant(config.seed, tf.int32), tf.cast(step, tf.int32)])
  return model_lib.standard_normal([config.batch_size, latent_dim], seed)


def elbo_per_example(model, images, labels, batch_size, seed, jit_compile=True):
  """Per-example ELBO terms over a whole split, one z sample each (noise seeded by `seed`).

  `model` is anything with `elbo_terms(images, labels, noise)` and `latent_dim` (a
  ConditionalVAE, or an entangled counterpart). Returns a dict of float64 arrays [N].
  """
  fn = tf.function(model.elbo_terms, jit_compile=jit_compile)
  parts = {}
  for start in range(0, len(images), batch_size):
    x, y = images[start:start + batch_size], labels[start:start + batch_size]
    noise = model_lib.standard_normal([len(x), model.latent_dim], [seed, -1 - start])
    for k, v in fn(x, y, noise).items():
      parts.setdefault(k, []).append(v.numpy().astype(np.float64))
  return {k: np.concatenate(v) for k, v in parts.items()}


def evaluate_elbo(model, images, labels, batch_size, seed, jit_compile=True):
  """Mean per-example ELBO terms (nats): elbo, elbo_x_given_y, log_likelihood, kl, log_prior_y."""
  terms = elbo_per_example(model, images, labels, batch_size, seed, jit_compile)
  return {k: float(v.mean()) for k, v in terms.items()}


def _all_finite(means_list):
  return all(np.isfinite(float(m["elbo"])) for m in means_list)


class _Interrupted(BaseException):
  """SIGTERM, raised like KeyboardInterrupt so no library's `except Exception` swallows it."""


def _raise_interrupt(signum, frame):
  del frame
  raise _Interrupted(signal.Signals(signum).name)


def format_seconds(seconds):
  seconds = int(round(seconds))
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else (
      f"{seconds // 60}m{seconds % 60:02d}s")


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
  prepare_workdir(workdir)
  _check_resume(config, workdir)
  if datasets_override is not None:
    train_images, train_labels = datasets_override["train"]
    test_arrays = datasets_override["test"]
    info = data.DatasetInfo(config.dataset, tuple(train_images.shape[1:]))
  else:
    tfds_dir = config.tfds_dir or None
    train_images, train_labels = data.load_arrays(config.dataset, "train", tfds_dir)
    test_arrays = data.load_arrays(config.dataset, "test", tfds_dir)
    info = data.DatasetInfo(config.dataset, tuple(train_images.shape[1:]))

  trainer = _Trainer(config, info, make_strategy(config.strategy))
  manager = tf.train.CheckpointManager(trainer.checkpoint, os.path.join(workdir, "checkpoints"),
                                       max_to_keep=2)
  if manager.latest_checkpoint:
    trainer.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    logging.info("Resumed from %s at step %d.", manager.latest_checkpoint, trainer.completed_steps)
  start = trainer.completed_steps
  writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))

  def save():
    manager.save(checkpoint_number=trainer.completed_steps)

  previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGTERM,)}
  unchecked, window_start, window_step = [], time.time(), start
  began = time.time()
  try:
    for step in range(start, config.num_steps):
      idx = batch_indices(step, len(train_images), config.batch_size, config.seed)
      unchecked.append(trainer.run_step(train_images[idx], train_labels[idx], step))
      done = step + 1
      if done % config.log_every == 0 or done == config.num_steps:
        if not _all_finite(unchecked):
          raise NonFiniteLossError(
              f"The loss became NaN or infinite before step {done}; stopped and kept the last "
              f"good checkpoint ({manager.latest_checkpoint or 'none'}); lower --learning_rate.")
        means = {k: float(v) for k, v in unchecked[-1].items()}
        unchecked = []
        rate = (done - window_step) / max(time.time() - window_start, 1e-9)
        window_start, window_step = time.time(), done
        eta = (config.num_steps - done) / max(rate, 1e-9)
        logging.info("step %d/%d  elbo %.2f  recon %.2f  kl %.2f  %.1f steps/s  ETA %s",
                     done, config.num_steps, means["elbo"], means["log_likelihood"],
                     means["kl"], rate, format_seconds(eta))
        with writer.as_default(step=done):
          for k in ("elbo", "log_likelihood", "kl"):
            tf.summary.scalar("train/" + k, means[k])
          tf.summary.scalar("train/steps_per_second", rate)
      if done % config.checkpoint_every == 0 or done == config.num_steps:
        if not _all_finite(unchecked):
          raise NonFiniteLossError(
              f"The loss became NaN or infinite before step {done}; stopped and kept the last "
              f"good checkpoint ({manager.latest_checkpoint or 'none'}); lower --learning_rate.")
        save()
  except (KeyboardInterrupt, _Interrupted) as e:
    # A step interrupted from Python has either run whole or not at all; the optimizer's
    # iteration count says which, so the checkpoint is exact.
    if trainer.completed_steps > start and trainer.weights_finite():
      save()
    raise UsageError(f"Interrupted ({e or 'SIGINT'}); progress is checkpointed in {workdir}, "
                     "run the same command again to resume.") from None
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)
    writer.flush()
  return trainer, test_arrays, time.time() - began


def train_and_evaluate(config, workdir, datasets_override=None):
  """Trains, then writes metrics.json, samples.png, reconstructions.png and saved_model/.

  Returns:
    The metrics dict written to metrics.json.
  """
  trainer, (test_images, test_labels), seconds = train(config, workdir, datasets_override)
  model = trainer.model
  metrics = evaluate_elbo(model, test_images, test_labels, config.eval_batch_size, config.seed,
                          config.jit_compile)
  metrics = {"test_" + k: v for k, v in metrics.items()}
  metrics.update(steps=trainer.completed_steps, dataset=config.dataset,
                 train_seconds_this_call=round(seconds, 1))
  write_figures(model, test_images, test_labels, workdir, config)
  export.export_saved_model(model, os.path.join(workdir, "saved_model"))
  # Wall time varies between runs; keep it out of metrics.json so that file is reproducible.
  _write_json(os.path.join(workdir, "timing.json"), {"train_seconds_this_call": round(seconds, 1)})
  del metrics["train_seconds_this_call"]
  _write_json(os.path.join(workdir, "metrics.json"), metrics)
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


def restore_model(workdir):
  """The trained model of a workdir (its config.json and latest checkpoint) and its TrainConfig."""
  path = os.path.join(workdir or "", "config.json")
  if not workdir or not os.path.exists(path):
    raise UsageError(f"--workdir={workdir} holds no training run (no config.json); train one first "
                     "with python -m binaries.train --workdir=<dir>.")
  with open(path) as f:
    saved = json.load(f)
  known = {f.name for f in dataclasses.fields(TrainConfig)}
  config = TrainConfig(**{k: v for k, v in saved.items() if k in known})
  latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
  if latest is None:
    raise UsageError(f"--workdir={workdir} has no checkpoint yet; finish its training with "
                     "python -m binaries.train first.")
  info = data.info(config.dataset)
  model = model_lib.ConditionalVAE(**config.model_kwargs(info.image_shape, info.num_classes))
  model.build_all()
  model_checkpoint(model).restore(latest).expect_partial().assert_existing_objects_matched()
  return model, config
