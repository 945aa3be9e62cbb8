"""binaries.bench end to end at a tiny batch: it runs, prints ratios and writes bench.json.

Only the shape of the results is asserted; timings are never tested (they drift with load).
"""
import json
import os
import subprocess
import sys

import pytest

from benchmarks import suite
from tfdis.errors import UsageError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_bench_writes_the_whole_step_ratio(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "binaries.bench", "--quick", "--bench_batch_size=20",
       "--bench_hidden_units=16", "--matmul_size=128", "--sections=layers,steps",
       "--bench_architectures=mlp", f"--workdir={tmp_path}"], cwd=REPO, capture_output=True, text=True, timeout=600,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert result.returncode == 0, result.stderr[-3000:]
  assert "train_step_split_over_shared" in result.stdout
  assert "train_step_split_over_floor" in result.stdout
  report = json.loads((tmp_path / "bench.json").read_text())
  assert report["train_step_split_over_shared"] > 0
  steps = report["steps"]
  names = {row["name"] for row in steps["rows"]}
  assert names == {"shared", "shared+xla", "split", "split+xla", "split_balanced",
                   "split_balanced+xla", "ten_subnetworks", "update_shared", "update_split",
                   "grads_shared+xla", "grads_split_balanced+xla", "grads_shared+xla_per_label",
                   "grads_split_balanced+xla_per_label"}
  seconds = {row["name"]: row["seconds"] for row in steps["rows"]}
  shared = min(seconds["shared"], seconds["shared+xla"])
  floor = shared - seconds["update_shared"] + seconds["update_split"]
  assert steps["floor_seconds"] == pytest.approx(floor)
  assert report["train_step_split_over_floor"] == pytest.approx(
      seconds[steps["fastest_split"]] / floor)
  traffic = seconds["grads_split_balanced+xla_per_label"] - seconds["grads_shared+xla_per_label"]
  assert steps["weight_traffic_seconds"] == pytest.approx(traffic)
  assert steps["train_step_split_over_floor_with_weight_traffic"] == pytest.approx(
      seconds[steps["fastest_split"]] / (floor + traffic))
  assert "train_step_split_over_floor_with_weight_traffic" in result.stdout
  assert steps["fastest_split"].startswith("split")
  assert steps["matmul_gflops"] > 0
  assert "steps_conv" not in report  # --bench_architectures=mlp
  assert {row["strategy"] for row in report["layers"]} == {"shared", "auto", "balanced"}
  assert "seeds" not in report  # --sections chose the others


def test_seeds_section_times_batched_and_sequential_training():
  from benchmarks import seeds  # pylint: disable=g-import-not-at-top
  from tfdis.data import datasets  # pylint: disable=g-import-not-at-top
  images, labels = datasets.load_arrays("mnist", "test")
  config = seeds.competition_config(hidden_units=8, latent_dim=2, batch_size=8, jit_compile=False)
  rows = seeds.benchmark_seeds(config, seed_counts=(1, 2), steps=2, repeats=1,
                               images=images[:64], labels=labels[:64])
  assert [row["num_seeds"] for row in rows] == [1, 2]
  assert all(row["batched_steps_per_s"] > 0 and row["sequential_steps_per_s"] > 0 and
             row["speedup"] > 0 for row in rows)


def test_run_bench_one_section_in_process(tmp_path):
  lines = []
  results = suite.run_bench(sections=["layers"], quick=True, batch_size=12, workdir=str(tmp_path),
                            log=lines.append)
  assert set(results) == {"quick", "layers"} and results["quick"] is True
  # Batch 12 is no multiple of the 10 labels: no balanced layout.
  assert [(row["strategy"], row["xla"]) for row in results["layers"]] == [
      ("shared", False), ("shared", True), ("auto", False), ("auto", True)]
  assert json.loads((tmp_path / "bench.json").read_text()) == results
  assert lines[-1] == f"written {tmp_path / 'bench.json'}"


def test_run_bench_rejects_an_unknown_section():
  with pytest.raises(UsageError, match=r"--sections names \['gpu'\]"):
    suite.run_bench(sections=["layers", "gpu"])
  with pytest.raises(UsageError, match=r"--bench_architectures names \['resnet'\]"):
    suite.run_bench(sections=["steps"], architectures=["mlp", "resnet"])


def test_reference_section_writes_tfdis_over_jax_ratios(tmp_path):
  pytest.importorskip("jax")
  pytest.importorskip("optax")
  result = subprocess.run(
      [sys.executable, "-m", "binaries.bench", "--quick", "--bench_batch_size=20",
       "--bench_hidden_units=16", "--sections=reference", f"--workdir={tmp_path}"], cwd=REPO,
      capture_output=True, text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads((tmp_path / "bench.json").read_text())
  assert set(report) == {"quick", "reference", "reference_ratios"}
  assert set(report["reference"]) == {"shared", "split_encoder", "split_decoder", "split"}
  for name, r in report["reference"].items():
    assert r["batch_size"] == 20 and r["segment_steps"] == 20
    forms = {"gather"} if name == "shared" else {"gather", "masked"}
    assert set(r["step_seconds"]) == {"tfdis"} | {"jax_" + f for f in forms}
    assert r["best_form"] == min(forms, key=lambda f: r["step_seconds"]["jax_" + f])
    jax_step = r["step_seconds"]["jax_" + r["best_form"]]
    assert r["step_ratio"] == pytest.approx(r["step_seconds"]["tfdis"] / jax_step)
    assert set(r["segment_seconds"]) == {"tfdis", "tfdis_check_every_100",
                                         "tfdis_check_every_100_steps_per_call_10",
                                         "jax_" + r["best_form"]}
    assert r["segment_ratio"] == pytest.approx(
        r["segment_seconds"]["tfdis"] / r["segment_seconds"]["jax_" + r["best_form"]])
    assert report["reference_ratios"][name] == {"step": r["step_ratio"],
                                               "segment": r["segment_ratio"]}
    assert r["jit_compile"] == (name == "shared")  # as the flagfiles set it
    assert f"{name:<14} batch 20  step {r['step_ratio']:.2f}x" in result.stdout
