"""LP and SP of any conditional generator, as the JSON-able summaries evaluation.json holds.

The public measuring API: `score_generator` for a generator that keeps the contract of
`tfdis.metrics.generator` (a tfdis model, or anyone's callable, SavedModel or .keras file), and
`score_grid` for images already laid out as a label x z grid. Both return

```none
lp   value, interval (Wilson 95%, over the decoded samples), per_class, per_class_interval
sp   value, interval (percentile bootstrap 95%, over the z columns), per_measurement,
     pair_matrix [K, K], degenerate, degenerate_entries, num_z
```

and `score_generator` adds `reference`: the same generator read through a label-dependent
transform of z, μ(y, T_y z) (random rotations, or the reflection of App. B). It keeps every
image and the likelihood of z ~ N(0, I) (Proposition 1), so it is what the same generator scores
when style is *not* aligned across labels: SP near 0 for rotations. A generator's SP means
something only beside it (and beside LP: SP of images that show no digit is not style).

  from tfdis.metrics import classifier, generator, scores
  gen = generator.from_callable(my_generate, num_classes=10, latent_dim=16)
  result = scores.score_generator(gen, classifier.cached_classify("mnist"))
"""
import numpy as np
import tensorflow as tf

from tfdis.metrics import label_preservation
from tfdis.metrics import morphometrics
from tfdis.metrics import style_preservation
from tfdis.model import transforms as transforms_lib


def measurement_names(image_shape):
  """The style measurements for images of `image_shape`: Morpho-MNIST's, plus colour statistics
  (contrast, foreground and background RGB means) for colour data such as SVHN."""
  names = morphometrics.MEASUREMENTS
  if image_shape[-1] == 3:
    names += morphometrics.COLOUR_MEASUREMENTS
  return names


def lp_summary(lp):
  """The JSON-able summary of a LabelPreservation."""
  return {"value": lp.value, "interval": list(lp.interval), "per_class": lp.per_class,
          "per_class_interval": lp.per_class_interval}


def sp_summary(sp):
  """The JSON-able summary of a StylePreservation."""
  return {"value": sp.value, "interval": list(sp.interval),
          "per_measurement": {name: {"value": v, "interval": list(iv)} for name, v, iv in zip(
              sp.names, sp.per_measurement, sp.per_measurement_interval)},
          "pair_matrix": sp.pair_matrix, "degenerate": sp.degenerate,
          "degenerate_entries": [list(e) for e in sp.degenerate_entries], "num_z": sp.num_z}


def lp_and_sp(decode_mean, num_classes, latent_dim, image_shape, classify, num_z,
              lp_samples_per_class, num_bootstrap, seed):
  """{"lp", "sp"} summaries of decode_mean(y int32 [B], z float32 [B, D]) -> images [B, H, W, C].

  LP's z are seeded by seed + 1 and SP's by seed + 2 (SP's bootstrap by seed + 2 too).
  """
  lp = label_preservation.compute_label_preservation(
      decode_mean, classify, num_classes, lp_samples_per_class, latent_dim, seed=seed + 1)
  sp = style_preservation.compute_style_preservation(
      decode_mean, num_classes, num_z, latent_dim, seed=seed + 2,
      names=measurement_names(image_shape), num_bootstrap=num_bootstrap)
  return {"lp": lp_summary(lp), "sp": sp_summary(sp)}


def score_generator(generator, classify, num_z=200, lp_samples_per_class=100,
                    num_bootstrap=1000, seed=0, transform="rotation", transform_seed=0):
  """LP and SP of `generator`, and of the same generator through T_y (the reference).

  Args:
    generator: anything with decode_mean(y, z), num_classes, latent_dim and image_shape (a
      tfdis ConditionalVAE, or a `tfdis.metrics.generator.CheckedGenerator`).
    classify: images [N, H, W, C] -> labels [N], e.g. `classifier.cached_classify(dataset)`.
    num_z: shared z columns of the SP grid (M).
    lp_samples_per_class: z per label for LP.
    num_bootstrap: bootstrap resamples of the SP interval.
    seed: seeds z (LP: seed + 1, SP: seed + 2, the values evaluation.json has always used).
    transform: the reference's T_y: rotation or reflection (`tfdis.model.transforms`).
    transform_seed: seeds the random rotations.

  Returns:
    {"lp": ..., "sp": ..., "reference": {"transform", "transform_seed", "lp", "sp"}}.
  """
  common = dict(num_classes=generator.num_classes, latent_dim=generator.latent_dim,
                image_shape=generator.image_shape, classify=classify, num_z=num_z,
                lp_samples_per_class=lp_samples_per_class, num_bootstrap=num_bootstrap,
                seed=seed)
  result = lp_and_sp(generator.decode_mean, **common)
  family = transforms_lib.by_name(transform, generator.num_classes, generator.latent_dim,
                                  transform_seed)
  through_t = lambda y, z: generator.decode_mean(y, transforms_lib.apply(family, y, z))
  result["reference"] = dict(lp_and_sp(through_t, **common), transform=transform,
                             transform_seed=transform_seed)
  return result


def score_grid(images, classify, num_bootstrap=1000, seed=0):
  """LP and SP of a label x z grid of images float [K, M, H, W, C] in [0, 1] (row = label).

  LP reads every image of row y as intended to show y; SP compares the columns across rows.
  """
  images = np.asarray(images, np.float32)
  num_classes, num_z = images.shape[:2]
  flat = images.reshape((num_classes * num_z,) + images.shape[2:])
  intended = np.repeat(np.arange(num_classes), num_z)
  lp = label_preservation.label_preservation(np.asarray(classify(tf.constant(flat))), intended,
                                             num_classes)
  names = measurement_names(images.shape[2:])
  sp = style_preservation.style_preservation(style_preservation.measure_grid(images, names),
                                             names, num_bootstrap, seed + 2)
  return {"lp": lp_summary(lp), "sp": sp_summary(sp)}
