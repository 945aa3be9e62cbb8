"""Encoder versus decoder: the competition of App. B (Figs. 5, 6) and its win rate.

The model is the conditional VAE of Sec. 1 with a label-dependent orthogonal T_y between encoder
and decoder (`ConditionalVAE(latent_transform=...)`):

```none
z ~ q(z | x, y) = N(μ_q(x, y), diag σ_q²)          encoder ω_q
x ~ p(x | y, T_y z),   p(x | y, w) = Bernoulli(ω_p(y, w))     decoder ω_p
ELBO(x, y) = E_q[ln p(x | y, T_y z)] - KL(q || N(0, I)) + ln p(y)       (Eq. 1, trained with Adam)
μ_p(y, z)  = the raw decoder's mean;   μ'_p(y, z) = μ_p(y, T_y z)  (the trained generator)
```

At most one of μ_p and μ'_p can preserve style (T_y is label-dependent). If μ'_p does, the code
z the encoder produces is shared across labels: the encoder's bias won. If μ_p does, the decoder
kept its own style-preserving representation and the encoder had to learn T_y^{-1}: the decoder
won. The paper shows one run per condition and ends "the exact win rate remains to be
determined"; this module measures it over many seeds (trained together, `tfdis.seed_batched`).

Conditions: transform {rotation (Haar, one draw per seed: transform_seed = seed), reflection
T_i = (-1)^{1[i < 5]} I} x variant {standard; y masked from the encoder; encoder layer l-3 split;
decoder layer l+3 split}. Layers are counted from z, so "l-3" / "l+3" is split index 3 of an MLP
with 3 hidden layers (4 weight layers per network).

The judging rule (`verdict`), on SP (`tfdis.style_preservation`, Morpho-MNIST rank correlation
across labels, 95% bootstrap interval [lo, hi] over z):

```none
preserving(SP)      = lo > TAU_HI          not_preserving(SP) = hi < TAU_LO
encoder wins        = preserving(SP(μ'_p)) and not_preserving(SP(μ_p))
decoder wins        = preserving(SP(μ_p))  and not_preserving(SP(μ'_p))
inconclusive        = otherwise (also: SP undefined, or LP(μ_p) < min_label_preservation)
win rate            = encoder wins / (encoder wins + decoder wins), Wilson 95% interval
```

The LP gate matters: an untrained decoder is smooth in z and scores SP(μ_p) about 0.85, and a
decoder that ignores y preserves "style" trivially; neither shows a bias won, and both fail LP
(`tfdis.label_preservation`, the cached digit classifier; --min_label_preservation=0 skips it).

TAU_LO and TAU_HI come from null distributions measured on this machine (`null_records`; MNIST,
num_z = 200, 1000 bootstrap resamples; 95% intervals):

  good decoders, SP of μ_p of shared VAEs (no transform): [0.782, 0.823] and [0.771, 0.807]
    (MLP 512 x 3, D = 16, 5k steps, seeds 0, 1), [0.795, 0.829] (runs/shared: 512 x 2, 30k steps).
  entangled good decoders, SP of μ_p(y, T_y z) of those three, 3 random rotations + the
    reflection each (12 intervals): upper bounds <= 0.031, lower bounds >= -0.074.
  split-both VAE (every layer of both networks label-routed; runs/split: 512 x 2, D = 16, 20k
    steps): μ_p [0.010, 0.032]; its 3 rotations + reflection: upper bounds <= 0.026.

So every null interval ends below 0.032 and every good one starts above 0.77. TAU_LO = 0.2 and
TAU_HI = 0.5 keep a wide margin from both (a run whose interval lies in between, e.g. the partial
style preservation of Fig. 4, is inconclusive rather than forced to a side).

Run time and first result (2-core CPU shared with other jobs, MLP 512 x 3, D = 16, 5k steps):
a standard or y-masked run trains at ~35-45 model-steps/s and takes ~160 s with its judging; a
split-layer run (one routed 512-wide layer) ~20-27 model-steps/s, ~230 s. 20 seeds of the four
variants of one transform: ~4.3 h; both transforms: ~8.5 h (or / K with --num_shards=K machines).
First results (rule as above): reflection standard, decoder wins 2/2 (SP μ_p [0.68, 0.72],
[0.73, 0.77]; μ'_p [-0.05, -0.03], [-0.03, -0.01]), as Fig. 6; reflection y masked, inconclusive
2/2 but encoder-leaning (μ_p [0.26, 0.31], [0.14, 0.18]; μ'_p [0.31, 0.35], [0.45, 0.50]);
rotation standard, inconclusive 4/4 (μ_p 0.30-0.49, μ'_p 0.12-0.31: both partly style-preserving,
not the clean encoder win of Fig. 5 at 5k steps; a rotation keeps |z|, so style carried by |z|
survives in both).
"""
import collections
import dataclasses
import json
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

