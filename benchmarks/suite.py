"""The benchmark suite of binaries.bench: routed layers, whole training steps, batched seeds.

`run_bench` runs the chosen sections with their parameters as arguments, logs a readable
summary, and returns (and, given a workdir, writes as bench.json) every number:

  layers  per-layer forward + backward ratios of every routing strategy against the shared layer,
          with and without XLA (`benchmarks.layers`)
  steps   whole training-step ratios (shared, split, split with a label-balanced batch, ten
          ordinary sub-networks), the split step over its floor (the shared step with the split
          model's Adam update in place of its own), and the shared step's GFLOP/s against the
          machine's matmul rate (`benchmarks.steps`), for the MLP and the conv model
  seeds   throughput of S seeds trained together against S sequential runs (`benchmarks.seeds`)
  reference  tfdis against a plain JAX + optax reference of the same MLP models (shared and
          split), one step and a 1 000-step segment with the input pipeline, as tfdis / JAX
          ratios (`benchmarks.reference`; needs the optional extra `bench`); the flagfiles'
          batch, or --bench_batch_size with `quick`

`quick` times fewer layers, strategies, rounds and seed counts.
"""
import os

from benchmarks import layers as layer_bench
from benchmarks import seeds as seed_bench
from benchmarks import steps as step_bench
from tfdis import files
from tfdis.errors import UsageError

SECTIONS = ("layers", "steps", "seeds", "reference")
DEFAULT_SECTIONS = ("layers", "steps", "seeds")  # reference needs the extra `bench`
QUICK_LAYERS = ("dense 784->512",)


def bench_layers(quick, batch_size, log=print):
  """The `layers` section: rows of `benchmarks.layers.run`."""
  rows = layer_bench.run(
      layers=QUICK_LAYERS if quick else None, rounds=5 if quick else 15,
      strategies=(("auto", "balanced") if quick else
                  ("auto",) + layer_bench.routed.STRATEGIES + ("balanced",)),
      batch=batch_size,
      sorted_tiles={"dense": [64], "conv": [4], "conv_transpose": [4]} if quick else None)
  log("Per layer, forward + backward (ms; x shared):")
  log(layer_bench.format_table(rows))
  return rows


def bench_steps(quick, batch_size, hidden_units, matmul_size, log=print, architecture="mlp"):
  """The `steps` section for one architecture: the dict of `benchmarks.steps.run`."""
  steps = step_bench.run(batch_size=batch_size, rounds=6 if quick else 20, quick=quick,
                         hidden_units=hidden_units, matmul_size=matmul_size, log=log,
                         architecture=architecture)
  log(f"Whole training step, {architecture}, batch {steps['batch_size']} (median; x fastest "
      "shared; x floor):")
  for row in steps["rows"]:
    gflops = f"  {row['gflops']:.0f} GFLOP/s" if row["gflops"] else ""
    log(f"  {row['name']:<36} {row['seconds'] * 1e3:8.2f} ms  {row['ratio_to_shared']:6.2f}x"
        f"  {row['ratio_to_floor']:6.2f}x{gflops}")
  if "shared_fraction_of_matmul_rate" in steps:
    log(f"matmul rate {steps['matmul_gflops']:.0f} GFLOP/s; shared step reaches "
        f"{100 * steps['shared_fraction_of_matmul_rate']:.0f}% of it")
  log(f"floor = shared - update_shared + update_split = {steps['floor_seconds'] * 1e3:.2f} ms; "
      f"fastest split: {steps['fastest_split']}")
  log(f"train_step_split_over_shared = {steps['train_step_split_over_shared']:.2f}; "
      f"train_step_split_over_floor = {steps['train_step_split_over_floor']:.2f}; "
      f"split / ten sub-networks = {steps['train_step_split_over_subnetworks']:.2f}")
  if "weight_traffic_seconds" in steps:
    log(f"weight traffic (forward + backward at one example per label, split - shared) = "
        f"{steps['weight_traffic_seconds'] * 1e3:.2f} ms; train_step_split_over_floor_with_"
        f"weight_traffic = {steps['train_step_split_over_floor_with_weight_traffic']:.2f}")
  return steps


