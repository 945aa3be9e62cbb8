"""Tests for tfdis.metrics.calibration: the perturbations do what they say, SP grows with rho."""
import numpy as np
import pytest

from tfdis.data import datasets
from tfdis.metrics import calibration
from tfdis.metrics import morphometrics


@pytest.fixture(scope="module")
def mnist_test():
  return datasets.load_arrays("mnist", "test")


def _measure(images):
  """{name: float [N]} of images float [N, H, W]."""
  values = morphometrics.measure(np.asarray(images, np.float32)[..., None])
  return {name: np.asarray(values[name]) for name in ("slant", "thickness", "width", "height")}


def test_each_perturbation_moves_its_own_measurement(mnist_test):
  images, _ = mnist_test
  digits = images[:6, ..., 0].astype(np.float64)  # [N, 28, 28]
  base = _measure(digits)
  zeros = np.zeros(6)
  assert np.all(_measure(calibration.thicken(digits, zeros + 1.0))["thickness"] > base["thickness"])
  assert np.all(_measure(calibration.thicken(digits, zeros - 1.0))["thickness"] < base["thickness"])
  sheared = _measure(calibration.affine(digits, zeros + 0.4, zeros + 1.0, zeros + 1.0))
  # A shear x -> x - s (y - y_c) adds s to tan(slant) = -u11 / u02.
  np.testing.assert_allclose(np.tan(sheared["slant"]) - np.tan(base["slant"]), 0.4, atol=0.05)
  wide = _measure(calibration.affine(digits, zeros, zeros + 1.3, zeros + 1.0))
  assert np.all(wide["width"] > 1.15 * base["width"])
  np.testing.assert_allclose(wide["height"], base["height"], rtol=0.06)
  tall = _measure(calibration.affine(digits, zeros, zeros + 1.0, zeros + 1.15))
  assert np.all(tall["height"] > 1.08 * base["height"])
  # No perturbation is the identity.
  np.testing.assert_allclose(calibration.perturb(digits, np.zeros((6, 4))), digits, atol=1e-12)


def test_styles_share_rho_of_their_variance():
  rng = np.random.default_rng(0)
  styles = calibration.column_styles(rng, 2, 20000, 0.7)  # [L, M, 4]
  np.testing.assert_allclose(np.corrcoef(styles[0, :, 1], styles[1, :, 1])[0, 1], 0.7, atol=0.02)
  np.testing.assert_allclose(styles.var(axis=1), 1.0, atol=0.04)
  permuted = calibration.permuted_styles(rng, styles)
  np.testing.assert_allclose(np.sort(permuted[1, :, 2]), np.sort(styles[1, :, 2]))
  assert abs(np.corrcoef(permuted[0, :, 1], permuted[1, :, 1])[0, 1]) < 0.03
  with pytest.raises(ValueError, match=r"rho=1.5 must be in \[0, 1\]"):
    calibration.mix_styles(np.zeros((3, 4)), np.zeros((2, 3, 4)), 1.5)


def test_sp_grows_with_rho_and_the_null_holds_zero(mnist_test, tmp_path):
  images, labels = mnist_test
  table = calibration.calibrate(images, labels, rhos=(0.0, 0.5), num_seeds=3, num_columns=20)
  curve = [row["sp"]["value"] for row in table["rows"]] + [table["ceiling"]["sp"]["value"]]
  assert np.all(np.diff(curve) > 0), curve
  for row in table["rows"][1:] + [table["ceiling"]]:  # every seed's curve grows too
    assert len(row["sp"]["per_seed"]) == 3
  per_seed = np.array([row["sp"]["per_seed"] for row in table["rows"]])  # [rho, seed]
  assert np.all(np.diff(per_seed, axis=0) > 0)
  low, high = table["null"]["sp"]["interval"]
  assert low < 0.0 < high
  assert abs(table["rows"][0]["sp"]["value"]) < 0.1 and table["ceiling"]["sp"]["value"] > 0.4
  # Written, read back, and SP placed on it.
  calibration.write_calibration(table, str(tmp_path))
  assert (tmp_path / "curve.png").stat().st_size > 0
  assert "| 0.50 |" in (tmp_path / "table.md").read_text()
  again = calibration.read_table(str(tmp_path / "table.json"))
  rho, where = calibration.locate(table["rows"][1]["sp"]["value"], again)
  assert where == "within" and rho == pytest.approx(0.5)
  assert calibration.locate(curve[-1] + 0.1, again) == (None, "above")
  assert calibration.locate(curve[0] - 0.1, again) == (None, "below")
  assert "rho = 0.50" in calibration.locate_text(table["rows"][1]["sp"]["value"], again)


def test_the_committed_table_grows_with_rho_and_its_null_holds_zero():
  """reports/calibration/table.json, as `binaries.evaluate --calibrate` wrote it: SP grows with
  rho in every seed up to the ceiling, rho = 0 and the null hold 0, and placing reads it back."""
  table = calibration.read_table()
  assert [row["rho"] for row in table["rows"]] == list(calibration.RHOS)
  per_seed = np.array([row["sp"]["per_seed"] for row in table["rows"]]
                      + [table["ceiling"]["sp"]["per_seed"]])  # [rho, seed]
  assert per_seed.shape == (len(calibration.RHOS) + 1, table["num_seeds"])
  assert np.all(np.diff(per_seed, axis=0) > 0)
  for entry in (table["rows"][0]["sp"], table["null"]["sp"]):
    assert entry["interval"][0] < 0.0 < entry["interval"][1]
  assert 0.6 < table["ceiling"]["sp"]["value"] < 0.8
  rho, where = calibration.locate(0.60, table)
  assert where == "within" and 0.85 < rho < 0.9  # "SP 0.60 is about rho = 0.87" (docs)
