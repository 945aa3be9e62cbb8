"""Slant and area on real MNIST digits equal Morpho-MNIST's definitions, written plainly in numpy.

The reference below follows Morpho-MNIST's `measure_image` step by step on the same 4x upscaled
image (`morphometrics.upscale` reproduces skimage's `pyramid_expand`, checked against skimage to
2e-7 when it was written): binarise at half the per-image intensity range, area = count / 16;
slant = arctan(-μ11 / μ02) from the intensity-weighted central moments.
"""
import numpy as np

from tfdis.data import datasets as data
from tfdis.metrics import morphometrics


def _morpho_mnist_slant_and_area(hires):
  """Plain numpy: Morpho-MNIST's slant (radians) and area (pixels) of one upscaled image [H, W]."""
  hires = hires.astype(np.float64)
  binary = hires >= hires.min() + 0.5 * (hires.max() - hires.min())
  area = binary.sum() / 16.0
  rows, cols = np.mgrid[:hires.shape[0], :hires.shape[1]]
  mass = hires.sum()
  x_c, y_c = (cols * hires).sum() / mass, (rows * hires).sum() / mass
  mu11 = ((cols - x_c) * (rows - y_c) * hires).sum() / mass
  mu02 = ((rows - y_c) ** 2 * hires).sum() / mass
  return np.arctan(-mu11 / mu02), area


def test_slant_and_area_follow_morpho_mnist_on_real_digits():
  images, labels = data.load_arrays("mnist", "test")
  images = images[:64]
  measured = morphometrics.measure(images)
  hires = morphometrics.upscale(images[..., 0], 4).numpy()
  reference = np.array([_morpho_mnist_slant_and_area(h) for h in hires])  # [64, 2]
  np.testing.assert_allclose(measured["slant"].numpy(), reference[:, 0], atol=1e-4)
  np.testing.assert_allclose(measured["area"].numpy(), reference[:, 1], atol=1e-3)
  # Real digits span a sensible range: slants within +-60 degrees, areas of tens of pixels.
  assert np.abs(np.degrees(reference[:, 0])).max() < 60
  assert 20 < reference[:, 1].mean() < 200
  assert len(set(labels[:64].tolist())) == 10
