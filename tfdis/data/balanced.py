"""Label-balanced training batches: B/K examples of each label, grouped in label order.

With p(y) uniform (Sec. 1, Eq. 1: p(y) = Cat(1/K, ..., 1/K)), a batch that holds the same number of
examples of every label is an unbiased sample of the objective's expectation over y, and it lets
the label-routed ("split") layers of Sec. 2 route by a reshape: `layout="balanced"` in
kernels/routed.py, one batched matmul or grouped convolution per layer.

```none
n = B / K                                    examples per label in every batch
labels of a batch  = [0]*n + [1]*n + ... + [K-1]*n
label c at step s  = positions [s n, (s + 1) n) of the stream perm_(seed, c, 0) ++ perm_(seed, c, 1) ++ ...
                     perm_(seed, c, e): a seeded permutation of the N_c training examples of label c
```

What changes against the default order (`tfdis.training.steps.BatchOrder`, one permutation of all
N examples per epoch, B // N steps an epoch, p(y) the data's label frequencies):

* every label contributes exactly n examples to every batch, so the labels are weighted
  uniformly, as p(y) says, instead of by their frequency in the data (MNIST train: 9.0% for
  label 5 to 11.2% for label 1);
* each label runs through its own examples without replacement, one permutation per pass; a
  pass over label c takes N_c / n steps, so rare labels' examples are seen more often than
  common ones' (over S steps each example of label c is used S n / N_c times) and no example is
  ever dropped or duplicated within a pass;
* there is no common epoch: the labels' passes end at different steps.

A batch is a pure function of (seed, step), so a run resumed mid-pass continues exactly.
`BalancedOrder.indices(step)` is what the trainer uses (`tfdis.training.vae_training`);
`dataset(...)` is the same batches as a tf.data pipeline.
"""
import numpy as np

from tfdis.errors import UsageError


class BalancedOrder:
  """The example indices of every balanced training step.

  Args:
    labels: int [N] training labels in [0, num_classes).
    batch_size: B, a positive multiple of num_classes.
    seed: seeds every label's permutations.
    num_classes: K.
  """

  def __init__(self, labels, batch_size, seed, num_classes=10):
    labels = np.asarray(labels)
    self.batch_size, self.seed, self.num_classes = int(batch_size), int(seed), int(num_classes)
    self.per_class = self.batch_size // self.num_classes
    if self.per_class < 1 or self.per_class * self.num_classes != self.batch_size:
      lower = self.batch_size // self.num_classes * self.num_classes
      near = " or ".join(str(b) for b in (lower, lower + self.num_classes) if b > 0)
      raise UsageError(f"--balanced_batches needs --batch_size to be a multiple of the "
                       f"{self.num_classes} labels; {self.batch_size} is not: use e.g. {near}.")
    self.members = [np.flatnonzero(labels == c) for c in range(self.num_classes)]
    for c, members in enumerate(self.members):
      if len(members) < self.per_class:
        raise UsageError(f"--balanced_batches needs at least {self.per_class} training examples "
                         f"of every label (--batch_size / {self.num_classes}); label {c} has "
                         f"{len(members)}: lower --batch_size or train without "
                         "--balanced_batches.")
    self._permutations = [{} for _ in range(self.num_classes)]

  def _permutation(self, label, epoch):
    """perm_(seed, label, epoch): the order of label's examples in its pass `epoch`."""
    cache = self._permutations[label]
    if epoch not in cache:
      if len(cache) > 2:
        cache.clear()
      cache[epoch] = np.random.default_rng([self.seed, label, epoch, 1]).permutation(
          self.members[label])
    return cache[epoch]

  def indices(self, step):
    """Example indices int64 [B] of training step `step`: n of label 0, then n of label 1, ..."""
    out = []
    for label, members in enumerate(self.members):
      start = int(step) * self.per_class
      epoch, position = divmod(start, len(members))
      take = self._permutation(label, epoch)[position:position + self.per_class]
      if len(take) < self.per_class:  # the pass ends inside this step: continue with the next
        take = np.concatenate([take, self._permutation(label, epoch + 1)[
            :self.per_class - len(take)]])
      out.append(take)
    return np.concatenate(out).astype(np.int64)


def dataset(images, labels, batch_size, seed, start_step=0, num_classes=10):
  """The balanced batches from `start_step` on, as an endless tf.data.Dataset.

  Args:
    images: [N, H, W, C] float32; labels: int [N] in [0, num_classes).
    batch_size, seed, num_classes: as `BalancedOrder`.
    start_step: the first step's batch (resuming mid-pass gives the batches an uninterrupted
      pipeline gives from that step on).

  Returns:
    tf.data.Dataset of (images [B, H, W, C] float32, labels [B] int32), labels grouped as
    [0]*n + ... + [K-1]*n.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  order = BalancedOrder(labels, batch_size, seed, num_classes)
  images = tf.constant(images)
  labels = tf.constant(np.asarray(labels, np.int32))

  def batch_indices(step):
    idx = tf.numpy_function(order.indices, [step], tf.int64, stateful=False)
    return tf.ensure_shape(idx, [order.batch_size])

  steps = tf.data.Dataset.counter(start=start_step)
  return steps.map(batch_indices).map(lambda idx: (tf.gather(images, idx),
                                                   tf.gather(labels, idx)))
