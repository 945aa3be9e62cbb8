"""The report's figures (Figs. 1-6, PNG) drawn from the runs' records, and the images records keep.

`run_figures` takes from a finished run's folder the images the report draws (stored in its
ledger record); `write_figures` lays them out as the report's figures.
"""
import io
import os

import numpy as np

from tfdis import files
from tfdis import grids
from tfdis.experiments import competition
from tfdis.reproduce import ledger as ledger_lib
from tfdis.reproduce.claims import number
from tfdis.reproduce.claims import with_interval

_DPI = 100  # of the report's PNG figures


def _png(pixels):
  """PNG bytes of uint8 pixels [H, W] (grey), [H, W, 1] (grey), [H, W, 3] or [H, W, 4]."""
  from PIL import Image  # pylint: disable=g-import-not-at-top  (matplotlib's own dependency)
  pixels = np.asarray(pixels, np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels).save(
      buffer, format="PNG", optimize=True)
  return buffer.getvalue()



def _compact_png(png):
  """The same image as the PNG bytes `png`, without what it does not use: an opaque alpha channel
  and, when every pixel is grey, the colour channels (matplotlib writes grids as RGBA). Lossless;
  it makes records about 40% smaller."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pixels = np.asarray(Image.open(io.BytesIO(png)))
  if pixels.ndim == 3 and pixels.shape[-1] == 4 and (pixels[..., 3] == 255).all():
    pixels = pixels[..., :3]
  if pixels.ndim == 3 and pixels.shape[-1] == 3 and (pixels == pixels[..., :1]).all():
    pixels = pixels[..., 0]
  return _png(pixels)



def run_figures(run, folder, result):
  """{key: PNG bytes} of the images the report draws from this run (none for most seeds).

  The first seed of a trained model: Fig. 1's grids.png (shared) or its grid_model.png (Figs. 2,
  4); a regression: regression.png; a competition: each condition's typical run (μ_p grid above
  μ'_p) and trajectory.png when it was judged during training.
  """
  read = lambda name: _compact_png(files.read_bytes(os.path.join(folder, name)))
  if run.kind == "train":
    if run.name != (run.condition or run.name):
      return {}
    return {"grids": read("grids.png")} if run.stage == "shared" else {
        "grid_model": read("grid_model.png")}
  if run.kind == "regression":
    return {"regression": read("regression.png")}
  # run_grids' values are multiples of 1/255 (uint8 grids / 255, white gaps): exact in uint8
  to_pixels = lambda image: np.round(np.clip(image, 0.0, 1.0) * 255)
  figures = {f"typical/{name}": _png(to_pixels(competition.run_grids(folder, name,
                                                                     c["typical_seed"])))
             for name, c in result["winrate"]["conditions"].items()}
  if os.path.exists(os.path.join(folder, "trajectory.png")):
    figures["trajectory"] = read("trajectory.png")
  return figures



def _panel_figure(path, panels, columns, title, upscaled=1):
  """PNG of titled image panels [(title, PNG path or [H, W, C] array in [0, 1])], `columns` a row;
  `upscaled`: the factor the images were enlarged by when saved (grids.save_png's scale)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import image as mpimg  # pylint: disable=g-import-not-at-top
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  images = [mpimg.imread(p) if isinstance(p, str) else np.asarray(p) for _, p in panels]
  rows = -(-len(panels) // columns)
  aspect = max(im.shape[0] / im.shape[1] for im in images)
  # Digits at their native size (28 pixels) or larger; 4.4 inches a panel at least, for the titles.
  width = max(4.4, 1.08 * max(im.shape[1] for im in images) / upscaled / _DPI)
  fig, axes = plt.subplots(rows, columns, squeeze=False,
                           figsize=(width * columns, (width * aspect + 0.7) * rows + 0.5))
  for ax in axes.flat:
    ax.axis("off")
  for ax, (name, _), image in zip(axes.flat, panels, images):
    ax.imshow(image.squeeze(), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(name, fontsize=8)
  fig.suptitle(title, fontsize=11)
  fig.tight_layout()
  with files.whole_file(path) as tmp:
    fig.savefig(tmp, dpi=_DPI, metadata={"Software": None})
  plt.close(fig)



def _image(png):
  """float32 [H, W, C] in [0, 1] of PNG bytes, as matplotlib reads a PNG file."""
  from matplotlib import image as mpimg  # pylint: disable=g-import-not-at-top
  return mpimg.imread(io.BytesIO(png), format="png")



def _competition_panels(record, table):
  """[(title, image)] per condition: its typical run's μ_p grid above its μ'_p grid."""
  panels = []
  for condition, row in table["conditions"].items():
    seed = row["typical_seed"]
    verdict = table["per_seed"][condition][str(seed)]
    panels.append((f"{condition}, seed {seed}: {verdict}\n"
                   f"top μ_p (SP {number(row['typical_sp_mu'], 2)}), bottom μ'_p (SP "
                   f"{number(row['typical_sp_mu_prime'], 2)})",
                   _image(ledger_lib.figure_bytes(record, f"typical/{condition}"))))
  return panels



def split_side_by_side(image, gap=grids.SIDE_BY_SIDE_GAP, scale=grids.PNG_SCALE):
  """The two grids of an image [H, W, ...] laid out by grids.side_by_side(left, right, gap) and
  saved by grids.save_png(scale=scale): (left, right), each [H, (W - gap * scale) / 2, ...]."""
  width = (image.shape[1] - gap * scale) // 2
  if 2 * width + gap * scale != image.shape[1]:
    raise ValueError(f"An image {image.shape[1]} pixels wide is no pair of equal grids with a "
                     f"{gap * scale}-pixel gap.")
  return image[:, :width], image[:, width + gap * scale:]


def _fig1_panels(grids_png, model):
  """[(title, image)]: the shared model's μ_p grid and its entangled twin's, with their SP."""
  left, right = split_side_by_side(_image(grids_png))
  entangled = model["entangled"]
  return [(f"μ_p(y, z): the trained shared decoder\nSP {with_interval(model['sp'], 2)}", left),
          (f"μ'_p(y, z) = μ_p(y, T_y z): its entangled twin ({entangled.get('transform', 'T_y')})"
           f"\nSP {with_interval(entangled['sp'], 2)}", right)]


def _competition_figure_name(group, transforms):
  """The paper's figure of a competition flagfile's runs: Fig. 5 (rotation) or Fig. 6 (reflection)
  for the paper's conditions; the App. B positive controls and studies are no figure of the paper."""
  if group in ("compete_rotation", "compete_reflection"):
    return {("rotation",): "Fig. 5", ("reflection",): "Fig. 6"}.get(tuple(transforms), "Figs. 5, 6")
  return f"App. B, {group.replace('compete_', '').replace('_', ' ')}"


def write_figures(records, runs, models, competitions, out):
  """The figures of the report under out/ (PNG), from the runs' records; {figure key: file name}."""
  os.makedirs(out, exist_ok=True)
  figure = lambda name, key: ledger_lib.figure_bytes(records[name], key)
  copy = lambda png, name: files.write_bytes(os.path.join(out, name), png)
  figures = {}
  for run in runs:
    if run.stage == "shared" and run.name == (run.condition or run.name):
      figures["fig1"] = "fig1_shared_and_entangled.png"
      _panel_figure(os.path.join(out, figures["fig1"]),
                    _fig1_panels(figure(run.name, "grids"), models[run.name]), 2,
                    "Fig. 1: the trained shared decoder and its entangled twin (rows: labels 0-9; "
                    "columns: shared z)", upscaled=grids.PNG_SCALE)
  for stage, key, title, columns in (
      ("split", "fig2", "Fig. 2: label x z grids (rows: labels 0-9; columns: shared z)", 3),
      ("appendix_a", "fig4", "Fig. 4 (App. A): label x z grids of the layer-split models", 4)):
    chosen = [r for r in runs if r.stage == stage and r.name == (r.condition or r.name)]
    if chosen:
      figures[key] = f"{key}_{stage}.png"
      panels = [(f"{os.path.basename(r.name)}: {models[r.name]['title']}\n"
                 f"SP {with_interval(models[r.name]['sp'], 2)}",
                 _image(figure(r.name, "grid_model"))) for r in chosen]
      _panel_figure(os.path.join(out, figures[key]), panels, columns, title,
                    upscaled=grids.PNG_SCALE)
  for run in runs:
    if run.stage == "regression":
      key = "fig3_" + os.path.basename(run.name)
      figures[key] = key + ".png"
      copy(figure(run.name, "regression"), figures[key])
  groups = {}  # one figure per competition flagfile (Run.condition), from its conditions' runs
  for run in runs:
    if run.stage == "competition":
      groups.setdefault(run.condition, []).append(run)
  for group, members in groups.items():
    key = "fig56_" + group
    figures[key] = f"{key}.png"
    panels = [p for r in members for p in _competition_panels(records[r.name], competitions[r.name])]
    transforms = sorted({r.config.transform for r in members})
    fig = _competition_figure_name(group, transforms)
    _panel_figure(os.path.join(out, figures[key]), panels, len(panels),
                  f"{fig}: encoder versus decoder, {' and '.join(transforms)} T_y (typical run of "
                  "each condition)")
    # Each condition's trajectory.png, one panel each, untitled: the plot carries its own title.
    judged = [("", _image(figure(r.name, "trajectory"))) for r in members
              if "trajectory" in records[r.name]["figures"]]
    if judged:
      key = "trajectory_" + group
      figures[key] = f"{key}.png"
      _panel_figure(os.path.join(out, figures[key]), judged, min(len(judged), 2),
                    f"{fig}: SP along training, {' and '.join(transforms)} T_y")
  return figures