from tfdis import workdir as files
from tfdis.data import datasets as data
from tfdis import grids
from tfdis.metrics import label_preservation
from tfdis.training import seed_batched
from tfdis.metrics import style_preservation
from tfdis.training import config as config_lib
from tfdis.errors import UsageError

TRANSFORMS = ("rotation", "reflection")
# The four columns of Figs. 5 and 6, as TrainConfig overrides.
VARIANTS = collections.OrderedDict([
    ("standard", {}),
    ("y_masked", {"encoder_uses_label": False}),
    ("encoder_split", {"encoder_split": "3"}),   # the encoder's layer l-3
    ("decoder_split", {"decoder_split": "3"}),   # the decoder's layer l+3
])
VERDICTS = ("encoder", "decoder", "inconclusive")

# From the measured null distributions (numbers in the module docstring).
TAU_LO = 0.2   # > every null upper bound (<= 0.032) by a wide margin
TAU_HI = 0.5   # < every good lower bound (>= 0.77) by a wide margin


def verdict(sp_mu, sp_mu_prime, tau_lo=TAU_LO, tau_hi=TAU_HI, label_preserved=True):
  """Who won one run: 'encoder', 'decoder' or 'inconclusive' (the rule of the module docstring).

  Args:
    sp_mu, sp_mu_prime: (low, high) 95% SP intervals of μ_p and μ'_p; nan when undefined.
    tau_lo, tau_hi: an interval entirely below tau_lo is "not style-preserving", one entirely
      above tau_hi is "style-preserving".
    label_preserved: False makes the run inconclusive (a decoder that ignores y preserves style
      trivially).
  """
  if not tau_lo <= tau_hi:
    raise UsageError(f"--tau_lo={tau_lo} exceeds --tau_hi={tau_hi}; the 'not preserving' "
                     "threshold must not be above the 'preserving' one.")
  if not label_preserved:
    return "inconclusive"
  preserving = lambda iv: bool(np.isfinite(iv[0]) and iv[0] > tau_hi)
  not_preserving = lambda iv: bool(np.isfinite(iv[1]) and iv[1] < tau_lo)
  if preserving(sp_mu_prime) and not_preserving(sp_mu):
    return "encoder"
  if preserving(sp_mu) and not_preserving(sp_mu_prime):
    return "decoder"
  return "inconclusive"


