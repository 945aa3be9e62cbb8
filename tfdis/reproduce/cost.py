"""The reproduction's cost model: a run's wall seconds from a few countable features, fitted to a ledger.

Every run of the plan (`tfdis.reproduce.plan`) is described by how much arithmetic it does and how
many runs it is, and its wall time is predicted as a non-negative sum of those features, each with
one fitted coefficient (seconds per unit):

```none
feature             unit                       counts
train_dense         10^9 multiply-adds         steps x batch x the shared (dense) weight layers'
                                               multiply-adds per example, encoder and decoder
train_routed        10^9 multiply-adds         the same for the label-routed (split) layers
train_run           runs                       1: evaluation (SP, LP, ELBO), export
regression_dense    10^9 multiply-adds         seeds x 2 targets x (steps x batch + evaluated steps
regression_routed                              x eval_examples x 2 / 3) x encoder + decoder layers
competition_dense   10^9 multiply-adds         per condition: seeds x steps x batch x its
competition_routed                             variant's layers (a split variant routes them)
competition_run     conditions                 1 per condition: judging, grids, start-up
```

seconds(run) = sum_f c_f x_f(run) x (reference rate / this host's rate) / threads^e

- `c_f` are fitted (`fit`) by least squares with c >= 0 (`nonnegative_least_squares`) to the
  ledger records' wall times, normalised to the reference host (a record's `host_rate_gflops`,
  when it has one, over the reference rate) and to one thread (x threads^e), with PRIOR_RUNS
  pseudo-records that keep the fixed costs small where the records cannot tell them from the
  per-step ones. A kind absent from the records (e.g. no regression recorded yet) takes the train
  coefficients of its features.
- The host's rate (`host_rate`) is a single-core float32 matmul rate measured in about 10 ms
  (numpy, 32 products of 64 x 64 matrices), once per process; the coefficients are
  relative to the rate of the host the ledger ran on, stored beside them (`reference_rate_gflops`:
  the rate measured when fitting, on that host, since older records carry none).
- `e` (THREAD_EXPONENT) is not fitted: a ledger run with one thread setting cannot tell it. It is
  set from the two-thread measurement in docs/reproduce-the-paper.md ("Shards"): TF's own
  threading gains little on these networks. A record without thread settings counts as one
  thread (how the committed full ledger's shards ran).

The wall times being fitted include whatever shared the machine while the ledger ran (two shards
at once on two cores), so the model predicts runs on such a loaded host, and the measured pace
(`pace`) corrects it further as runs finish. `binaries.reproduce --fit_cost_model --ledger=L`
refits it from L's records and writes MODEL_PATH; without that file the plan falls back to its
hand-set constants (`Run.estimate_seconds`).
"""
import dataclasses
import functools
import itertools
import os
import time

import numpy as np

from tfdis import files
from tfdis.data import datasets
from tfdis.errors import UsageError
from tfdis.experiments import competition
from tfdis.model import networks
from tfdis.reproduce import ledger

MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cost_model.json")
FEATURES = ("train_dense", "train_routed", "train_run", "regression_dense", "regression_routed",
            "competition_dense", "competition_routed", "competition_run")
KINDS = ("train", "regression", "competition")
THREAD_EXPONENT = 0.25  # 2 threads ~ 1.2x one (docs/reproduce-the-paper.md, "Shards")
# Pseudo-records per *_run feature of a run that does no work and takes no time (see `fit`).
PRIOR_RUNS = 9
NUM_LABELS = 10


def _kind_features(kind):
  return [f for f in FEATURES if f.startswith(kind + "_")]


def _train_feature(feature):
  """The train feature a regression or competition feature falls back to (train_dense ...)."""
  return "train_" + feature.split("_", 1)[1]


