"""The parts of one optimisation step that every trainer shares.

Every experiment that trains (the shared VAE of Sec. 1, the seed-batched competition models of
App. B, the regression networks of Sec. 3) is a pure function of its seeds because its steps are
built from these:

```none
batch of step s      rows [p B, (p + 1) B) of permutation_(seed, e)(N),   (e, p) = divmod(s, N // B)
noise of step s      ε ~ N(0, I) [B, D], stateless Philox seeded by (seed, s)
dequantised batch    (255 x + u) / 256, u ~ U[0, 1) per pixel seeded by (seed, s) (--dequantize)
optimizer step       g = ∇ loss (IndexedSlices summed to dense tensors);  Adam(g), or plain SGD
                     w <- w - η g (--optimizer), applied
```

So training N steps, stopping, and resuming to 2N equals training 2N at once (`tfdis.training.loop`
restores the optimizer, whose iteration count is the step).
"""
import keras
import numpy as np
import tensorflow as tf

from tfdis.errors import UsageError
from tfdis.model import vae

STRATEGIES = ("default", "mirrored", "multi_worker")
OPTIMIZERS = ("adam", "sgd")


class BatchOrder:
  """The example indices of every training step, one seeded permutation per epoch.

  `indices(step)` is `batch_indices(step, num_examples, batch_size, seed)`; the permutation of the
  current epoch is drawn once and kept until the step leaves that epoch.
  """

  def __init__(self, num_examples, batch_size, seed):
    self.num_examples, self.batch_size, self.seed = int(num_examples), int(batch_size), seed
    self.steps_per_epoch = self.num_examples // self.batch_size
    if self.steps_per_epoch < 1:
      raise UsageError(f"--batch_size={batch_size} exceeds the {num_examples} training examples; "
                       "lower it.")
    self._epoch, self._order = None, None

  def indices(self, step):
    """Example indices int64 [batch_size] of training step `step`."""
    epoch, position = divmod(int(step), self.steps_per_epoch)
    if epoch != self._epoch:
      self._epoch = epoch
      self._order = np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)
    return self._order[position * self.batch_size:(position + 1) * self.batch_size]


def batch_indices(step, num_examples, batch_size, seed):
  """Example indices [batch_size] of training step `step`: a slice of its epoch's permutation."""
  return BatchOrder(num_examples, batch_size, seed).indices(step)


def step_noise(seed, batch_size, latent_dim, step):
  """The reparameterisation noise float32 [batch_size, latent_dim] of training step `step`.

  Call it outside XLA: a jit-compiled stateless Philox gives other numbers for the same seed.
  """
  key = tf.stack([tf.constant(seed, tf.int32), tf.cast(step, tf.int32)])
  return vae.standard_normal([batch_size, latent_dim], key)


# The last entry of a dequantisation key: which images it is for (a stream of its own, apart from
# the batch order's (seed, epoch) generators).
_DEQUANTIZE_TRAIN, _DEQUANTIZE_TEST = 1, 2


def dequantize(images, key):
  """(255 x + u) / 256 of 8-bit images: each grey level spread uniformly over its 1/256 interval.

  Args:
    images: x float32 [..., H, W, C], multiples of 1/255 in [0, 1] (as `tfdis.data` loads them).
    key: non-negative ints seeding numpy's generator of u ~ U[0, 1), one per pixel.

  Returns:
    float32 of the shape of `images`, in [0, 1): level k lands in [k / 256, (k + 1) / 256) (a
    value float32 would round up to (k + 1) / 256 is kept just below it).
  """
  levels = np.rint(np.asarray(images, np.float64) * 255.0)
  u = np.random.default_rng([int(k) for k in key]).random(levels.shape)
  # float32 rounds a value just below (k + 1) / 256 up to it; keep it in level k's interval.
  upper = ((levels + 1.0) / 256.0).astype(np.float32)
  return np.minimum(((levels + u) / 256.0).astype(np.float32),
                    np.nextafter(upper, np.float32(0)))


def dequantize_batch(images, seed, step):
  """The training images of step `step` dequantised, u seeded by (seed, step): a resumed run
  sees the same numbers."""
  return dequantize(images, (seed, step, _DEQUANTIZE_TRAIN))


def dequantize_test(images, seed):
  """The test images dequantised once, u seeded by seed (for a test ELBO of a --dequantize run)."""
  return dequantize(images, (seed, 0, _DEQUANTIZE_TEST))


def dense_gradients(grads):
  """Gradients as dense tensors, for the optimizer.

  Routed layers gather their weights by label, so some gradients arrive as tf.IndexedSlices with
  one row per example. Keras 3 Adam would then build its second moment from the unsummed rows,
  Σ g_i², instead of from the row's gradient (Σ g_i)²: not Adam. Summing them first is.
  """
  return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]


def adam(learning_rate, variables):
  """Keras Adam with its slots built for `variables` (so a checkpoint can restore them)."""
  optimizer = keras.optimizers.Adam(learning_rate)
  optimizer.build(variables)
  return optimizer


def make_optimizer(name, learning_rate, variables):
  """Keras Adam, or plain SGD (no momentum: w <- w - learning_rate g), built for `variables`.

  Built at once so that a checkpoint can restore its slots (SGD without momentum has none but
  the iteration count, which is the step).
  """
  if name == "adam":
    return adam(learning_rate, variables)
  if name != "sgd":
    raise UsageError(f"--optimizer={name!r} is not one of {OPTIMIZERS}.")
  optimizer = keras.optimizers.SGD(learning_rate, momentum=0.0)
  optimizer.build(variables)
  return optimizer


def gradients_fn(loss_fn, variables):
  """fn(*args) -> (dense gradients of loss, aux) for `loss_fn(*args) -> (scalar loss, aux)`."""
  def fn(*args):
    with tf.GradientTape() as tape:
      loss, aux = loss_fn(*args)
    return dense_gradients(tape.gradient(loss, variables)), aux
  return fn


def optimizer_step(loss_fn, variables, optimizer):
  """fn(*args) -> aux: one `optimizer` step on `loss_fn(*args) -> (scalar loss, aux)`.

  The gradient, its dense form and the update, as every trainer builds its (compiled) step.
  """
  grads_fn = gradients_fn(loss_fn, variables)

  def step(*args):
    grads, aux = grads_fn(*args)
    optimizer.apply(grads, variables)
    return aux
  return step



def make_strategy(name):
  """tf.distribute strategy for `name` (STRATEGIES); mirrored uses every visible GPU, else CPU."""
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
        d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=devices)
  if name == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  raise UsageError(f"--strategy={name!r} is not one of {STRATEGIES}.")


def model_checkpoint(model, **others):
  """A tf.train.Checkpoint holding the model's weights (in `model.weights` order) and `others`.

  Keras 3 models are not checkpoint dependencies of their own, so the weights are tracked as a list.
  """
  return tf.train.Checkpoint(model_weights=list(model.weights), **others)
