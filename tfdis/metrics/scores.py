"""LP and SP of any conditional generator, as the JSON-able summaries evaluation.json holds.

The public measuring API: `score_generator` for a generator that keeps the contract of
`tfdis.metrics.generator` (a tfdis model, or anyone's callable, SavedModel or .keras file), and
`score_grid` for images already laid out as a label x z grid. Both return

```none
lp   value, interval (Wilson 95%, over the decoded samples), per_class, per_class_interval
sp             value, interval (percentile bootstrap 95%, over the z columns), per_measurement,
               pair_matrix [K, K], degenerate, degenerate_entries, num_z
sp_on_correct  SP over the z columns whose every image the classifier reads as its label:
               value, interval (over those columns), num_columns (kept), num_z
null           ΔSP = SP - mean over n fresh label-dependent rotations S_y of SP(μ(y, S_y z)):
               delta {value, interval}, sp_null {value, interval, per_draw}, num_draws,
               resampled ("z columns and rotation draws": what both intervals resample);
               None for a grid of images (its z cannot be rotated) or LP at chance
style          defined (bool), reason: no style score without content -- where LP is at or
               near chance (its interval not above twice chance) or fewer than
               MIN_CORRECT_COLUMNS columns are read correctly, sp_on_correct and ΔSP are None
               and reason says why (raw SP is kept, but it is then no digit's style)
```

How to read them: LP first (is there content?); then SP on correct samples (how alike the
labels' styles are for one z, on images that show their digit); then ΔSP (how much of SP is owed
to the z each label reads, rather than to what every image shares whatever z: SP(μ(y, S_y z))
near 0 for a trained decoder, high for an untrained one whose noise looks alike under every
label). `tfdis.metrics.calibration` says what an SP means in shared style of real digits.

and `score_generator` adds `reference`: the same generator read through a label-dependent
transform of z, μ(y, T_y z) (random rotations, or the reflection of App. B). It keeps every
image and the likelihood of z ~ N(0, I) (Proposition 1), so it is what the same generator scores
when style is *not* aligned across labels: SP near 0 for rotations. A generator's SP means
something only beside it (and beside LP: SP of images that show no digit is not style).

  from tfdis.metrics import classifier, generator, scores
  gen = generator.from_callable(my_generate, num_classes=10, latent_dim=16)
  result = scores.score_generator(gen, classifier.cached_classify("mnist"))
"""
import warnings

import numpy as np
import tensorflow as tf

from tfdis import files
from tfdis.metrics import label_preservation
from tfdis.metrics import morphometrics
from tfdis.metrics import style_preservation
from tfdis.model import transforms as transforms_lib

NULL_ROTATIONS = 5  # n, fresh rotation draws of the null
NULL_ROTATION_SEED = 8_111_000  # far from run seeds and the competition's rotation-invariant seed
CHANCE_FACTOR = 2.0  # LP's interval must lie above this many times chance for style to mean much


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


def _interval_summary(value, interval):
  return {"value": files.finite_or_none(value),
          "interval": [files.finite_or_none(v) for v in interval]}


def style_undefined_reason(lp, on_correct, sp, num_classes):
  """Why style scores of a generator mean nothing ("" when they do): no style without content.

  Args:
    lp: the generator's LabelPreservation.
    on_correct: its `style_preservation.CorrectColumnsSP`.
    sp: its raw StylePreservation.
    num_classes: K (chance is 1 / K).
  """
  floor = CHANCE_FACTOR / num_classes
  if not lp.interval[0] > floor:
    return (f"LP {lp.value:.3f} [{lp.interval[0]:.3f}, {lp.interval[1]:.3f}] is not above "
            f"{CHANCE_FACTOR:g} x chance ({floor:.2f}): the images do not show their labels, so "
            "their likeness across labels is no digit's style")
  if on_correct.undefined_reason:
    return on_correct.undefined_reason
  if sp.degenerate:
    return "the images do not vary with z, so there is no style to compare"
  return ""


