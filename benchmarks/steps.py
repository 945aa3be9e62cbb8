"""Whole training-step timings: shared, label-routed ("split", paper Sec. 2) and ten sub-networks.

Every candidate is the real training step of `tfdis.training.vae_training` (forward, backward
and the Adam update) on one MNIST-shaped batch, except the baseline a user would write without
tfdis: ten ordinary sub-networks, one per label, each run on its `tf.boolean_mask` slice of the
batch. The split model runs with the default layout (labels in any order) and, when the batch
size is a multiple of the 10 labels, with a label-balanced batch (`--balanced_batches`,
layout "balanced" of kernels/routed.py).

The floor of a split step: a split model has ten times the parameters, and Adam reads and writes
all of them every step, so even routed layers as cheap as shared ones leave

```none
floor = shared step - Adam update of the shared parameters + Adam update of the split ones
```

Both updates are timed alone (XLA-fused, as in the compiled steps) in the same process, as are
the forward + backward passes without the update (`grads_*`), which say where a split step's
time above the floor goes. The floor leaves out one more cost that routing cannot avoid: the
forward and backward passes read ten kernels per layer (twice) and write ten kernel gradients,
however few examples each label has. The same two passes at a batch of one example per label
(`grads_*_per_label`, almost no arithmetic) measure it: their difference is the split model's
**weight traffic**, and `floor + weight traffic` is the step a routed layer with no overhead of
its own would still take (`train_step_split_over_floor_with_weight_traffic`). Candidates are
interleaved round robin in one process and the median
over rounds is reported, so drifts in machine load hit all of them alike. The machine's matmul
rate (a large square float32 matmul) puts the shared step's achieved GFLOP/s in context.
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


def adam_update(variables, learning_rate=1e-3):
  """A callable running one XLA-compiled Adam update of copies of `variables` (fixed gradients).

  The copies and their optimizer are the benchmark's own, so the timed models are untouched.
  """
  copies = [tf.Variable(tf.zeros(v.shape, v.dtype)) for v in variables]
  optimizer = steps_lib.adam(learning_rate, copies)
  grads = [tf.fill(v.shape, tf.constant(1e-3, v.dtype)) for v in variables]

  def update():
    optimizer.apply(grads, copies)
    return optimizer.iterations

  update = tf.function(update, jit_compile=True, autograph=False)
  return lambda: int(update())


def gradients(trainer):
  """A callable running the trainer's forward + backward pass alone (its step without Adam)."""
  grads_fn = tf.function(
      lambda *batch: tf.add_n([tf.reduce_sum(g) for g in steps_lib.gradients_fn(
          trainer.loss, trainer.model.trainable_variables)(*batch)[0]]),
      jit_compile=trainer.config.jit_compile, autograph=False)
  batch = trainer.batch(0)
  return lambda: float(grads_fn(*batch))


