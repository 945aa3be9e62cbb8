"""Speed of label-routed ("split") layers and training steps against shared ones, as ratios.

  python -m binaries.bench [--quick] [--workdir=<dir>]

Prints, from one process with interleaved candidates: per-layer forward+backward ratios of every
routing strategy (with and without XLA), whole training-step ratios (shared, split, ten ordinary
sub-networks), the shared step's GFLOP/s against this machine's matmul rate, and the throughput of
S seeds trained together against S sequential runs (S = 1, 4, 16). With --workdir,
writes <workdir>/bench.json (the whole-step ratio under `train_step_split_over_shared`).
--quick (under a minute) times fewer layers and rounds.
"""
from binaries import common  # pylint: disable=unused-import  (sets TF log level first)

import json
import os

from absl import app
from absl import flags

from tfdis import flag_defs

flag_defs.define_flags("bench")
FLAGS = flags.FLAGS

QUICK_LAYERS = ("dense 784->512",)


def run(flags_obj=FLAGS, log=print):
  """Runs the selected sections; returns the results dict (also written to bench.json)."""
  from benchmarks import layers as layer_benchmark  # pylint: disable=g-import-not-at-top
  from benchmarks import steps as step_benchmark  # pylint: disable=g-import-not-at-top
  from tfdis.errors import UsageError  # pylint: disable=g-import-not-at-top
  from benchmarks import seeds as bench_seeds  # pylint: disable=g-import-not-at-top
  unknown = set(flags_obj.sections) - {"layers", "steps", "seeds"}
  if unknown:
    raise UsageError(f"--sections names {sorted(unknown)}; use layers, steps and/or seeds.")
  results = {"quick": flags_obj.quick}
  if "layers" in flags_obj.sections:
    rows = layer_benchmark.run(
        layers=QUICK_LAYERS if flags_obj.quick else None, rounds=5 if flags_obj.quick else 15,
        strategies=("auto",) if flags_obj.quick else ("auto",) + layer_benchmark.routed.STRATEGIES,
        batch=flags_obj.bench_batch_size,
        sorted_tiles={"dense": [64], "conv": [4], "conv_transpose": [4]} if flags_obj.quick else None)
    log("Per layer, forward + backward (ms; x shared):")
    log(layer_benchmark.format_table(rows))
    results["layers"] = rows
  if "steps" in flags_obj.sections:
    steps = step_benchmark.run(batch_size=flags_obj.bench_batch_size,
                               rounds=6 if flags_obj.quick else 20, quick=flags_obj.quick,
                               hidden_units=flags_obj.bench_hidden_units,
                               matmul_size=flags_obj.matmul_size, log=log)
    log(f"Whole training step at batch {steps['batch_size']} (median s; x fastest shared):")
    for row in steps["rows"]:
      gflops = f"  {row['gflops']:.0f} GFLOP/s" if row["gflops"] else ""
      log(f"  {row['name']:<16} {row['seconds'] * 1e3:8.2f} ms  {row['ratio_to_shared']:6.2f}x"
          f"{gflops}")
    log(f"matmul rate {steps['matmul_gflops']:.0f} GFLOP/s; shared step reaches "
        f"{100 * steps['shared_fraction_of_matmul_rate']:.0f}% of it")
    log(f"train_step_split_over_shared = {steps['train_step_split_over_shared']:.2f}; "
        f"ten sub-networks / split = {steps['train_step_subnetworks_over_split']:.2f}")
    results["steps"] = steps
    results["train_step_split_over_shared"] = steps["train_step_split_over_shared"]
  if "seeds" in flags_obj.sections:
    counts = (1, 4) if flags_obj.quick else (1, 4, 16)
    config = bench_seeds.competition_config(hidden_units=flags_obj.bench_hidden_units)
    rows = bench_seeds.benchmark_seeds(config, seed_counts=counts,
                                       steps=5 if flags_obj.quick else 20,
                                       repeats=2 if flags_obj.quick else 3)
    log("Seeds trained together in one XLA program vs one after another (model-steps/s):")
    for row in rows:
      log(f"  S={row['num_seeds']:<3} batched {row['batched_steps_per_s']:8.1f}  sequential "
          f"{row['sequential_steps_per_s']:8.1f}  speedup {row['speedup']:.2f}x")
    results["seeds"] = rows
  if flags_obj.workdir:
    os.makedirs(flags_obj.workdir, exist_ok=True)
    path = os.path.join(flags_obj.workdir, "bench.json")
    with open(path, "w") as f:
      json.dump(results, f, indent=2, sort_keys=True)
      f.write("\n")
    log(f"written {path}")
  return results


main = common.make_main(run)


if __name__ == "__main__":
  app.run(main)