@dataclasses.dataclass
class CompetitionConfig:
  """A win-rate sweep: which runs, how they train, and how they are judged (binaries.compete)."""
  transform: str = "rotation"
  conditions: str = "all"
  seeds: int = 20
  first_seed: int = 0
  seeds_per_batch: int = 8
  dataset: str = "mnist"
  tfds_dir: str = ""
  train_examples: int = 0
  hidden_units: int = 512
  num_hidden_layers: int = 3
  latent_dim: int = 16
  batch_size: int = 128
  num_steps: int = 5000
  learning_rate: float = 1e-3
  log_every: int = 1000
  checkpoint_every: int = 2000
  jit_compile: bool = True
  num_z: int = 200
  num_bootstrap: int = 1000
  judge_seed: int = 0
  tau_lo: float = TAU_LO
  tau_hi: float = TAU_HI
  min_label_preservation: float = 0.5
  lp_samples_per_class: int = 100
  classifier_dir: str = ""
  grid_columns: int = 10
  num_shards: int = 1
  shard_index: int = 0
  aggregate: bool = False

  def validate(self):
    if self.transform not in TRANSFORMS:
      raise UsageError(f"--transform={self.transform!r} is not one of {TRANSFORMS}.")
    self.variants()
    for name in ("seeds", "seeds_per_batch", "num_z", "num_bootstrap", "grid_columns",
                 "num_shards", "lp_samples_per_class"):
      if getattr(self, name) < 1:
        raise UsageError(f"--{name}={getattr(self, name)} must be a positive integer.")
    if self.num_z < 3:
      raise UsageError(f"--num_z={self.num_z} is too few for a rank correlation; use at least 3.")
    if not 0 <= self.shard_index < self.num_shards:
      raise UsageError(f"--shard_index={self.shard_index} must be in [0, --num_shards="
                       f"{self.num_shards}); number the shards 0 .. num_shards - 1.")
    verdict((0, 0), (0, 0), self.tau_lo, self.tau_hi)
    for config in self.train_configs(self.variants()[0], [self.first_seed]):
      config.validate()
    return self

  def variants(self):
    """The selected variant names, in the paper's order."""
    if self.conditions.strip() == "all":
      return list(VARIANTS)
    chosen = [c.strip() for c in self.conditions.split(",") if c.strip()]
    bad = [c for c in chosen if c not in VARIANTS]
    if bad or not chosen:
      raise UsageError(f"--conditions={self.conditions!r} names unknown variants {bad}; use all "
                       f"or a comma-separated list of {', '.join(VARIANTS)}.")
    return [c for c in VARIANTS if c in chosen]

  def seed_list(self):
    return list(range(self.first_seed, self.first_seed + self.seeds))

  def train_configs(self, variant, seeds):
    """The TrainConfig of each seed of `variant` (transform_seed = seed: one T_y draw per run)."""
    return [config_lib.TrainConfig(
        dataset=self.dataset, tfds_dir=self.tfds_dir, architecture="mlp",
        hidden_units=self.hidden_units, num_hidden_layers=self.num_hidden_layers,
        latent_dim=self.latent_dim, latent_transform=self.transform, transform_seed=seed,
        batch_size=self.batch_size, num_steps=self.num_steps, learning_rate=self.learning_rate,
        seed=seed, jit_compile=self.jit_compile, log_every=self.log_every,
        checkpoint_every=self.checkpoint_every, **VARIANTS[variant]) for seed in seeds]

  def batches(self):
    """Every (variant, seeds) training batch of the sweep: the unit a shard takes."""
    seeds = self.seed_list()
    return [(variant, seeds[i:i + self.seeds_per_batch]) for variant in self.variants()
            for i in range(0, len(seeds), self.seeds_per_batch)]

  def defining(self):
    """Fields that define a run's stored result (SP, LP); a results folder must keep them.

    The thresholds are not among them: the table re-judges the stored intervals with the
    thresholds of each call, so changing --tau_lo / --tau_hi needs no retraining.
    """
    skip = ("conditions", "seeds", "first_seed", "seeds_per_batch", "log_every",
            "checkpoint_every", "classifier_dir", "num_shards", "shard_index", "aggregate",
            "tau_lo", "tau_hi")
    return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


def condition_name(transform, variant):
  return f"{transform}_{variant}"


def grid_codes(config, latent_dim):
  """The shared z [grid_columns, D] of every run's grids."""
  return np.random.default_rng([config.judge_seed, 7]).standard_normal(
      (config.grid_columns, latent_dim)).astype(np.float32)


def judge(model, config, classify=None):
  """SP of μ_p and μ'_p (and LP of μ_p when `classify` is given), and the verdict, for one run.

  Args:
    model: anything with decode_mean(y, z), generator_mean(y, z) (μ_p and μ'_p; labels int32 [B],
      z float32 [B, D] -> images [B, H, W, C]), num_classes and latent_dim.
    config: CompetitionConfig (num_z, num_bootstrap, judge_seed, thresholds, LP settings).
    classify: images [N, H, W, C] -> labels [N], or None to skip the LP gate.

  Returns:
    dict: sp_mu, sp_mu_prime ({value, interval, degenerate}), lp (or None), verdict.
  """
  result = {}
  for key, fn in (("sp_mu", model.decode_mean), ("sp_mu_prime", model.generator_mean)):
    sp = style_preservation.compute_style_preservation(
        fn, model.num_classes, config.num_z, model.latent_dim, seed=config.judge_seed,
        num_bootstrap=config.num_bootstrap)
    result[key] = {"value": _finite(sp.value), "interval": [_finite(v) for v in sp.interval],
                   "degenerate": sp.degenerate}
  result["lp"] = None
  if classify is not None and config.min_label_preservation > 0:
    lp = label_preservation.compute_label_preservation(
        model.decode_mean, classify, model.num_classes, config.lp_samples_per_class,
        model.latent_dim, seed=config.judge_seed + 1)
    result["lp"] = {"value": float(lp.value), "interval": [float(v) for v in lp.interval]}
  result["verdict"] = run_verdict(result, config)
  return result


