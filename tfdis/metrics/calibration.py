"""What an SP means: SP of real digits whose columns share a known part of their style.

SP (`tfdis.metrics.style_preservation`) is a mean rank correlation; this module gives it a scale.
Columns of real MNIST test digits, one random digit of every label per column, are perturbed in
Morpho-MNIST's manner (Castro et al., JMLR 2019: thickening and thinning, slant by shear; and
width and height scale) by style vectors that share a known part across the column:

```none
c_m, e_{l,m} ~ N(0, I_4)                       shared by column m; own to (label l, column m)
s_{l,m} = sqrt(rho) c_m + sqrt(1 - rho) e_{l,m}  rho in [0, 1]: the share of the perturbation's
                                                variance common to the column
x_{l,m} = perturb(d_{l,m}, s_{l,m})             d_{l,m} a random MNIST test digit of label l
SP(rho) = SP of the measurements of x           over L = 10 labels and M columns
null    = s_{l,m} = c_{pi_l(m)}                 the rho = 1 perturbations permuted across the
                                                columns, separately per label (pi_l random)
```

The style of x_{l,m} is its digit's own (independent across labels) plus the perturbation, so
SP(0) is about 0 and SP(1), the ceiling, stays below 1 by as much as the digits' own styles vary.
`perturb` and `calibration_measurements` are the pure maths (numpy); `calibrate` draws digits and
perturbations over seeds, measures them, and returns the table (SP against rho with 95% t
intervals over seeds, the ceiling and the null) that `write_calibration` saves as JSON, markdown
and a PNG curve, and that `locate` reads to place a model's SP on the scale:

  python -m binaries.evaluate --calibrate --output_dir=reports/calibration
"""
import json
import os

import numpy as np

from tfdis import files
from tfdis.metrics import stats
from tfdis.metrics import style_preservation

STYLE_DIM = 4  # thickness, shear, width scale, height scale
RHOS = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9)
TABLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "reports", "calibration", "table.json")


def _shift(images, dy, dx):
  """images float [N, H, W] shifted by (dy, dx) pixels, zeros entering."""
  out = np.zeros_like(images)
  h, w = images.shape[1:]
  out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
      images[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
  return out


def _neighbourhood(images, reduce):
  """reduce over the 3 x 3 neighbourhood (a disc of radius 1) of every pixel: [N, H, W]."""
  shifted = [_shift(images, dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
             if abs(dy) + abs(dx) <= 1]
  return reduce(np.stack(shifted), axis=0)


def thicken(images, amount):
  """Morphological thickening (amount > 0) or thinning (< 0) of images float [N, H, W].

  amount float [N] in [-1, 1] blends the image with its grey dilation (erosion) by the radius-1
  disc: |amount| = 1 thickens (thins) every stroke by about one pixel on each side.
  """
  amount = np.asarray(amount, np.float64)[:, None, None]
  dilated = _neighbourhood(images, np.max)
  eroded = _neighbourhood(images, np.min)
  return np.where(amount >= 0, images + amount * (dilated - images),
                  images + amount * (images - eroded))


def affine(images, shear, width_scale, height_scale):
  """Shear and scale of images float [N, H, W] about their centre, bilinear, zeros outside.

  Output (u, v) (column, row, from the centre; rows down) takes the input at
  v / height_scale and (u + shear v) / width_scale: rows are stretched by height_scale, columns by
  width_scale, and a positive shear leans the digit right ("/"), raising its Morpho-MNIST slant
  by about atan(shear). Arguments float [N].
  """
  images = np.asarray(images, np.float64)
  n, h, w = images.shape
  v = np.arange(h, dtype=np.float64)[None, :, None] - (h - 1) / 2.0
  u = np.arange(w, dtype=np.float64)[None, None, :] - (w - 1) / 2.0
  shear, width_scale, height_scale = (np.asarray(a, np.float64)[:, None, None]
                                      for a in (shear, width_scale, height_scale))
  rows = v / height_scale + (h - 1) / 2.0 + 0.0 * u  # [N, H, W]
  cols = (u + shear * v) / width_scale + (w - 1) / 2.0
  r0, c0 = np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)
  fr, fc = rows - r0, cols - c0
  index = np.arange(n)[:, None, None]
  out = np.zeros_like(rows)
  for dr, wr in ((0, 1.0 - fr), (1, fr)):
    for dc, wc in ((0, 1.0 - fc), (1, fc)):
      r, c = r0 + dr, c0 + dc
      inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
      out += np.where(inside, wr * wc * images[index, np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)],
                      0.0)
  return out