def style_scores(grid, measurements, names, lp, sp, classify, num_bootstrap, seed,
                 null_measurements=None):
  """{"sp_on_correct", "null", "style"} of a measured label x z grid.

  Args:
    grid: images float [L, M, H, W, C] (row = intended label).
    measurements: their morphometrics float [L, M, K]; names: the K names.
    lp, sp: the LabelPreservation and raw StylePreservation of the same generator.
    classify: images [N, H, W, C] -> labels [N].
    num_bootstrap, seed: as `style_preservation.style_preservation` (one seed: paired resamples).
    null_measurements: float [n, L, M, K] of the same generator under n fresh rotations S_y of
      the same z (None: no null).
  """
  grid = np.asarray(grid, np.float32)
  num_classes, num_z = grid.shape[:2]
  predicted = np.asarray(classify(tf.constant(grid.reshape((-1,) + grid.shape[2:]))))
  correct = predicted.reshape(num_classes, num_z) == np.arange(num_classes)[:, None]
  on_correct = style_preservation.style_preservation_on_correct(
      measurements, correct, names, num_bootstrap, seed)
  reason = style_undefined_reason(lp, on_correct, sp, num_classes)
  defined = not reason
  result = {"sp_on_correct": dict(
                _interval_summary(on_correct.sp.value, on_correct.sp.interval)
                if defined else _interval_summary(np.nan, (np.nan, np.nan)),
                num_columns=on_correct.num_columns, num_z=on_correct.num_z),
            "null": None, "style": {"defined": defined, "reason": reason}}
  if null_measurements is not None:
    null = style_preservation.null_corrected(measurements, null_measurements, names,
                                             num_bootstrap, seed)
    result["null"] = {
        "delta": _interval_summary(null.value if defined else np.nan,
                                   null.interval if defined else (np.nan, np.nan)),
        "sp_null": dict(_interval_summary(null.null, null.null_interval),
                        per_draw=[files.finite_or_none(v) for v in null.null_per_draw]),
        "num_draws": null.num_draws, "resampled": null.resampled}
  return result


def null_rotation_seed(seed, draw, num_draws):
  """The seed of rotation draw `draw` of the null of an evaluation seeded by `seed`."""
  return NULL_ROTATION_SEED + seed * num_draws + draw


def lp_and_sp(decode_mean, num_classes, latent_dim, image_shape, classify, num_z,
              lp_samples_per_class, num_bootstrap, seed, null_rotations=NULL_ROTATIONS):
  """{"lp", "sp", "sp_on_correct", "null", "style"} of decode_mean(y int32 [B], z float32 [B, D])
  -> images [B, H, W, C] (the keys of the module docstring).

  LP's z are seeded by seed + 1 and SP's by seed + 2 (SP's bootstrap by seed + 2 too); the null's
  n = null_rotations rotation draws by `null_rotation_seed` (null None for 0 draws, D = 1, or LP
  at chance, where no style score is defined).
  """
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # the null of a degenerate grid warns again
    lp = label_preservation.compute_label_preservation(
        decode_mean, classify, num_classes, lp_samples_per_class, latent_dim, seed=seed + 1)
  names = measurement_names(image_shape)
  grid = style_preservation.sample_style_grid(decode_mean, num_classes, num_z, latent_dim,
                                              seed + 2)
  measurements = style_preservation.measure_grid(grid, names)
  sp = style_preservation.style_preservation(measurements, names, num_bootstrap, seed + 2)
  null_measurements = None
  content = lp.interval[0] > CHANCE_FACTOR / num_classes  # else no style score: skip the null
  if null_rotations and latent_dim >= 2 and content:
    null_measurements = []
    for draw in range(null_rotations):
      rotations = transforms_lib.random_rotations(
          num_classes, latent_dim, null_rotation_seed(seed, draw, null_rotations))
      null_measurements.append(style_preservation.sample_and_measure(
          lambda y, z, r=rotations: decode_mean(y, transforms_lib.apply(r, y, z)), num_classes,
          num_z, latent_dim, seed + 2, names))
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # raw SP warned of a degenerate grid
    extra = style_scores(grid, measurements, names, lp, sp, classify, num_bootstrap, seed + 2,
                         null_measurements)
  return dict({"lp": lp_summary(lp), "sp": sp_summary(sp)}, **extra)


