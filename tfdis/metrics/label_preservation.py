"""Label preservation (LP): does mu_p(y, z) show the digit y, for every style z?

Shu et al., Section 1 and Section 1.1 "Label preservation": style and content
disentanglement decomposes into style preservation
(`tfdis.metrics.style_preservation`) and label preservation, which the objective
encourages (Eq. 2) and the paper's grids show by eye. Here a classifier trained on
real data (`tfdis.metrics.classifier`) reads the decoder means:

```none
z_m ~ N(0, I), m = 1..M (shared by all labels);  x_{y,m} = mu_p(y, z_m)
LP   = (1 / (L M)) sum_{y, m} 1[argmax classifier(x_{y,m}) = y]
LP_y = (1 / M) sum_m 1[argmax classifier(x_{y,m}) = y]
```

with Wilson score 95% intervals over the decoded samples for each proportion
(`tfdis.metrics.stats`). A classifier with test accuracy a bounds what LP can
show: LP near a is "preserves the label".
`label_preservation` is the pure maths on predicted and intended labels;
`compute_label_preservation` does the sampling.
"""
import dataclasses
from typing import Callable, Tuple

import numpy as np
import tensorflow as tf

from tfdis.metrics import stats


@dataclasses.dataclass
class LabelPreservation:
  """LP overall and per class, with Wilson 95% intervals.

  Attributes:
    value: overall fraction classified as intended (nan if no samples).
    interval: (low, high) Wilson interval of `value`.
    per_class: float [G], fraction per intended class (nan for a class with no samples).
    per_class_interval: float [G, 2].
    counts: int [G], samples per intended class.
    confusion: int [G, G], row = intended, column = predicted.
  """
  value: float
  interval: Tuple[float, float]
  per_class: np.ndarray
  per_class_interval: np.ndarray
  counts: np.ndarray
  confusion: np.ndarray


def label_preservation(predicted, intended, num_classes: int) -> LabelPreservation:
  """LP of predicted vs intended labels, int [N] each, in [0, num_classes)."""
  predicted = np.asarray(predicted).reshape(-1).astype(np.int64)
  intended = np.asarray(intended).reshape(-1).astype(np.int64)
  if predicted.shape != intended.shape:
    raise ValueError(f"predicted and intended need the same length, got {predicted.shape} "
                     f"and {intended.shape}.")
  for name, labels in (("predicted", predicted), ("intended", intended)):
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
      raise ValueError(f"{name} labels must be in [0, {num_classes}), got range "
                       f"[{labels.min()}, {labels.max()}].")
  confusion = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(confusion, (intended, predicted), 1)
  counts = confusion.sum(axis=1)
  correct = np.diag(confusion)
  with np.errstate(invalid="ignore", divide="ignore"):
    per_class = correct / counts
  total, hits = int(counts.sum()), int(correct.sum())
  overall = stats.wilson_interval(hits, total)
  return LabelPreservation(
      value=hits / total if total else float("nan"),
      interval=(float(overall[0]), float(overall[1])),
      per_class=per_class, per_class_interval=stats.wilson_interval(correct, counts),
      counts=counts, confusion=confusion)


def sample_labelled_means(decode_mean: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
                          num_labels: int, num_z: int, latent_dim: int,
                          seed: int) -> Tuple[tf.Tensor, np.ndarray]:
  """Decoder means of every label for M shared z ~ N(0, I).

  Args:
    decode_mean: (labels int32 [B], z float32 [B, D]) -> images float32 [B, H, W, C].
    num_labels, num_z, latent_dim: L, M, D.
    seed: seeds the z draw.

  Returns:
    (images float32 [L * M, H, W, C], intended labels int32 [L * M]); label-major.
  """
  z = tf.random.stateless_normal([num_z, latent_dim], seed=[seed, 0])  # [M, D]
  labels = np.repeat(np.arange(num_labels, dtype=np.int32), num_z)  # [L * M]
  images = decode_mean(tf.constant(labels), tf.tile(z, [num_labels, 1]))
  return images, labels


def compute_label_preservation(decode_mean, classify: Callable[[tf.Tensor], np.ndarray],
                               num_labels: int, num_z: int, latent_dim: int,
                               seed: int = 0) -> LabelPreservation:
  """Samples mu_p(y, z) for every label y and M z's, classifies them, returns LP.

  Args:
    decode_mean: (labels int32 [B], z float32 [B, D]) -> images [B, H, W, C].
    classify: images [N, H, W, C] -> predicted labels int [N], e.g.
      `lambda x: tfdis.metrics.classifier.predict_labels(model, x)`.
    num_labels, num_z, latent_dim, seed: as `sample_labelled_means`.
  """
  images, labels = sample_labelled_means(decode_mean, num_labels, num_z, latent_dim, seed)
  return label_preservation(np.asarray(classify(images)), labels, num_labels)
