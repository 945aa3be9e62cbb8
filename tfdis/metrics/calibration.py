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
from tfdis.metrics import morphometrics
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


def mix_styles(shared, own, rho):
  """Style vectors float [L, M, 4]: sqrt(rho) c_m + sqrt(1 - rho) e_{l,m} (see the docstring).

  Args:
    shared: float [M, 4], c_m; own: float [L, M, 4], e_{l,m}; rho: in [0, 1].
  """
  if not 0.0 <= rho <= 1.0:
    raise ValueError(f"rho={rho} must be in [0, 1].")
  return np.sqrt(rho) * np.asarray(shared)[None] + np.sqrt(1.0 - rho) * np.asarray(own)


def column_styles(rng, num_labels, num_columns, rho):
  """Style vectors float [L, M, 4] of `mix_styles` with fresh c and e drawn from rng."""
  shared = rng.standard_normal((num_columns, STYLE_DIM))
  own = rng.standard_normal((num_labels, num_columns, STYLE_DIM))
  return mix_styles(shared, own, rho)


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


def calibration_sp(digits, styles, names=morphometrics.MEASUREMENTS):
  """SP (no interval) of real digits float [L, M, H, W] perturbed by styles float [L, M, 4]."""
  num_labels, num_columns = digits.shape[:2]
  images = perturb(digits.reshape((-1,) + digits.shape[2:]), styles.reshape(-1, STYLE_DIM))
  grid = images.reshape(digits.shape)[..., None]  # [L, M, H, W, 1]
  measurements = style_preservation.measure_grid(grid, names)
  return style_preservation.style_preservation(measurements, names, num_bootstrap=0).value


def _over_seeds(values):
  mean, (low, high) = stats.t_interval(values)
  return {"value": mean, "interval": [low, high]}


def calibrate(images, labels, rhos=RHOS, num_seeds=5, num_columns=100, seed=0):
  """SP of real digits against the shared share rho, with the ceiling (rho = 1) and the null.

  Every seed draws its own digits d, shared c and own e (numpy default_rng([seed, s])) and uses
  them at every rho, so the curve of one seed moves only with rho.

  Args:
    images: real test digits float [N, H, W, 1] in [0, 1]; labels: int [N].
    rhos: the shared shares, each in [0, 1).
    num_seeds: seeds (the unit of the intervals: 95% t over seeds).
    num_columns: M, columns per grid (every label needs M digits).
    seed: the first number of every seed's generator.

  Returns:
    The table: {"rows": [{"rho", "sp": {"value", "interval", "per_seed"}}], "ceiling": {"rho": 1,
    "sp"}, "null": {"sp"}, "interval": what it is over, and the settings}.
  """
  num_labels = int(np.max(labels)) + 1
  per_rho = {rho: [] for rho in tuple(rhos) + (1.0,)}
  null = []
  for s in range(num_seeds):
    rng = np.random.default_rng([seed, s])
    digits = digit_columns(rng, images, labels, num_labels, num_columns)
    shared = rng.standard_normal((num_columns, STYLE_DIM))
    own = rng.standard_normal((num_labels, num_columns, STYLE_DIM))
    for rho in per_rho:
      per_rho[rho].append(calibration_sp(digits, mix_styles(shared, own, rho)))
    null.append(calibration_sp(digits, permuted_styles(rng, mix_styles(shared, own, 1.0))))
  entry = lambda values: dict(_over_seeds(values), per_seed=[float(v) for v in values])
  return {"rows": [{"rho": float(rho), "sp": entry(per_rho[rho])} for rho in rhos],
          "ceiling": {"rho": 1.0, "sp": entry(per_rho[1.0])},
          "null": {"sp": entry(null)},
          "interval": "95% t interval over seeds (each seed: its own digits and perturbations)",
          "num_seeds": num_seeds, "num_columns": num_columns, "num_labels": num_labels,
          "seed": seed, "measurements": list(morphometrics.MEASUREMENTS)}


def markdown(table):
  """The table as markdown: rho, SP (95% t over seeds); the ceiling and the null last."""
  fmt = lambda e: f"{e['value']:.3f} [{e['interval'][0]:.3f}, {e['interval'][1]:.3f}]"
  lines = [f"SP of real MNIST test digits whose columns share a part rho of their perturbation "
           f"(thickness, shear, width, height); {table['num_labels']} labels x "
           f"{table['num_columns']} columns, mean over {table['num_seeds']} seeds with its "
           f"{table['interval']}.", "", "| rho (shared share) | SP |", "| --- | --- |"]
  lines += [f"| {row['rho']:.2f} | {fmt(row['sp'])} |" for row in table["rows"]]
  lines += [f"| 1.00 (ceiling: every perturbation shared) | {fmt(table['ceiling']['sp'])} |",
            f"| null (rho = 1 perturbations permuted across columns per label) | "
            f"{fmt(table['null']['sp'])} |"]
  lines += ["", "Regenerated (with the curve, curve.png) by `python -m binaries.evaluate --calibrate "
            "--output_dir=reports/calibration`."]
  return "\n".join(lines) + "\n"


def plot(table, path):
  """The curve SP against rho with 95% intervals over seeds, the ceiling and the null, as a PNG."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  rows = table["rows"] + [table["ceiling"]]
  rho = np.array([row["rho"] for row in rows])
  value = np.array([row["sp"]["value"] for row in rows])
  low = np.array([row["sp"]["interval"][0] for row in rows])
  high = np.array([row["sp"]["interval"][1] for row in rows])
  figure, axes = plt.subplots(figsize=(5.5, 4.0))
  axes.errorbar(rho, value, yerr=[value - low, high - value], marker="o", capsize=3,
                label="real digits, shared share rho (rho = 1: ceiling)")
  null = table["null"]["sp"]
  axes.axhspan(null["interval"][0], null["interval"][1], color="grey", alpha=0.3,
               label="null: perturbations permuted across columns")
  axes.axhline(0.0, color="black", linewidth=0.5)
  axes.set_xlabel("rho: share of the perturbation variance common to a column")
  axes.set_ylabel("SP (mean rank correlation across labels)")
  axes.set_title(f"SP calibrated on real MNIST digits ({table['num_seeds']} seeds, "
                 f"95% t intervals)", fontsize=9)
  axes.legend(fontsize=8, loc="upper left")
  figure.tight_layout()
  figure.savefig(path, dpi=120)
  plt.close(figure)


def write_calibration(table, folder):
  """table.json, table.md and curve.png of a `calibrate` table into `folder`."""
  os.makedirs(folder, exist_ok=True)
  files.write_json(os.path.join(folder, "table.json"), files.jsonable(table))
  files.write_text(os.path.join(folder, "table.md"), markdown(table))
  plot(table, os.path.join(folder, "curve.png"))


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


def placement(sp, table):
  """{"sp", "rho", "where"} of `locate` for an SP on `table` (rho None unless within), or None
  when there is no SP (None or not finite) or no table."""
  if table is None or sp is None or not np.isfinite(sp):
    return None
  rho, where = locate(sp, table)
  return {"sp": float(sp), "rho": rho, "where": where}


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