def run_verdict(result, config):
  """`verdict` of a stored run result under config's thresholds (re-judging needs no training)."""
  nan_if_none = lambda iv: tuple(float("nan") if v is None else v for v in iv)
  lp = result.get("lp")
  preserved = lp is None or lp["value"] >= config.min_label_preservation
  return verdict(nan_if_none(result["sp_mu"]["interval"]),
                 nan_if_none(result["sp_mu_prime"]["interval"]),
                 config.tau_lo, config.tau_hi, preserved)


def _finite(x):
  x = float(x)
  return x if np.isfinite(x) else None


def _result_path(workdir, condition, seed):
  return os.path.join(workdir, "results", condition, f"seed_{seed}.json")


def _grids_path(workdir, condition, seed):
  """uint8 grids [K, M, H, W, C] of μ_p ('mu') and μ'_p ('mu_prime') of one run."""
  return os.path.join(workdir, "results", condition, f"seed_{seed}_grids.npz")


def _check_sweep(config, workdir):
  """Refuses a results folder written with other model, training or judging settings."""
  path = os.path.join(workdir, "sweep.json")
  mine = config.defining()
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    differ = sorted(k for k in mine if saved.get(k) != mine[k])
    if differ:
      raise UsageError(f"--workdir={workdir} holds competition results with different "
                       f"{', '.join(differ)}; use a new --workdir or the same flags.")
  else:
    files.write_json(path, mine)


def _load_classifier(config):
  if config.min_label_preservation <= 0:
    return None
  from tfdis.metrics import classifier  # pylint: disable=g-import-not-at-top
  model, _ = classifier.load_or_train(config.dataset, cache_dir=config.classifier_dir or None)
  return lambda images: classifier.predict_labels(model, images)


def _datasets(config, datasets_override):
  if datasets_override is not None:
    return datasets_override
  images, labels = data.load_arrays(config.dataset, "train", config.tfds_dir or None)
  if config.train_examples:
    images, labels = images[:config.train_examples], labels[:config.train_examples]
  return {"train": (images, labels)}