def _layer_macs(config, network, encoder_uses_label=True):
  """[(multiply-adds per example, index counted from z)] of one network's weight layers."""
  height, width, channels = datasets.info(config.dataset).image_shape
  pixels, h, d = height * width * channels, config.hidden_units, config.latent_dim
  label = NUM_LABELS if encoder_uses_label else 0
  if config.architecture == "mlp":
    n = config.num_hidden_layers
    if network == "encoder":  # input -> h x n -> 2d; index 0 is the head
      sizes = [pixels + label] + [h] * n + [2 * d]
      return [(a * b, n - i) for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]
    sizes = [d + NUM_LABELS] + [h] * n + [pixels]
    return [(a * b, i) for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]
  quarter = (height // 4) * (width // 4)
  if network == "encoder":  # conv 4x4 s2 (32), conv (64), dense h, head 2d
    macs = [4 * quarter * 16 * (channels + label) * 32, quarter * 16 * 32 * 64,
            quarter * 64 * h, h * 2 * d]
    return [(m, 3 - i) for i, m in enumerate(macs)]
  macs = [(d + NUM_LABELS) * h, h * quarter * 64, 4 * quarter * 16 * 64 * 32,
          16 * quarter * 16 * 32 * channels]
  return list(zip(macs, range(4)))


def network_macs(config, encoder_split, decoder_split, encoder_uses_label=True):
  """(shared, routed) multiply-adds per example of the encoder and decoder together."""
  shared = routed = 0
  for network, spec in (("encoder", encoder_split), ("decoder", decoder_split)):
    layers = _layer_macs(config, network, encoder_uses_label)
    split = networks.parse_split(spec, len(layers), network)
    shared += sum(m for m, index in layers if index not in split)
    routed += sum(m for m, index in layers if index in split)
  return shared, routed


def features(run):
  """{feature: value} of a plan's run (its kind's features; the others are 0)."""
  c, giga = run.config, 1e-9
  x = dict.fromkeys(FEATURES, 0.0)
  if run.kind == "train":
    shared, routed = network_macs(c, c.encoder_split, c.decoder_split, c.encoder_uses_label)
    examples = c.num_steps * c.batch_size * giga
    x.update(train_dense=examples * shared, train_routed=examples * routed, train_run=1.0)
  elif run.kind == "regression":
    shared, routed = network_macs(c, c.encoder_split, c.decoder_split, c.encoder_uses_label)
    examples = c.num_seeds * 2 * (c.num_steps * c.batch_size +
                                  len(c.eval_steps()) * c.eval_examples * 2 / 3) * giga
    x.update(regression_dense=examples * shared, regression_routed=examples * routed)
  else:
    for variant in c.variants():
      overrides = competition.ALL_VARIANTS[variant]
      shared, routed = network_macs(
          c, overrides.get("encoder_split", c.encoder_split),
          overrides.get("decoder_split", c.decoder_split),
          overrides.get("encoder_uses_label", c.encoder_uses_label))
      examples = c.seeds * c.num_steps * c.batch_size * giga
      x["competition_dense"] += examples * shared
      x["competition_routed"] += examples * routed
      x["competition_run"] += 1.0
  return x


def thread_count(threads):
  """The TF threads a record's (or this process's) `ledger.threads()` dict ran with, >= 1.

  Not recorded: 1. An unset TF_NUM_INTRAOP_THREADS is TF's default, every CPU.
  """
  if not threads:
    return 1
  intra, cpus = threads.get("intra_op"), threads.get("cpus") or 1
  return max(1, min(int(intra), cpus) if intra not in (None, "", "0") else cpus)


def thread_speedup(threads, exponent=THREAD_EXPONENT):
  return thread_count(threads) ** exponent


@functools.lru_cache(maxsize=None)
def host_rate():
  """This host's single-core float32 matmul rate in GFLOP/s, once per process (about 10 ms).

  32 products of 64 x 64 matrices at once (below OpenBLAS's threading threshold: one core), after
  a warm-up; the median over 5 pairs of arrays of the best of 9 timings each (the first timings
  of a process run slow, and the rate varies a little with where the arrays land).
  """
  rng = np.random.default_rng(0)
  rates = []
  for k in range(6):
    a, b = (rng.standard_normal((32, 64, 64), dtype=np.float32) for _ in range(2))
    best = float("inf")
    for _ in range(30 if k == 0 else 9):
      began = time.perf_counter()
      np.matmul(a, b)
      best = min(best, time.perf_counter() - began)
    rates.append(2 * 32 * 64 ** 3 / max(best, 1e-9) / 1e9)
  return float(np.median(rates[1:]))  # the first pair is the warm-up


def nonnegative_least_squares(X, y):
  """argmin_{c >= 0} |X c - y|^2, exactly, by trying every set of free coefficients.

  The solution of a non-negative least squares problem is the unconstrained least squares fit on
  some subset of the columns (its support) with every coefficient >= 0 there; with a handful of
  columns (here at most 8, 256 subsets) trying them all is simple and exact. Of equal fits the one
  with fewer columns wins, so collinear columns (runs of one design) do not share a cost
  arbitrarily.

  Args:
    X: [N, F] features; y: [N] targets.

  Returns:
    [F] coefficients.
  """
  X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
  scale = np.maximum(np.abs(X).max(axis=0), 1e-300)  # columns of 10^3 GMAC and of 1 run alike
  best, best_residual = np.zeros(X.shape[1]), float(np.sum(y ** 2))
  tolerance = 1e-9 * best_residual
  columns = [j for j in range(X.shape[1]) if np.any(X[:, j])]
  for size in range(1, len(columns) + 1):
    for support in itertools.combinations(columns, size):
      support = list(support)
      c, *_ = np.linalg.lstsq(X[:, support] / scale[support], y, rcond=None)
      if np.any(c < 0):
        continue
      residual = float(np.sum((X[:, support] @ (c / scale[support]) - y) ** 2))
      if residual < best_residual - tolerance:
        best, best_residual = np.zeros(X.shape[1]), residual
        best[support] = c / scale[support]
  return best


@dataclasses.dataclass
class CostModel:
  """Fitted seconds per unit of each feature on the reference host, one thread (see above)."""
  coefficients: dict
  reference_rate_gflops: float
  thread_exponent: float = THREAD_EXPONENT
  records: int = 0           # how many records it was fitted to
  ledger: str = ""           # which ledger's

  def unit_seconds(self, run):
    """The run's seconds on the reference host with one thread."""
    return sum(self.coefficients.get(f, 0.0) * v for f, v in features(run).items())

  def seconds(self, run, rate=None, threads=None):
    """Predicted wall seconds of `run` on a host of matmul rate `rate` (GFLOP/s; default this
    host's, `host_rate`) with `threads` (a `ledger.threads()` dict; default this process's)."""
    rate = host_rate() if rate is None else rate
    threads = ledger.threads() if threads is None else threads
    return (self.unit_seconds(run) * self.reference_rate_gflops / rate /
            thread_speedup(threads, self.thread_exponent))

  def seconds_factor(self, rate):
    """How much longer than on the reference host a run takes on a host of `rate` GFLOP/s with
    this process's threads, against one thread there."""
    return self.reference_rate_gflops / rate / thread_speedup(ledger.threads(), self.thread_exponent)

  def record_seconds(self, run, record):
    """Predicted wall seconds of `run` as its ledger `record` ran it (its host rate, threads)."""
    return self.seconds(run, record.get("host_rate_gflops") or self.reference_rate_gflops,
                        record.get("threads") or {})

  def to_json(self):
    return dataclasses.asdict(self)


def fit(runs, records, reference_rate, thread_exponent=THREAD_EXPONENT, ledger_name="",
        prior_runs=PRIOR_RUNS):
  """The CostModel fitted to `records` ({run name: record}) of the plan's `runs`.

  One non-negative least squares problem over every record with a wall time; a kind without
  records takes the train coefficients of its features. `prior_runs` pseudo-records per *_run
  feature, each a run with no work that takes no time, settle the split between a run's fixed
  cost and its per-step cost where the records leave it open: runs whose step counts are all
  alike (the full ledger's 20 000-30 000) fit a large fixed cost and a tiny per-step one about as
  well as the reverse, and the pseudo-records pull the fixed cost down where the records do not
  hold it up. With prior_runs=0, plain non-negative least squares.
  """
  by_name = {r.name: r for r in runs}
  used = [(by_name[n], rec) for n, rec in sorted(records.items()) if rec.get("wall_seconds")]
  if not used:
    raise UsageError("The ledger holds no record with a wall time to fit the cost model to; "
                     "record a finished run first.")
  X = np.array([[features(run)[f] for f in FEATURES] for run, _ in used])
  y = np.array([rec["wall_seconds"] * thread_speedup(rec.get("threads"), thread_exponent) *
                (rec.get("host_rate_gflops") or reference_rate) / reference_rate
                for _, rec in used])
  prior = np.sqrt(prior_runs) * np.eye(len(FEATURES))[[f.endswith("_run") for f in FEATURES]]
  solution = nonnegative_least_squares(np.vstack([X, prior]),
                                       np.concatenate([y, np.zeros(len(prior))]))
  c = {f: float(v) for f, v in zip(FEATURES, solution)}
  fitted_kinds = {run.kind for run, _ in used}
  for kind in KINDS:
    if kind != "train" and kind not in fitted_kinds:
      c.update({f: c.get(_train_feature(f), 0.0) for f in _kind_features(kind)})
  if "train" not in fitted_kinds:
    raise UsageError("The cost model needs records of trained models (stages shared, split, "
                     "appendix_a) to fit; record one first.")
  return CostModel(c, round(float(reference_rate), 1), thread_exponent, len(used), ledger_name)


def load(path=MODEL_PATH):
  """The CostModel saved at `path`, or None when there is none."""
  saved = files.read_json(path)
  if not saved:
    return None
  return CostModel(**{k: saved[k] for k in ("coefficients", "reference_rate_gflops",
                                            "thread_exponent", "records", "ledger")})


@functools.lru_cache(maxsize=None)
def active():
  """The committed cost model (MODEL_PATH), read once per process; None without the file."""
  return load()


def save(model, path=MODEL_PATH):
  files.write_json(path, dict(model.to_json(), features=(
      "seconds per 10^9 multiply-adds (*_dense, *_routed) or per run (*_run), on the reference "
      "host with one thread; see tfdis.reproduce.cost")))
  active.cache_clear()
  return path


def pace(runs, records, default=1.0):
  """`ledger.pace` of the records against the cost model's prediction for each as it ran
  (`predicted_seconds`) *now*, not the estimate each was written with (an older model's)."""
  by_name = {r.name: r for r in runs}
  return ledger.pace([dict(rec, estimated_seconds=predicted_seconds(by_name[name], rec))
                      for name, rec in records.items() if name in by_name], default)


def model_line(model=None):
  """The listing's first line: which cost model estimates the runs."""
  model = active() if model is None else model
  if not model:
    return (f"Cost model: the plan's hand-set constants (no {os.path.relpath(MODEL_PATH)}; "
            "binaries.reproduce --fit_cost_model --ledger=<folder> fits one).")
  rate = host_rate()
  return (f"Cost model: calibrated on {model.records} records of {model.ledger or 'a ledger'} "
          f"({os.path.relpath(MODEL_PATH)}); this host's matmul rate {rate:.0f} GFLOP/s against "
          f"{model.reference_rate_gflops:.0f} when fitted, threads {thread_count(ledger.threads())}"
          f": predictions here are x{model.seconds_factor(rate):.2f} those for the fitting host "
          "with one thread.")


def predicted_seconds(run, record=None):
  """The cost model's seconds for `run`: as its ledger `record` ran it (host rate, threads) when
  there is one and the calibrated model is used, else here (`Run.estimate_seconds`)."""
  model = active()
  if model and record:
    return model.record_seconds(run, record)
  return run.estimate_seconds()


def comparison_lines(runs, records):
  """Markdown lines: per stage, the predicted and measured wall time of the recorded runs (with a
  wall time) and predicted / measured, then the total."""
  stages = {}
  for run in runs:
    record = records.get(run.name)
    if record and record.get("wall_seconds"):
      row = stages.setdefault(run.stage, [0, 0.0, 0.0])
      row[0] += 1
      row[1] += predicted_seconds(run, record)
      row[2] += record["wall_seconds"]
  if not stages:
    return []
  total = [sum(row[k] for row in stages.values()) for k in range(3)]
  lines = ["", "| stage | recorded runs | predicted | measured | predicted / measured |",
           "| --- | --- | --- | --- | --- |"]
  for stage, (n, predicted, measured) in list(stages.items()) + [("total", total)]:
    lines.append(f"| {stage} | {n} | {files.format_seconds(predicted)} | "
                 f"{files.format_seconds(measured)} | {predicted / measured:.2f} |")
  return lines