def score_generator(generator, classify, num_z=200, lp_samples_per_class=100,
                    num_bootstrap=1000, seed=0, transform="rotation", transform_seed=0,
                    null_rotations=NULL_ROTATIONS):
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
    null_rotations: n, the fresh rotation draws of the null (ΔSP); 0: no null.

  Returns:
    {"lp", "sp", "sp_on_correct", "null", "style", "reference": {"transform", "transform_seed",
    "lp", "sp", "sp_on_correct", "style"}}.
  """
  common = dict(num_classes=generator.num_classes, latent_dim=generator.latent_dim,
                image_shape=generator.image_shape, classify=classify, num_z=num_z,
                lp_samples_per_class=lp_samples_per_class, num_bootstrap=num_bootstrap,
                seed=seed)
  result = lp_and_sp(generator.decode_mean, null_rotations=null_rotations, **common)
  family = transforms_lib.by_name(transform, generator.num_classes, generator.latent_dim,
                                  transform_seed)
  through_t = lambda y, z: generator.decode_mean(y, transforms_lib.apply(family, y, z))
  result["reference"] = dict(lp_and_sp(through_t, null_rotations=0, **common),
                             transform=transform, transform_seed=transform_seed)
  return result


def score_grid(images, classify, num_bootstrap=1000, seed=0):
  """LP and SP of a label x z grid of images float [K, M, H, W, C] in [0, 1] (row = label).

  LP reads every image of row y as intended to show y; SP compares the columns across rows. No
  null: the z of a grid of images cannot be rotated.
  """
  images = np.asarray(images, np.float32)
  num_classes, num_z = images.shape[:2]
  flat = images.reshape((num_classes * num_z,) + images.shape[2:])
  intended = np.repeat(np.arange(num_classes), num_z)
  lp = label_preservation.label_preservation(np.asarray(classify(tf.constant(flat))), intended,
                                             num_classes)
  names = measurement_names(images.shape[2:])
  measurements = style_preservation.measure_grid(images, names)
  sp = style_preservation.style_preservation(measurements, names, num_bootstrap, seed + 2)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # raw SP warned of a degenerate grid
    extra = style_scores(images, measurements, names, lp, sp, classify, num_bootstrap, seed + 2)
  return dict({"lp": lp_summary(lp), "sp": sp_summary(sp)}, **extra)


def _format(entry):
  """'0.512 [0.480, 0.540]' of a {"value", "interval"} summary ('n/a' for None)."""
  if entry is None or entry.get("value") is None:
    return "n/a"
  low, high = entry.get("interval", (None, None))
  if low is None or high is None:
    return f"{entry['value']:.3f}"
  return f"{entry['value']:.3f} [{low:.3f}, {high:.3f}]"


def summary_lines(result, name="model", scale=None):
  """What a reader needs of one generator's scores, as lines of text (LP, SP, style, null).

  Args:
    result: one generator's summaries ({"lp", "sp", ...} of `lp_and_sp`, read back from JSON).
    name: what to call it.
    scale: optional sp -> text, where an SP sits on the calibrated scale
      (`tfdis.metrics.calibration.locate_text`).
  """
  has_interval = lambda e: None not in e.get("interval", (None,))
  lines = [f"{name}: LP {_format(result['lp'])}"
           + (" (Wilson 95%, over samples)" if has_interval(result["lp"]) else ""),
           f"  SP (raw) {_format(result['sp'])}"
           + (f" (bootstrap 95%, over {result['sp']['num_z']} z columns)"
              if has_interval(result["sp"]) else "")]
  style = result.get("style")
  if style is None:
    return lines
  if not style["defined"]:
    lines.append(f"  style scores undefined: {style['reason']}")
    return lines
  on_correct = result["sp_on_correct"]
  lines.append(f"  SP on correct samples {_format(on_correct)} ({on_correct['num_columns']} of "
               f"{on_correct['num_z']} z columns read correctly under every label)")
  null = result.get("null")
  if null is not None:
    lines.append(f"  ΔSP {_format(null['delta'])} = SP - SP under fresh rotations S_y "
                 f"{_format(null['sp_null'])} (mean of {null['num_draws']} draws; bootstrap 95% "
                 f"over {null['resampled']})")
  if scale is not None:
    lines.append(f"  calibrated scale: {scale(on_correct['value'])}")
  return lines
