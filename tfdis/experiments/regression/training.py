"""Fitting both targets of paper Sec. 3 (Fig. 3): one pair of networks per seed.

For each seed, the disentangled and the entangled network pair start from the same weights and see
the same batches; `train_seed` returns their held-out and training loss curves:

```none
encoder       (x, y) -> z        vs   (x, y) -> T_y z      loss  mean_d (μ_q(x, y)_d - target_d)²
decoder       (y, z) -> x        vs   (y, T_y z) -> x      loss  -ln p(x | y, code)  (nats / image)
```
"""
import keras
import numpy as np
import tensorflow as tf

from tfdis.experiments.regression.config import TARGETS
from tfdis.model import vae as model_lib
from tfdis.training import loop
from tfdis.training import steps as training_steps


def problem_losses(model, images, labels, target):
  """Mean losses of one network pair on a batch, for the encoder and the decoder problem.

  Args:
    model: ConditionalVAE being fitted.
    images: [B, H, W, C]; labels: [B] int32; target: [B, D] (z or T_y z).

  Returns:
    dict encoder: mean over batch and dims of (μ_q(x, y) - target)², decoder: mean over the batch
    of -ln p(x | y, target) (nats per image). Scalars.
  """
  prediction = model.encode(images, labels).mean()                    # [B, D]
  encoder = tf.reduce_mean(tf.square(prediction - target))
  decoder = -tf.reduce_mean(model.decode(labels, target).log_prob(images))  # [B] -> []
  return {"encoder": encoder, "decoder": decoder}


def _pair_losses(models, images, labels, z, tz):
  """{(problem, target): scalar} for the disentangled and entangled model on one batch."""
  out = {}
  for name, target in zip(TARGETS, (z, tz)):
    for problem, loss in problem_losses(models[name], images, labels, target).items():
      out[problem + "/" + name] = loss
  return out


def build_models(model_kwargs, seed):
  """The disentangled and entangled networks, with identical initial weights from `seed`."""
  keras.utils.set_random_seed(seed)
  first = model_lib.ConditionalVAE(**model_kwargs).build_all()
  second = model_lib.ConditionalVAE(**model_kwargs).build_all()
  second.set_weights(first.get_weights())
  return dict(zip(TARGETS, (first, second)))


class PairTrainer:
  """The trainer `loop.fit` runs: both targets of both problems in one XLA-compiled step.

  The four losses depend on disjoint weights (each model's encoder and decoder), and Adam and SGD
  act element-wise, so one step on their sum is exactly four separate steps. Batch b is
  `steps.BatchOrder(N, B, seed)` of `train_data`.
  """

  def __init__(self, model_kwargs, train_data, config, seed):
    self.models = build_models(model_kwargs, seed)
    self.train_data = train_data
    self.variables = [v for name in TARGETS for v in self.models[name].trainable_variables]
    self.optimizer = training_steps.make_optimizer(config.optimizer, config.learning_rate,
                                                   self.variables)
    self.checkpoint = tf.train.Checkpoint(weights=list(self.variables), optimizer=self.optimizer)
    self._order = training_steps.BatchOrder(len(train_data), config.batch_size, seed)

    # SGD with --decoder_learning_rate: the decoder losses weighted by its ratio to learning_rate,
    # which is exactly an SGD step of that size on the decoders (the weights are disjoint).
    decoder_scale = (config.decoder_learning_rate / config.learning_rate
                     if config.decoder_learning_rate else 1.0)

    def loss_fn(images, labels, z, tz):
      losses = _pair_losses(self.models, images, labels, z, tz)
      if decoder_scale == 1.0:
        return tf.add_n(list(losses.values())), losses
      return tf.add_n([v * decoder_scale if k.startswith("decoder/") else v
                       for k, v in losses.items()]), losses

    def evaluate(images, labels, z, tz):
      return _pair_losses(self.models, images, labels, z, tz)

    self.step = tf.function(training_steps.optimizer_step(loss_fn, self.variables, self.optimizer),
                            jit_compile=config.jit_compile, autograph=False)
    self._evaluate = tf.function(evaluate, jit_compile=config.jit_compile, autograph=False)

  @property
  def completed_steps(self):
    return int(self.optimizer.iterations.numpy())

  def batch(self, step):
    """(images [B, H, W, C], labels [B], z [B, D], T_y z [B, D]) of training step `step`."""
    idx, arrays = self._order.indices(step), self.train_data
    return arrays.images[idx], arrays.labels[idx], arrays.z[idx], arrays.tz[idx]

  def scalars(self, losses):
    """The four training-batch losses, to log."""
    return {k: float(v) for k, v in losses.items()}

  def evaluate(self, split, batch_size=1000):
    """Mean losses over a whole split: {problem/target: float}."""
    totals = {}
    for start in range(0, len(split), batch_size):
      part = split.slice(start, start + batch_size)
      for k, v in self._evaluate(part.images, part.labels, part.z, part.tz).items():
        totals[k] = totals.get(k, 0.0) + float(v) * len(part)
    return {k: v / len(split) for k, v in totals.items()}


def train_seed(model_kwargs, train_data, eval_sets, config, seed, workdir=None, later_steps=0,
               log_prefix=""):
  """Trains one seed's pair of networks; returns its loss curves.

  Args:
    model_kwargs: ConditionalVAE arguments (the teacher's architecture).
    train_data: RegressionData the batches come from (batch b: `steps.batch_indices`).
    eval_sets: {split name: RegressionData} evaluated at `config.eval_steps()`.
    config: RegressionConfig.
    seed: int, seed of the initial weights and of the batch order.
    workdir: folder of the TensorBoard scalars, or None (no checkpoints: a seed reruns whole).
    later_steps: steps of the seeds still to train after this one (for the ETA).
    log_prefix: start of each progress line.

  Returns:
    {(problem, target, split): float64 [E]} losses at the E evaluated steps.
  """
  trainer = PairTrainer(model_kwargs, train_data, config, seed)
  curves = {}

  def record(step):
    del step
    losses = []
    for split, arrays in eval_sets.items():
      for key, loss in trainer.evaluate(arrays).items():
        problem, target = key.split("/")
        curves.setdefault((problem, target, split), []).append(loss)
        losses.append(loss)
    return losses  # the loop stops if one is NaN or infinite

  loop.fit(trainer, workdir, config.num_steps, config.log_every,
           hooks=[loop.AtSteps(config.eval_steps(), record)], later_steps=later_steps,
           log_prefix=log_prefix, scalar_prefix=f"train/seed_{seed}/")
  return {k: np.asarray(v, np.float64) for k, v in curves.items()}

