"""Tests for tfdis.metrics.morphometrics on drawn shapes with known measurements."""
import numpy as np
import pytest
import tensorflow as tf

from tfdis.metrics import morphometrics

SIZE = 28


def draw_parallelogram(height, width, slant, centre=(14.0, 14.0), size=SIZE, supersample=4):
  """Anti-aliased sheared bar, float32 [B, size, size, 1]; parameters float [B] each.

  Pixel (x, y) is inside when |y - y_c| <= height / 2 and
  |x - x_c + tan(slant) (y - y_c)| <= width / 2, so a positive slant leans right
  ("/"); width is horizontal, the perpendicular thickness is width cos(slant).
  """
  height, width, slant = (np.atleast_1d(np.asarray(v, np.float64)) for v in (height, width, slant))
  cx, cy = (np.broadcast_to(np.asarray(c, np.float64), height.shape) for c in centre)
  offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
  coords = (np.arange(size)[:, None] + offsets[None, :]).reshape(-1)  # [size * supersample]
  y = coords[None, :, None]
  x = coords[None, None, :]
  dy = y - cy[:, None, None]
  dx = x - cx[:, None, None] + np.tan(slant)[:, None, None] * dy
  inside = (np.abs(dy) <= height[:, None, None] / 2) & (np.abs(dx) <= width[:, None, None] / 2)
  coverage = inside.reshape(len(height), size, supersample, size, supersample).mean(axis=(2, 4))
  return coverage[..., None].astype(np.float32)


def draw_disc(radius, size=SIZE, supersample=4):
  """Anti-aliased disc centred in the image, float32 [1, size, size, 1]."""
  offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
  coords = (np.arange(size)[:, None] + offsets[None, :]).reshape(-1) - size / 2
  inside = coords[:, None] ** 2 + coords[None, :] ** 2 <= radius ** 2
  return inside.reshape(size, supersample, size, supersample).mean(axis=(1, 3))[None, ..., None]


def test_slant_of_sheared_bars():
  angles = np.deg2rad([-30.0, -15.0, 0.0, 10.0, 25.0])
  images = draw_parallelogram(height=np.full(5, 18.0), width=np.full(5, 3.0), slant=angles)
  slant = morphometrics.measure(images)["slant"].numpy()
  np.testing.assert_allclose(np.rad2deg(slant), np.rad2deg(angles), atol=1.0)