def run_batch(config, workdir, variant, seeds, datasets, classify):
  """Trains the seeds of one (variant, seeds) batch together and writes each seed's result."""
  condition = condition_name(config.transform, variant)
  run_dir = os.path.join(workdir, "runs", condition, "seeds_" + "-".join(map(str, seeds)))
  trainer, seconds = seed_batched.train_seeds(config.train_configs(variant, seeds), run_dir,
                                              datasets)
  z = grid_codes(config, trainer.vae.latent_dim)
  for i, seed in enumerate(seeds):
    model = trainer.vae.model_for_seed(i)
    result = judge(model, config, classify)
    result.update(condition=condition, seed=seed, steps=trainer.completed_steps)
    pictures = {}
    for key, fn in (("mu", model.decode_mean), ("mu_prime", model.generator_mean)):
      decode = lambda y, codes, fn=fn: fn(tf.constant(y), tf.constant(codes)).numpy()
      grid = grids.label_z_grid(decode, model.num_classes, z)  # [K, M, H, W, C]
      pictures[key] = np.round(grid * 255).astype(np.uint8)
    path = _result_path(workdir, condition, seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez_compressed(_grids_path(workdir, condition, seed), **pictures)
    files.write_json(path, result)  # last: its presence marks the seed finished
    logging.info("%s seed %d: SP(μ_p) %s  SP(μ'_p) %s  -> %s", condition, seed,
                 result["sp_mu"]["interval"], result["sp_mu_prime"]["interval"],
                 result["verdict"])
  return seconds


def run_competition(config, workdir, datasets_override=None):
  """Runs (or continues) this shard's part of the sweep; a one-shard run also writes the table.

  Args:
    config: CompetitionConfig.
    workdir: results folder shared by every shard of the sweep.
    datasets_override: optional {'train': (images [N, H, W, C], labels [N])}, the test seam.

  Returns:
    The winrate.json dict (one shard, or --aggregate), else {'shard': i, 'trained_batches': n}.
  """
  config.validate()
  files.prepare(workdir)
  _check_sweep(config, workdir)
  if config.aggregate:
    return aggregate(config, workdir)
  mine = config.batches()[config.shard_index::config.num_shards]
  todo = [(v, seeds) for v, seeds in mine if not all(
      os.path.exists(_result_path(workdir, condition_name(config.transform, v), s))
      for s in seeds)]
  logging.info("Shard %d/%d: %d of its %d seed batches to run.", config.shard_index,
               config.num_shards, len(todo), len(mine))
  began = time.time()
  if todo:
    datasets, classify = _datasets(config, datasets_override), _load_classifier(config)
    for variant, seeds in todo:
      run_batch(config, workdir, variant, seeds, datasets, classify)
  logging.info("Shard %d: %d batches in %.0f s.", config.shard_index, len(todo),
               time.time() - began)
  if config.num_shards == 1:
    table = aggregate(config, workdir)
    table["trained_batches"] = len(todo)
    return table
  return {"shard": config.shard_index, "trained_batches": len(todo)}


def _sp_value(run, key):
  value = run[key]["value"]
  return float("nan") if value is None else value


def _typical(runs):
  """The run of the most common verdict nearest that verdict's median SPs (lowest seed on ties)."""
  counts = collections.Counter(r["verdict"] for r in runs)
  top = max(VERDICTS, key=lambda v: (counts[v], -VERDICTS.index(v)))
  chosen = [r for r in runs if r["verdict"] == top]
  point = lambda r: np.nan_to_num([_sp_value(r, "sp_mu"), _sp_value(r, "sp_mu_prime")])
  centre = np.median([point(r) for r in chosen], axis=0)
  return min(chosen, key=lambda r: (float(np.abs(point(r) - centre).sum()), r["seed"]))


def aggregate(config, workdir):
  """Reads every result of the sweep and writes winrate.json, winrate.md and winrate.png."""
  table = {"transform": config.transform, "rule": {"tau_lo": config.tau_lo,
                                                   "tau_hi": config.tau_hi,
                                                   "min_label_preservation":
                                                       config.min_label_preservation},
           "seeds": config.seed_list(), "sweep": config.defining(), "conditions": {}}
  missing, columns = [], []
  for variant in config.variants():
    condition = condition_name(config.transform, variant)
    runs = []
    for seed in config.seed_list():
      path = _result_path(workdir, condition, seed)
      if not os.path.exists(path):
        missing.append((condition, seed))
        continue
      with open(path) as f:
        run = json.load(f)
      run["verdict"] = run_verdict(run, config)  # the thresholds of this call
      runs.append(run)
    if not runs:
      continue
    counts = collections.Counter(r["verdict"] for r in runs)
    decisive = counts["encoder"] + counts["decoder"]
    interval = label_preservation.wilson_interval(counts["encoder"], decisive)
    typical = _typical(runs)
    median = lambda key: _finite(np.nanmedian([_sp_value(r, key) for r in runs]))
    table["conditions"][condition] = {
        "runs": len(runs), "encoder_wins": counts["encoder"], "decoder_wins": counts["decoder"],
        "inconclusive": counts["inconclusive"],
        "encoder_win_rate": _finite(counts["encoder"] / decisive) if decisive else None,
        "encoder_win_rate_interval": [_finite(v) for v in interval],
        "median_sp_mu": median("sp_mu"), "median_sp_mu_prime": median("sp_mu_prime"),
        "typical_seed": typical["seed"],
        "per_seed": {str(r["seed"]): {"verdict": r["verdict"],
                                      "sp_mu": r["sp_mu"]["interval"],
                                      "sp_mu_prime": r["sp_mu_prime"]["interval"]}
                     for r in runs}}
    with np.load(_grids_path(workdir, condition, typical["seed"])) as g:
      top, bottom = grids.tile(g["mu"] / 255.0), grids.tile(g["mu_prime"] / 255.0)
    columns.append(np.concatenate([top, np.ones((6,) + top.shape[1:], np.float32), bottom]))
  if missing:
    raise UsageError(f"{len(missing)} (condition, seed) results are missing from {workdir}, "
                     f"e.g. {missing[0]}; run the remaining shards (or drop --aggregate) first.")
  files.write_json(os.path.join(workdir, "winrate.json"), table)
  with open(os.path.join(workdir, "winrate.md"), "w") as f:
    f.write(markdown_table(table))
  figure = columns[0]
  for column in columns[1:]:
    figure = grids.side_by_side(figure, column, gap=8)
  grids.save_png(figure, os.path.join(workdir, "winrate.png"))
  return table


def win_rate_text(condition, none="n/a"):
  """'0.25 [0.05, 0.70]': a condition's encoder win rate and Wilson interval (`none` if undecided)."""
  if condition["encoder_win_rate"] is None:
    return none
  fmt = lambda x: "n/a" if x is None else f"{x:.2f}"
  low, high = condition["encoder_win_rate_interval"]
  return f"{condition['encoder_win_rate']:.2f} [{fmt(low)}, {fmt(high)}]"


def markdown_table(table):
  """winrate.md: one row per condition."""
  seeds = table["seeds"]
  lines = [f"Encoder vs decoder, {table['transform']} (App. B); seeds {seeds[0]}-{seeds[-1]}; "
           f"rule: preserving = SP interval above {table['rule']['tau_hi']}, not = below "
           f"{table['rule']['tau_lo']}; LP >= {table['rule']['min_label_preservation']}.",
           "",
           "| condition | runs | encoder wins | decoder wins | inconclusive | encoder win rate "
           "[95% Wilson] | median SP μ_p | median SP μ'_p | typical seed |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  fmt = lambda x: "n/a" if x is None else f"{x:.2f}"
  for name, c in table["conditions"].items():
    rate = win_rate_text(c)
    lines.append(f"| {name} | {c['runs']} | {c['encoder_wins']} | {c['decoder_wins']} | "
                 f"{c['inconclusive']} | {rate} | {fmt(c['median_sp_mu'])} | "
                 f"{fmt(c['median_sp_mu_prime'])} | {c['typical_seed']} |")
  lines += ["", "winrate.png: per condition (left to right as above), the typical run's label x z "
            "grid of μ_p (top) and μ'_p (bottom), as in Figs. 5, 6.", ""]
  return "\n".join(lines)


def null_records(model, config, kind, transform_seeds=(101, 102, 103)):
  """SP intervals of a model without a competition transform: μ_p itself and μ_p(y, T_y z).

  Returns:
    list of dicts {kind, generator ('mu_p' | 'rotation:<seed>' | 'reflection'), value, interval}.
  """
  from tfdis.model import transforms as transforms_lib  # pylint: disable=g-import-not-at-top
  generators = [("mu_p", model.decode_mean)]
  families = [(f"rotation:{s}", transforms_lib.random_rotations(model.num_classes,
                                                                model.latent_dim, s))
              for s in transform_seeds]
  families.append(("reflection", transforms_lib.reflections(model.num_classes, model.latent_dim)))
  for name, t in families:
    generators.append((name, lambda y, z, t=t: model.decode_mean(
        y, transforms_lib.apply(t, y, z))))
  records = []
  for name, fn in generators:
    sp = style_preservation.compute_style_preservation(
        fn, model.num_classes, config.num_z, model.latent_dim, seed=config.judge_seed,
        num_bootstrap=config.num_bootstrap)
    records.append({"kind": kind, "generator": name, "value": _finite(sp.value),
                    "interval": [_finite(v) for v in sp.interval]})
  return records


def measure_null_distributions(config, workdir, num_seeds=2, datasets_override=None):
  """Trains shared and split-both VAEs of the competition's size and measures the SP nulls.

  For `num_seeds` seeds each of a shared VAE (no transform) and a split-both VAE (every layer of
  both networks label-routed), records SP of μ_p and of μ_p(y, T_y z) for three random rotations
  and the reflection (`null_records`). Writes <workdir>/nulls.json and returns the records:
  shared 'mu_p' is the good-decoder distribution, every other record a null. Split-both training
  is slow on CPU (8 routed layers: 1.8 steps/s for 2 seeds, 512 units), so the docstring's
  split-both numbers come from `null_records` on the trained runs/split instead.

    python -c "from tfdis import competition as c; c.measure_null_distributions(
        c.CompetitionConfig(), 'runs/compete_nulls')"
  """
  config.validate()
  datasets = _datasets(config, datasets_override)
  seeds = list(range(config.first_seed, config.first_seed + num_seeds))
  records = []
  for kind, overrides in (("shared", {}), ("split_both", {"encoder_split": "all",
                                                           "decoder_split": "all"})):
    configs = [dataclasses.replace(c, latent_transform="none", **overrides)
               for c in config.train_configs("standard", seeds)]
    trainer, _ = seed_batched.train_seeds(configs, os.path.join(workdir, kind), datasets)
    for i, seed in enumerate(seeds):
      for record in null_records(trainer.vae.model_for_seed(i), config, kind):
        records.append(dict(record, seed=seed, steps=trainer.completed_steps))
        logging.info("null %s seed %d %s: %s", kind, seed, record["generator"],
                     record["interval"])
  files.write_json(os.path.join(workdir, "nulls.json"), records)
  return records
