"""Whole training-step timings: shared, label-routed ("split", paper Sec. 2) and ten sub-networks.

Every candidate is the real training step of `tfdis.training.vae_training` (forward, backward
and the Adam update) on one MNIST-shaped batch, except the baseline a user would write without
tfdis: ten ordinary sub-networks, one per label, each run on its `tf.boolean_mask` slice of the
batch.
Candidates are interleaved round robin in one process and the median over rounds is reported,
so drifts in machine load hit all of them alike. The machine's matmul rate (a large square
float32 matmul) puts the shared step's achieved GFLOP/s in context.
"""
import keras
import numpy as np
import tensorflow as tf

from benchmarks import timing
from tfdis.data import datasets as data
from tfdis.model import vae as model_lib
from tfdis.training import config as config_lib
from tfdis.training import steps as steps_lib
from tfdis.training import vae_training


def matmul_gflops(size=2048, rounds=10):
  """The machine's float32 matmul rate in GFLOP/s (median over rounds, [size, size] squared)."""
  a = tf.random.stateless_normal([size, size], seed=[1, 2])
  b = tf.random.stateless_normal([size, size], seed=[3, 4])
  matmul = tf.function(lambda: tf.reduce_sum(tf.linalg.matmul(a, b)))
  seconds = timing.interleaved_medians({"matmul": lambda: matmul().numpy()}, rounds)["matmul"]
  return 2.0 * size ** 3 / seconds / 1e9


def dense_step_flops(model, batch_size):
  """FLOPs of one forward + backward pass through the dense layers of a shared MLP VAE.

  Each dense layer costs 2 B·in·out forward and twice that backward (input and weight
  gradients); elementwise work and the optimizer update are not counted.
  """
  total = 0
  for layer in model.encoder_layers + model.decoder_layers:
    if isinstance(layer, keras.layers.Dense):
      fan_in, fan_out = layer.kernel.shape
      total += 6 * batch_size * int(fan_in) * int(fan_out)
  return total


class TenSubnetworks:
  """The way one writes a split VAE without tfdis: ten ordinary VAEs, one per label.

  The batch is cut with `tf.boolean_mask` per label, each part runs through its own network, and
  the ELBO terms are summed. Dynamic shapes: it cannot be XLA-compiled.
  """

  def __init__(self, config, image_shape, num_classes=10):
    self.models = [model_lib.ConditionalVAE(**config.model_kwargs(image_shape, num_classes))
                   .build_all() for _ in range(num_classes)]
    self.variables = [v for m in self.models for v in m.trainable_variables]
    self.optimizer = keras.optimizers.Adam(config.learning_rate)
    self.optimizer.build(self.variables)
    self.batch_size = config.batch_size
    self.step = tf.function(self._step)

  def _step(self, images, labels, noise):
    with tf.GradientTape() as tape:
      total = 0.0
      for label, vae in enumerate(self.models):
        mask = tf.equal(labels, label)
        terms = vae.elbo_terms(tf.boolean_mask(images, mask), tf.boolean_mask(labels, mask),
                               tf.boolean_mask(noise, mask))
        total += tf.reduce_sum(terms["elbo"])
      loss = -total / self.batch_size
    grads = tape.gradient(loss, self.variables)
    self.optimizer.apply(grads, self.variables)
    return loss


def run(batch_size=256, rounds=20, quick=False, hidden_units=512, matmul_size=2048, log=None):
  """Times the whole training step of each candidate at `batch_size` on real MNIST images.

  Returns:
    dict: matmul_gflops, rows (name, split, xla, seconds, ratio_to_shared, gflops),
    train_step_split_over_shared (fastest split over fastest shared), and
    train_step_subnetworks_over_split (the ten-sub-network baseline over the fastest split).
  """
  images, labels = data.load_arrays("mnist", "train")
  idx = np.random.default_rng(0).permutation(len(images))[:batch_size]
  x, y = images[idx], labels[idx]
  info = data.DatasetInfo("mnist", tuple(images.shape[1:]))
  strategy = tf.distribute.get_strategy()
  candidates = {}
  flops = None
  for split in ("none", "all"):
    for xla in (False, True):
      config = config_lib.TrainConfig(batch_size=batch_size, jit_compile=xla,
                                      encoder_split=split, decoder_split=split,
                                      hidden_units=hidden_units)
      trainer = vae_training.VAETrainer(config, x, y, info, strategy)
      if split == "none" and flops is None:
        flops = dense_step_flops(trainer.model, batch_size)
      name = ("split" if split == "all" else "shared") + ("+xla" if xla else "")
      candidates[name] = (lambda t=trainer, b=trainer.batch(0): float(t.step(*b)["elbo"]))
  config = config_lib.TrainConfig(batch_size=batch_size, hidden_units=hidden_units)
  ten = TenSubnetworks(config, info.image_shape)
  noise = steps_lib.step_noise(config.seed, config.batch_size, config.latent_dim, 0)
  candidates["ten_subnetworks"] = lambda: float(ten.step(x, y, noise))
  if log:
    log(f"timing {len(candidates)} training steps at batch {batch_size}, {rounds} rounds ...")
  medians = timing.interleaved_medians(candidates, rounds=max(3, rounds // (3 if quick else 1)))
  rate = matmul_gflops(size=matmul_size, rounds=4 if quick else 10)
  shared = min(medians["shared"], medians["shared+xla"])
  split = min(medians["split"], medians["split+xla"])
  rows = []
  for name, seconds in medians.items():
    rows.append(dict(name=name, seconds=seconds, ratio_to_shared=seconds / shared,
                     gflops=flops / seconds / 1e9 if name.startswith("shared") else None))
  best_shared_gflops = flops / shared / 1e9
  return {"batch_size": batch_size, "matmul_gflops": rate, "dense_flops_per_step": flops,
          "rows": rows, "shared_fraction_of_matmul_rate": best_shared_gflops / rate,
          "train_step_split_over_shared": split / shared,
          "train_step_subnetworks_over_split": medians["ten_subnetworks"] / split}
