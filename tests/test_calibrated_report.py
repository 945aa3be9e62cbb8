"""The report's "SP on the calibrated scale" (tfdis.reproduce.calibrated) and evaluation.json's
`calibrated`, on constructed evaluations and a constructed calibration table."""
import types

import pytest

from tfdis import files
from tfdis.experiments import evaluation
from tfdis.metrics import calibration
from tfdis.reproduce import calibrated


def _sp(value, half=0.02):
  return {"value": value, "interval": [value - half, value + half]}


# A calibration table with a straight curve SP = 0.7 rho: SP 0.42 is rho = 0.6.
TABLE = {"rows": [{"rho": r, "sp": _sp(0.7 * r, 0.01)} for r in (0.0, 0.2, 0.4, 0.6, 0.8, 0.9)],
         "ceiling": {"rho": 1.0, "sp": _sp(0.7, 0.01)}, "null": {"sp": _sp(0.001, 0.006)},
         "num_seeds": 5, "num_columns": 100, "num_labels": 10,
         "interval": "95% t interval over seeds"}


def _style(defined=True, sp_on_correct=0.42, columns=150, delta=0.4, reason=""):
  """The style scores of `scores.lp_and_sp` as evaluation.json holds them."""
  if not defined:
    return {"sp_on_correct": {"value": None, "interval": [None, None], "num_columns": 3,
                              "num_z": 200},
            "null": None, "style": {"defined": False, "reason": reason}}
  return {"sp_on_correct": dict(_sp(sp_on_correct), num_columns=columns, num_z=200),
          "null": {"delta": _sp(delta), "sp_null": _sp(0.02), "num_draws": 5,
                   "resampled": "z columns and rotation draws"},
          "style": {"defined": True, "reason": ""}}


AT_CHANCE = ("LP 0.100 [0.096, 0.103] is not above 2 x chance (0.20): the images do not show "
             "their labels, so their likeness across labels is no digit's style")


def _evaluation(with_style=True):
  """A model (SP on correct 0.42), its entangled twin (SP on correct 0.0) and two untrained
  initialisations at chance with a raw SP of 0.8; without style scores when with_style is False."""
  model = {"lp": _sp(0.97), "sp": dict(_sp(0.8), num_z=200)}
  twin = {"lp": _sp(0.95), "sp": dict(_sp(0.0), num_z=200)}
  untrained = {"init_seeds": [0, 1], "lp": dict(_sp(0.1), per_init=[0.1, 0.1]),
               "sp": dict(_sp(0.8), per_init=[0.79, 0.81],
                          per_init_interval=[[0.75, 0.83], [0.77, 0.85]])}
  if with_style:
    model.update(_style(sp_on_correct=0.42))
    twin.update(_style(sp_on_correct=0.0, delta=0.0))
    untrained["style_per_init"] = [_style(False, reason=AT_CHANCE)] * 2
  return dict(model, entangled=twin, untrained=untrained, transform="rotation", dataset="mnist")


def test_defined_style_is_placed_by_sp_on_correct_samples_not_raw_sp():
  row = calibrated.place(_evaluation(), TABLE)
  assert row["of"] == "sp_on_correct" and row["style_measured"]
  assert row["placement"]["where"] == "within"
  assert row["placement"]["rho"] == pytest.approx(0.6)  # SP 0.42 on the curve SP = 0.7 rho
  assert row["sp_on_correct"]["num_columns"] == 150 and row["delta"]["value"] == 0.4
  # Raw SP 0.8 would have been above the ceiling 0.7.
  assert calibration.placement(0.8, TABLE) == {"sp": 0.8, "rho": None, "where": "above"}


def test_undefined_style_gets_its_reason_and_no_placement():
  untrained = calibrated.model_rows(_evaluation(), TABLE)["untrained"]
  assert [r["init_seed"] for r in untrained] == [0, 1]
  for row in untrained:
    assert row["of"] is None and row["placement"] is None and row["reason"] == AT_CHANCE
    assert row["sp"]["value"] in (0.79, 0.81)  # raw SP kept, but placed nowhere


def test_an_evaluation_without_style_scores_is_placed_by_raw_sp_only_above_chance():
  rows = calibrated.model_rows(_evaluation(with_style=False), TABLE)
  assert rows["model"]["of"] == "sp" and not rows["model"]["style_measured"]
  assert rows["model"]["placement"]["where"] == "above"
  assert rows["entangled"]["of"] == "sp" and rows["entangled"]["placement"]["rho"] == 0.0
  for row in rows["untrained"]:  # LP 0.1 per init: no interval, its value is at chance
    assert row["of"] is None and row["reason"] == "LP 0.100 is not above 2 x chance (0.20)"
  # An interval that reaches down to chance is not content either.
  low = dict(_evaluation(with_style=False), lp={"value": 0.3, "interval": [0.15, 0.45]})
  assert calibrated.place(low, TABLE)["of"] is None


def _write_table(folder):
  folder.mkdir()
  files.write_json(str(folder / "table.json"), TABLE)
  (folder / "curve.png").write_bytes(b"\x89PNG curve")
  return str(folder / "table.json")