def perturb(images, style):
  """Real digits float [N, H, W] in [0, 1] perturbed by style vectors float [N, 4] ~ N(0, I).

  s = (thickness, shear, width, height): thickening/thinning by tanh(s_0), shear 0.5 tanh(s_1),
  width scale 1 + 0.3 tanh(s_2), height scale 1 + 0.15 tanh(s_3). Returns float [N, H, W] in [0, 1].
  """
  style = np.asarray(style, np.float64)
  squashed = np.tanh(style)
  thick = thicken(np.asarray(images, np.float64), squashed[:, 0])
  out = affine(thick, 0.5 * squashed[:, 1], 1.0 + 0.3 * squashed[:, 2], 1.0 + 0.15 * squashed[:, 3])
  return np.clip(out, 0.0, 1.0)


def column_styles(rng, num_labels, num_columns, rho):
  """Style vectors float [L, M, 4]: sqrt(rho) c_m + sqrt(1 - rho) e_{l,m} (see the docstring)."""
  if not 0.0 <= rho <= 1.0:
    raise ValueError(f"rho={rho} must be in [0, 1].")
  shared = rng.standard_normal((1, num_columns, STYLE_DIM))
  own = rng.standard_normal((num_labels, num_columns, STYLE_DIM))
  return np.sqrt(rho) * shared + np.sqrt(1.0 - rho) * own


def permuted_styles(rng, styles):
  """styles float [L, M, 4] with the columns permuted independently for every label (the null)."""
  return np.stack([row[rng.permutation(len(row))] for row in styles])


def digit_columns(rng, images, labels, num_labels, num_columns):
  """Random real digits float [L, M, H, W] of every label: row l holds M digits of label l."""
  rows = []
  for label in range(num_labels):
    pool = np.nonzero(np.asarray(labels) == label)[0]
    rows.append(np.asarray(images)[rng.choice(pool, num_columns, replace=False)])
  out = np.asarray(rows, np.float64)
  return out[..., 0] if out.ndim == 5 else out


def read_table(path=TABLE):
  """The committed calibration table (JSON written by `write_calibration`), or None if absent."""
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def locate(sp, table):
  """The shared-style share rho at which real digits score `sp`, by linear interpolation of the
  table's mean SP against rho (rho = 1: the ceiling).

  Returns:
    (rho or None, where): where is "below" (under SP(rho = 0)), "within" or "above" (over the
    ceiling); rho is None unless within.
  """
  points = [(row["rho"], row["sp"]["value"]) for row in table["rows"]]
  points.append((1.0, table["ceiling"]["sp"]["value"]))
  rhos, sps = (np.array(v, np.float64) for v in zip(*sorted(points)))
  if sp < sps[0]:
    return None, "below"
  if sp > sps[-1]:
    return None, "above"
  sps = np.maximum.accumulate(sps)  # a monotone curve to invert
  return float(np.interp(sp, sps, rhos)), "within"


def locate_text(sp, table=None):
  """One line: where an SP (on correctly labelled samples) sits on the calibrated scale."""
  table = table if table is not None else read_table()
  if sp is None or not np.isfinite(sp):
    return "no SP to place"
  if table is None:
    return ("no calibration table found (python -m binaries.evaluate --calibrate "
            "--output_dir=reports/calibration writes it)")
  rho, where = locate(sp, table)
  ceiling = table["ceiling"]["sp"]["value"]
  if where == "below":
    return (f"SP {sp:.3f} is below that of real digits sharing no style (rho = 0: "
            f"{table['rows'][0]['sp']['value']:.3f})")
  if where == "above":
    return (f"SP {sp:.3f} is above the real-digit ceiling {ceiling:.3f} (every perturbation shared: "
            "more alike than real digits of different writers)")
  return (f"SP {sp:.3f} = real digits whose columns share rho = {rho:.2f} of their perturbation "
          f"variance (ceiling {ceiling:.3f} at rho = 1; null {table['null']['sp']['value']:.3f})")