def bench_seeds(quick, hidden_units, log=print):
  """The `seeds` section: rows of `benchmarks.seeds.benchmark_seeds` (S = 1, 4, 16; quick 1, 4)."""
  config = seed_bench.competition_config(hidden_units=hidden_units)
  rows = seed_bench.benchmark_seeds(config, seed_counts=(1, 4) if quick else (1, 4, 16),
                                    steps=5 if quick else 20, repeats=2 if quick else 3)
  log("Seeds trained together in one XLA program vs one after another (model-steps/s):")
  for row in rows:
    log(f"  S={row['num_seeds']:<3} batched {row['batched_steps_per_s']:8.1f}  sequential "
        f"{row['sequential_steps_per_s']:8.1f}  speedup {row['speedup']:.2f}x")
  return rows


# Training-loop settings timed beside the default one in the `reference` section's segments.
REFERENCE_LOOP_VARIANTS = {"tfdis_check_every_100": dict(check_every=100),
                           "tfdis_check_every_100_steps_per_call_10": dict(check_every=100,
                                                                          steps_per_call=10)}


def bench_reference(quick, batch_size, hidden_units, log=print,
                    loop_variants=REFERENCE_LOOP_VARIANTS):
  """The `reference` section: {model: dict of `benchmarks.reference.run_model`}."""
  try:
    from benchmarks import reference  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise UsageError(f"--sections=reference needs JAX ({e}); install it with "
                     "pip install -e .[bench].") from None
  overrides = dict(hidden_units=hidden_units)
  if quick:
    overrides["batch_size"] = batch_size
  results = reference.run(overrides=overrides, rounds=3 if quick else 15,
                          segment_rounds=1 if quick else 3, segment_steps=20 if quick else 1000,
                          loop_variants=loop_variants, log=log)
  log("tfdis / plain JAX reference (median; best reference form of any-order labels):")
  for name, r in results.items():
    variants = "".join(f"  {v} {x:.2f}x" for v, x in r["segment_ratio_variants"].items()
                       if v != "tfdis")
    log(f"  {name:<14} batch {r['batch_size']}  step {r['step_ratio']:.2f}x  "
        f"{r['segment_steps']}-step segment {r['segment_ratio']:.2f}x  (JAX form "
        f"{r['best_form']}){variants}")
  return results


def run_bench(sections=DEFAULT_SECTIONS, quick=False, batch_size=260, hidden_units=512,
              matmul_size=2048, workdir=None, log=print, architectures=("mlp", "conv")):
  """Runs the chosen sections; returns the results dict, also written to <workdir>/bench.json.

  Args:
    sections: any of SECTIONS.
    quick: a reduced run (fewer layers, strategies, rounds and seed counts).
    batch_size: batch size of every timing (a multiple of 10 times the balanced layout too).
    hidden_units: hidden width of the timed VAEs.
    matmul_size: side of the square matmul that measures the machine's rate.
    workdir: where to write bench.json (None: not written).
    log: callable given each line of the summary.
    architectures: the models of the `steps` section (mlp, conv).

  Returns:
    {'quick', and per section run: 'layers' (rows), 'steps' (the MLP's dict) and 'steps_conv'
    (the conv model's), with their 'train_step_split_over_shared' and
    'train_step_split_over_floor' repeated at the top level (the conv model's with a '_conv'
    suffix), 'seeds' (rows), 'reference' ({model: its dict}) with 'reference_ratios'
    ({model: {'step', 'segment'}}: tfdis / JAX)}.
  """
  unknown = set(sections) - set(SECTIONS)
  if unknown:
    raise UsageError(f"--sections names {sorted(unknown)}; use layers, steps, seeds and/or "
                     "reference.")
  results = {"quick": quick}
  if "layers" in sections:
    results["layers"] = bench_layers(quick, batch_size, log)
  unknown = set(architectures) - {"mlp", "conv"}
  if unknown:
    raise UsageError(f"--bench_architectures names {sorted(unknown)}; use mlp and/or conv.")
  if "steps" in sections:
    for architecture in architectures:
      suffix = "" if architecture == "mlp" else "_" + architecture
      steps = bench_steps(quick, batch_size, hidden_units, matmul_size, log, architecture)
      results["steps" + suffix] = steps
      for key in ("train_step_split_over_shared", "train_step_split_over_floor"):
        results[key + suffix] = steps[key]
  if "seeds" in sections:
    results["seeds"] = bench_seeds(quick, hidden_units, log)
  if "reference" in sections:
    results["reference"] = bench_reference(quick, batch_size, hidden_units, log)
    results["reference_ratios"] = {name: {"step": r["step_ratio"], "segment": r["segment_ratio"]}
                                   for name, r in results["reference"].items()}
  if workdir:
    path = os.path.join(files.prepare(workdir), "bench.json")
    files.write_json(path, results)
    log(f"written {path}")
  return results