def run(batch_size=256, rounds=20, quick=False, hidden_units=512, matmul_size=2048, log=None,
        architecture="mlp"):
  """Times the whole training step of each candidate at `batch_size` on real MNIST images.

  Candidates: shared and split (every layer of both networks routed), each with and without XLA;
  split with a balanced batch (when batch_size is a multiple of 10); ten sub-networks; the Adam
  update of the shared and of the split parameters alone; forward + backward alone of the fastest
  shared and the balanced split step, and of both at one example per label (XLA).

  Returns:
    dict: matmul_gflops, rows (name, seconds, ratio_to_shared, ratio_to_floor, gflops),
    floor_seconds (the fastest shared step - its update + the split update),
    train_step_split_over_shared (fastest split step over fastest shared),
    train_step_split_over_floor (fastest split step over the floor), fastest_split (its name),
    train_step_subnetworks_over_split (the ten-sub-network baseline over the fastest split),
    train_step_split_over_subnetworks (its inverse) and, with a balanced batch,
    weight_traffic_seconds (split minus shared forward + backward at one example per label) and
    train_step_split_over_floor_with_weight_traffic (the fastest split over floor + traffic).
  """
  images, labels = data.load_arrays("mnist", "train")
  idx = np.random.default_rng(0).permutation(len(images))[:batch_size]
  x, y = images[idx], labels[idx]
  info = data.DatasetInfo("mnist", tuple(images.shape[1:]))
  strategy = tf.distribute.get_strategy()
  balanced = batch_size % info.num_classes == 0
  candidates, trainers = {}, {}
  flops = None

  def make_trainer(split, xla, balanced_batches, batch=batch_size):
    config = config_lib.TrainConfig(batch_size=batch, jit_compile=xla, encoder_split=split,
                                    decoder_split=split, hidden_units=hidden_units,
                                    architecture=architecture, balanced_batches=balanced_batches)
    # A balanced batch draws n of each label from the whole training split.
    return (vae_training.VAETrainer(config, images, labels, info, strategy)
            if balanced_batches else vae_training.VAETrainer(config, x, y, info, strategy))

  variants = [("none", False), ("all", False)] + ([("all", True)] if balanced else [])
  for split, balanced_batches in variants:
    for xla in (False, True):
      trainer = make_trainer(split, xla, balanced_batches)
      if split == "none" and flops is None and architecture == "mlp":
        flops = dense_step_flops(trainer.model, batch_size)
      name = ("split" if split == "all" else "shared") + ("_balanced" if balanced_batches
                                                          else "") + ("+xla" if xla else "")
      trainers[name] = trainer
      candidates[name] = (lambda t=trainer, b=trainer.batch(0): float(t.step(*b)["elbo"]))
  config = config_lib.TrainConfig(batch_size=batch_size, hidden_units=hidden_units,
                                  architecture=architecture)
  ten = TenSubnetworks(config, info.image_shape)
  noise = steps_lib.step_noise(config.seed, config.batch_size, config.latent_dim, 0)
  candidates["ten_subnetworks"] = lambda: float(ten.step(x, y, noise))
  candidates["update_shared"] = adam_update(trainers["shared"].model.trainable_variables)
  candidates["update_split"] = adam_update(trainers["split"].model.trainable_variables)
  candidates["grads_shared+xla"] = gradients(trainers["shared+xla"])
  if balanced:
    candidates["grads_split_balanced+xla"] = gradients(trainers["split_balanced+xla"])
    for split, name in (("none", "grads_shared+xla_per_label"),
                        ("all", "grads_split_balanced+xla_per_label")):
      candidates[name] = gradients(make_trainer(split, True, True, batch=info.num_classes))
  if log:
    log(f"timing {len(candidates)} candidates ({architecture}) at batch {batch_size}, "
        f"{rounds} rounds ...")
  medians = timing.interleaved_medians(candidates, rounds=max(3, rounds // (3 if quick else 1)))
  rate = matmul_gflops(size=matmul_size, rounds=4 if quick else 10)
  shared = min(medians["shared"], medians["shared+xla"])
  step_names = [n for n in medians if n.startswith("split")]
  fastest_split = min(step_names, key=medians.get)
  split = medians[fastest_split]
  floor = shared - medians["update_shared"] + medians["update_split"]
  rows = []
  for name, seconds in medians.items():
    rows.append(dict(name=name, seconds=seconds, ratio_to_shared=seconds / shared,
                     ratio_to_floor=seconds / floor,
                     gflops=(flops / seconds / 1e9 if flops and name.startswith("shared")
                             else None)))
  result = {"architecture": architecture, "batch_size": batch_size, "matmul_gflops": rate,
            "dense_flops_per_step": flops, "rows": rows, "floor_seconds": floor,
            "train_step_split_over_shared": split / shared,
            "train_step_split_over_floor": split / floor, "fastest_split": fastest_split,
            "train_step_subnetworks_over_split": medians["ten_subnetworks"] / split,
            "train_step_split_over_subnetworks": split / medians["ten_subnetworks"]}
  if flops:
    result["shared_fraction_of_matmul_rate"] = flops / shared / 1e9 / rate
  if balanced:
    traffic = (medians["grads_split_balanced+xla_per_label"] -
               medians["grads_shared+xla_per_label"])
    result["weight_traffic_seconds"] = traffic
    result["train_step_split_over_floor_with_weight_traffic"] = split / (floor + traffic)
  return result