def test_section_places_every_trained_run_and_copies_the_curve(tmp_path):
  path = _write_table(tmp_path / "calibration")
  runs = [types.SimpleNamespace(kind="train", name="shared"),
          types.SimpleNamespace(kind="train", name="split_old"),
          types.SimpleNamespace(kind="regression", name="regression/regress"),
          types.SimpleNamespace(kind="train", name="not_recorded"),
          types.SimpleNamespace(kind="train", name="mixed")]
  mixed = _evaluation()
  mixed["untrained"]["style_per_init"] = [_style(False, reason=AT_CHANCE),
                                          _style(sp_on_correct=0.14, delta=0.1, columns=12)]
  records = {"shared": {"result": {"evaluation": _evaluation()}},
             "split_old": {"result": {"evaluation": _evaluation(with_style=False)}},
             "regression/regress": {"result": {"regression": {}}},
             "mixed": {"result": {"evaluation": mixed}}}
  section = calibrated.section(runs, records, str(tmp_path / "figures"), table_path=path)
  assert list(section["models"]) == ["shared", "split_old", "mixed"]
  assert (tmp_path / "figures" / calibrated.CURVE).read_bytes() == b"\x89PNG curve"
  text = "\n".join(calibrated.markdown_lines(section))
  assert "## SP on the calibrated scale" in text
  assert "| 0.60 | 0.420 [0.410, 0.430] |" in text  # the calibration's own row
  assert "| 1.00 (ceiling: every perturbation shared) | 0.700 [0.690, 0.710] |" in text
  assert "| null (ρ = 1 perturbations permuted across columns, per label) | 0.001 [-0.005, 0.007] |" in text
  assert f"![SP calibration](figures/{calibrated.CURVE})" in text
  lines = text.split("\n")
  assert ("| shared | trained | 0.970 [0.950, 0.990] | 0.800 [0.780, 0.820] | "
          "0.420 [0.400, 0.440] (150/200) | 0.400 [0.380, 0.420] | ρ ≈ 0.60 |") in lines
  assert ("| shared | entangled (rotation T_y) | 0.950 [0.930, 0.970] | 0.000 [-0.020, 0.020] | "
          "0.000 [-0.020, 0.020] (150/200) | 0.000 [-0.020, 0.020] | ρ ≈ 0.00 |") in lines
  assert ("| shared | untrained | 0.100 (mean of 2) | 0.800 (mean of 2) | — | — | undefined in "
          "2 of 2 inits (init 0: LP 0.100 [0.096, 0.103] is not above 2 x chance (0.20)) |") in lines
  assert ("| split_old | untrained | 0.100 (mean of 2) | 0.800 (mean of 2) | not measured | "
          "not measured | undefined in 2 of 2 inits (init 0: LP 0.100 is not above 2 x chance "
          "(0.20)) |") in lines
  assert ("| split_old | trained | 0.970 [0.950, 0.990] | 0.800 [0.780, 0.820] | not measured | "
          "not measured | above the ceiling (0.700) (raw SP) |") in lines
  # One initialisation with content, one without: each is said.
  assert ("| mixed | untrained | 0.100 (mean of 2) | 0.800 (mean of 2) | init 1: 0.140 [0.120, "
          "0.160] (12/200) | init 1: 0.100 [0.080, 0.120] | undefined in 1 of 2 inits (init 0: LP 0.100 "
          "[0.096, 0.103] is not above 2 x chance (0.20)); init 1: ρ ≈ 0.20 |") in lines
  # A run on other data is not placed on MNIST digits' scale.
  records["shared"]["result"]["evaluation"]["dataset"] = "fashion_mnist"
  other = calibrated.section(runs, records, None, table_path=path)
  assert other["models"]["shared"]["model"]["placement"] is None
  assert other["models"]["mixed"]["model"]["placement"]["rho"] == pytest.approx(0.6)
  assert ("| shared | trained | 0.970 [0.950, 0.990] | 0.800 [0.780, 0.820] | 0.420 [0.400, 0.440] "
          "(150/200) | 0.400 [0.380, 0.420] | not placed (no MNIST calibration table for it) |"
          ) in calibrated.markdown_lines(other)
  # Without a table: the section says how to make it, and places nothing.
  bare = calibrated.section(runs, records, None, table_path=str(tmp_path / "none.json"))
  assert bare["curve"] is None
  assert all(r["model"]["placement"] is None for r in bare["models"].values())
  assert "No calibration table" in "\n".join(calibrated.markdown_lines(bare))


def test_results_made_before_the_section_have_none():
  assert calibrated.markdown_lines(None) == []
  assert calibrated.markdown_lines({}) == []


def test_evaluation_json_places_every_generator_with_defined_style():
  results = evaluation.add_calibrated(_evaluation(), "mnist", TABLE)
  assert results["calibrated"]["rho"] == pytest.approx(0.6)
  assert results["entangled"]["calibrated"] == {"sp": 0.0, "rho": 0.0, "where": "within"}
  assert [s["calibrated"] for s in results["untrained"]["style_per_init"]] == [None, None]
  fashion = evaluation.add_calibrated(_evaluation(), "fashion_mnist", TABLE)
  assert fashion["calibrated"] is None  # the scale is MNIST digits'
  old = evaluation.add_calibrated(_evaluation(with_style=False), "mnist", TABLE)
  assert "calibrated" not in old