def test_slant_sign_convention():
  # Top of the bar to the right of its bottom ("/") is a positive slant, as in Morpho-MNIST.
  image = np.zeros((1, SIZE, SIZE, 1), np.float32)
  for row in range(6, 22):
    image[0, row, 20 - (row - 6) // 2:23 - (row - 6) // 2, 0] = 1.0
  assert morphometrics.measure(image)["slant"].numpy()[0] > 0.3


def test_thickness_ranks_and_matches_stroke_width():
  widths = np.array([1.5, 2.0, 3.0, 4.0, 5.5])
  images = draw_parallelogram(np.full(5, 18.0), widths, np.zeros(5))
  thickness = morphometrics.measure(images)["thickness"].numpy()
  assert np.all(np.diff(thickness) > 0), thickness
  np.testing.assert_allclose(thickness[:4], widths[:4], atol=0.5)
  # The skeleton's spurs into the corners (as the medial axis has) thin a short, wide bar.
  assert thickness[4] == pytest.approx(widths[4], rel=0.15)
  # A slanted stroke: perpendicular thickness = width cos(slant).
  slanted = draw_parallelogram([18.0], [4.0], [np.deg2rad(30.0)])
  assert morphometrics.measure(slanted)["thickness"].numpy()[0] == pytest.approx(
      4.0 * np.cos(np.deg2rad(30.0)), abs=0.5)


def test_width_and_height_of_rectangles():
  images = draw_parallelogram([14.0, 14.0, 14.0, 20.0, 16.0, 16.0], [4.0, 6.0, 8.0, 8.0, 6.0, 6.0],
                              [0.0, 0.0, 0.0, 0.0, 0.0, np.deg2rad(20.0)])
  values = morphometrics.measure(images)
  width, height = values["width"].numpy(), values["height"].numpy()
  # Morpho-MNIST's own measure_image gives these on the same float images (checked with their
  # code for issue #4): the upscaling blur and the interpolated 1% ink quantiles add ~1 px.
  np.testing.assert_allclose(width[:3], [5.459, 7.223, 8.991], atol=0.02)
  np.testing.assert_allclose(height[[0, 3, 4]], [14.579, 20.268, 16.459], atol=0.02)
  assert np.all(np.abs(width - [4.0, 6.0, 8.0, 8.0, 6.0, 6.0]) < 1.5)
  assert np.all(np.abs(height - [14.0, 14.0, 14.0, 20.0, 16.0, 16.0]) < 1.0)
  # The box is de-slanted: a 20 degree parallelogram measures like the upright bar.
  assert width[5] == pytest.approx(width[4], abs=0.3)


def test_area_of_rectangle_and_disc():
  rectangle = draw_parallelogram([10.0], [6.0], [0.0])
  assert morphometrics.measure(rectangle)["area"].numpy()[0] == pytest.approx(60.0, abs=1.5)
  disc = draw_disc(6.0)
  assert morphometrics.measure(disc)["area"].numpy()[0] == pytest.approx(np.pi * 36.0, rel=0.03)


def test_distance_transform_matches_brute_force():
  rng = np.random.default_rng(0)
  binary = rng.random((2, 7, 9)) < 0.7
  got = morphometrics.distance_transform(binary).numpy()
  ys, xs = np.mgrid[0:7, 0:9]
  for b in range(2):
    background = np.argwhere(~binary[b])
    for y in range(7):
      for x in range(9):
        expected = 0.0 if not binary[b, y, x] else np.sqrt(
            ((background - [y, x]) ** 2).sum(axis=1).min())
        assert got[b, y, x] == pytest.approx(expected, abs=1e-5)
  del ys, xs


def test_upscale_preserves_constants_and_mass_centre():
  resize, smooth = morphometrics.upscale_matrices(6, 4)
  assert resize.shape == (24, 6) and smooth.shape == (24, 24)
  np.testing.assert_allclose(resize.sum(axis=1), np.ones(24), atol=1e-5)
  np.testing.assert_allclose(smooth.sum(axis=1), np.ones(24), atol=1e-5)
  constant = np.full((1, 5, 6), 0.4, np.float32)
  np.testing.assert_allclose(morphometrics.upscale(constant, 4).numpy(), 0.4, atol=1e-5)


def test_colour_statistics_and_grey_equivalence():
  grey = draw_parallelogram([16.0], [4.0], [0.2])  # [1, 28, 28, 1]
  red_on_blue = np.concatenate([grey, np.zeros_like(grey), 1.0 - grey], axis=-1)
  values = morphometrics.measure(red_on_blue, colour=True)
  assert values["foreground_red"].numpy()[0] > 0.8
  assert values["background_blue"].numpy()[0] > 0.9
  assert values["foreground_blue"].numpy()[0] < 0.2
  # Luma: red 0.299 on blue 0.114.
  assert values["contrast"].numpy()[0] == pytest.approx(0.299 - 0.114, abs=0.03)
  white_on_black = np.repeat(grey, 3, axis=-1)
  np.testing.assert_allclose(morphometrics.measure(white_on_black)["slant"].numpy(),
                             morphometrics.measure(grey)["slant"].numpy(), atol=1e-4)


def test_measure_stack_eager_matches_xla():
  images = draw_parallelogram([12.0, 18.0, 15.0], [2.0, 3.0, 4.0], [0.3, -0.2, 0.0])
  eager = morphometrics.measure_stack(images).numpy()
  jitted = tf.function(morphometrics.measure_stack, jit_compile=True)(images).numpy()
  assert eager.shape == (3, len(morphometrics.MEASUREMENTS))
  np.testing.assert_allclose(jitted, eager, rtol=1e-4, atol=1e-4)


def test_blank_image_and_bad_input():
  blank = np.zeros((1, 10, 12, 1), np.float32)
  assert np.isnan(morphometrics.measure(blank, scale=2)["slant"].numpy()[0])
  with pytest.raises(ValueError, match="shape"):
    morphometrics.measure(np.zeros((2, 10, 12), np.float32))
  with pytest.raises(ValueError, match="Unknown measurements"):
    morphometrics.measure_stack(np.zeros((1, 10, 12, 1), np.float32), names=("slnat",))
