"""The report's figure layout: Fig. 1's two grids recovered from grids.png, figure titles."""
import numpy as np
import pytest

from tfdis import grids
from tfdis.reproduce import figures


def test_split_side_by_side_recovers_both_grids_of_a_saved_pair(tmp_path):
  rng = np.random.default_rng(0)
  # grey levels a PNG holds exactly
  left, right = (rng.integers(0, 256, size=(6, 5, 1)) / 255.0 for _ in range(2))
  path = str(tmp_path / "grids.png")
  grids.save_png(grids.side_by_side(left, right), path)
  from matplotlib import image as mpimg  # pylint: disable=g-import-not-at-top
  saved = mpimg.imread(path)[..., 0]  # grey PNG written as RGBA: one channel is enough
  got_left, got_right = figures.split_side_by_side(saved)
  scale = grids.PNG_SCALE
  np.testing.assert_allclose(got_left[::scale, ::scale], left[..., 0], atol=1 / 255)
  np.testing.assert_allclose(got_right[::scale, ::scale], right[..., 0], atol=1 / 255)


def test_split_side_by_side_refuses_an_image_that_is_no_pair():
  with pytest.raises(ValueError, match="no pair of equal grids"):
    figures.split_side_by_side(np.zeros((4, 11)))


@pytest.mark.parametrize("group, transforms, name", [
    ("compete_rotation", ["rotation"], "Fig. 5"),
    ("compete_reflection", ["reflection"], "Fig. 6"),
    ("compete_checks", ["rotation"], "App. B, checks"),
    ("compete_controls_rotation", ["rotation"], "App. B, controls rotation"),
])
def test_only_the_papers_conditions_are_titled_as_its_figures(group, transforms, name):
  assert figures._competition_figure_name(group, transforms) == name
