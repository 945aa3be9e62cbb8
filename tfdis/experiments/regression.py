"""The regression experiment of paper Sec. 3 (Fig. 3): does SGD fit the disentangled map faster?

A trained conditional VAE (the *teacher*) gives a disentangled inference model q*(z | x, y). We
sample one z per image from it (fixed seed) and, with label-dependent orthogonal transforms T_y
(`tfdis.model.transforms`), pose two regression problems for each network of the VAE, trained
from the same initialisation on the same batches:

```none
data          z_i ~ q*(z | x_i, y_i)                   one draw per image, fixed seed
encoder       (x, y) -> z        vs   (x, y) -> T_y z      loss  mean_d (μ_q(x, y)_d - target_d)²
decoder       (y, z) -> x        vs   (y, T_y z) -> x      loss  -ln p(x | y, code)  (nats / image)
networks      the teacher's encoder / decoder architecture, fresh weights (shared unless
              --encoder_split / --decoder_split route layers by label)
optimiser     Adam, same learning rate, steps, batch order and initial weights for both targets
```

Both targets are equally learnable in principle (T_y is invertible and known given y), so the paper
finds similar final losses, but faster convergence on the disentangled target z.

Per seed and curve (held-out loss L(s) at the evaluated steps: s = 0, e, 2e, ..., S and, to resolve
the fast start, --log_evals steps spaced evenly in log s) we measure

```none
final          L_final = mean of the last k evaluations (k = --final_window)
steps_to_90    min { s : L(s) <= L(0) - f (L(0) - L_final) },  f = --fraction (0.9)
auc            (1 / S) ∫_0^S L(s) ds / L(0)   (trapezoid; the mean loss as a fraction of L(0))
```

`steps_to_90` uses each curve's *own* L_final: it measures how fast a curve settles, separately
from where it settles (reported by `final` and the entangled / disentangled ratio). A threshold
shared by both curves would mix the two: it is never reached by a curve that settles slightly
higher. The step always exists (min of the last k ≤ their mean ≤ threshold). `auc` rewards both
speed and level. Over seeds, each quantity gets a mean with a 95% t interval over seeds, and the
per-seed paired difference (entangled - disentangled) gets a t interval and an exact one-sided
sign-flip permutation p-value for "disentangled converges faster" (difference > 0); final losses
get a two-sided p-value for "they differ". Every p-value comes with its floor, the smallest value
the test can give with n seeds (1 / 2^n one-sided); both tests are in `tfdis.metrics.stats`.

Outputs of `run_regression` in the workdir: regression.json (summary), curves.csv
(problem,target,seed,step,split,loss), regression.png (Fig. 3 layout), tensorboard/, timing.json,
and seed_curves/ (finished seeds, so a rerun of the same command resumes).

Expected (flags/regress.cfg, teacher runs/shared, 2-core CPU): see that flagfile's header.
"""
import dataclasses
import os
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tfdis.data import datasets as data
from tfdis import workdir as files
from tfdis.model import vae as model_lib
from tfdis.training import config as config_lib
from tfdis.training import loop
from tfdis.training import steps as training_steps
from tfdis.training import vae_training
from tfdis.model import transforms as transforms_lib
from tfdis.errors import UsageError
from tfdis.metrics import stats

PROBLEMS = ("encoder", "decoder")
TARGETS = ("disentangled", "entangled")
SPLITS = ("train", "heldout")
# Fields that may change between a run and its resumption without changing any curve.
_RESUMABLE_FIELDS = ("log_every", "fraction", "final_window")


# TrainConfig fields that describe the teacher's data and networks, which the regression trains.
TEACHER_FIELDS = ("dataset", "architecture", "hidden_units", "num_hidden_layers", "latent_dim",
                  "likelihood", "encoder_uses_label", "latent_transform")


@dataclasses.dataclass
class RegressionConfig(config_lib.TrainConfig):
  """Everything that defines a regression run (the flags of binaries.regress, one to one).

  The TrainConfig fields keep their meaning: the networks (TEACHER_FIELDS, which must equal the
  teacher's, see `check_teacher`; encoder_split and decoder_split are the regression's own) and
  their training (seed, num_steps, batch_size, learning_rate, jit_compile, log_every).
  `transform_seed` seeds the random rotations T_y of `transform`.
  """
  transform: str = "rotation"
  num_seeds: int = 3
  eval_every: int = 100
  log_evals: int = 0
  train_examples: int = 0
  eval_examples: int = 2000
  fraction: float = 0.9
  final_window: int = 3

  def validate(self):
    """Raises UsageError naming the first bad field and how to fix it."""
    super().validate()
    if self.transform not in transforms_lib.TRANSFORMS:
      raise UsageError(f"--transform={self.transform!r} is unknown; use one of "
                       f"{sorted(transforms_lib.TRANSFORMS)}.")
    for name in ("num_seeds", "eval_every", "eval_examples", "final_window"):
      if getattr(self, name) < 1:
        raise UsageError(f"--{name}={getattr(self, name)} must be a positive integer.")
    if self.log_evals < 0:
      raise UsageError(f"--log_evals={self.log_evals} must be >= 0 (0 = none).")
    if self.train_examples < 0:
      raise UsageError(f"--train_examples={self.train_examples} must be >= 0 (0 = all).")
    if not 0 < self.fraction < 1:
      raise UsageError(f"--fraction={self.fraction} must lie strictly between 0 and 1.")
    if self.final_window > len(self.eval_steps()) - 1:
      raise UsageError(f"--final_window={self.final_window} exceeds the "
                       f"{len(self.eval_steps()) - 1} evaluations after step 0; lower it or "
                       "lower --eval_every.")
    return self

  def check_teacher(self, teacher_config):
    """Raises UsageError if the data or network fields differ from the teacher's TrainConfig."""
    differ = [n for n in TEACHER_FIELDS if getattr(self, n) != getattr(teacher_config, n)]
    if differ:
      raise UsageError(
          f"--{differ[0]}={getattr(self, differ[0])} differs from the teacher's "
          f"{getattr(teacher_config, differ[0])}; the regression trains the teacher's networks, so "
          "start the flagfile from the teacher's settings (e.g. --flagfile=flags/base.cfg).")

  def eval_steps(self):
    """Evaluated steps [E]: 0, every eval_every, num_steps, and log_evals log-spaced in [1, S].

    The log-spaced ones resolve the fast start of the curves, where the convergence steps fall.
    """
    steps = set(range(0, self.num_steps, self.eval_every)) | {self.num_steps}
    if self.log_evals:
      steps |= set(np.round(np.geomspace(1, self.num_steps, self.log_evals)).astype(int).tolist())
    return np.asarray(sorted(steps), np.int64)

  def seeds(self):
    return [self.seed + k for k in range(self.num_seeds)]


@dataclasses.dataclass
class RegressionData:
  """One split of the regression dataset {x, y, z, T_y z}.

  images [N, H, W, C] float32, labels [N] int32, z [N, D] float32 (the disentangled target),
  tz [N, D] float32 (T_y z, the entangled target).
  """
  images: np.ndarray
  labels: np.ndarray
  z: np.ndarray
  tz: np.ndarray

  def __len__(self):
    return len(self.labels)

  def slice(self, start, stop):
    """Examples [start, stop)."""
    return RegressionData(self.images[start:stop], self.labels[start:stop], self.z[start:stop],
                          self.tz[start:stop])

  def target(self, name):
    return self.z if name == "disentangled" else self.tz


# ---------------------------------------------------------------------------------------------
# Dataset.


def sample_codes(teacher, images, labels, seed, batch_size=1000):
  """One z ~ q*(z | x, y) per image: float32 [N, D], a pure function of (weights, data, seed).

  The noise [N, D] is drawn in one stateless call seeded by `seed`, outside any XLA function.
  """
  noise = model_lib.standard_normal([len(images), teacher.latent_dim], [seed, 11]).numpy()
  codes = []
  for start in range(0, len(images), batch_size):
    q = teacher.encode(images[start:start + batch_size], labels[start:start + batch_size])
    codes.append((q.mean() + q.stddev() * noise[start:start + batch_size]).numpy())
  return np.concatenate(codes).astype(np.float32)


def build_dataset(teacher, images, labels, transforms, seed):
  """The regression dataset of one split: z from the teacher's q*, and T_y z.

  Args:
    teacher: a ConditionalVAE (anything with `encode(x, y)` and `latent_dim`).
    images: [N, H, W, C] float32.
    labels: [N] int.
    transforms: float32 [G, D, D] (`tfdis.model.transforms`).
    seed: int, seed of the z draws.

  Returns:
    RegressionData.
  """
  labels = np.asarray(labels, np.int32)
  z = sample_codes(teacher, images, labels, seed)
  tz = transforms_lib.apply(transforms, labels, z).numpy().astype(np.float32)
  return RegressionData(np.asarray(images, np.float32), labels, z, tz)


# ---------------------------------------------------------------------------------------------
# Training.


def problem_losses(model, images, labels, target):
  """Mean losses of one network pair on a batch, for the encoder and the decoder problem.

  Args:
    model: ConditionalVAE being fitted.
    images: [B, H, W, C]; labels: [B] int32; target: [B, D] (z or T_y z).

  Returns:
    dict encoder: mean over batch and dims of (μ_q(x, y) - target)², decoder: mean over the batch
    of -ln p(x | y, target) (nats per image). Scalars.
  """
  prediction = model.encode(images, labels).mean()                    # [B, D]
  encoder = tf.reduce_mean(tf.square(prediction - target))
  decoder = -tf.reduce_mean(model.decode(labels, target).log_prob(images))  # [B] -> []
  return {"encoder": encoder, "decoder": decoder}


def _pair_losses(models, images, labels, z, tz):
  """{(problem, target): scalar} for the disentangled and entangled model on one batch."""
  out = {}
  for name, target in zip(TARGETS, (z, tz)):
    for problem, loss in problem_losses(models[name], images, labels, target).items():
      out[problem + "/" + name] = loss
  return out


def build_models(model_kwargs, seed):
  """The disentangled and entangled networks, with identical initial weights from `seed`."""
  keras.utils.set_random_seed(seed)
  first = model_lib.ConditionalVAE(**model_kwargs).build_all()
  second = model_lib.ConditionalVAE(**model_kwargs).build_all()
  second.set_weights(first.get_weights())
  return dict(zip(TARGETS, (first, second)))


class PairTrainer:
  """The trainer `loop.fit` runs: both targets of both problems in one XLA-compiled step.

  The four losses depend on disjoint weights (each model's encoder and decoder), and Adam acts
  element-wise, so one step on their sum is exactly four separate Adam steps. Batch b is
  `steps.BatchOrder(N, B, seed)` of `train_data`.
  """

  def __init__(self, model_kwargs, train_data, config, seed):
    self.models = build_models(model_kwargs, seed)
    self.train_data = train_data
    self.variables = [v for name in TARGETS for v in self.models[name].trainable_variables]
    self.optimizer = training_steps.adam(config.learning_rate, self.variables)
    self.checkpoint = tf.train.Checkpoint(weights=list(self.variables), optimizer=self.optimizer)
    self._order = training_steps.BatchOrder(len(train_data), config.batch_size, seed)

    def loss_fn(images, labels, z, tz):
      losses = _pair_losses(self.models, images, labels, z, tz)
      return tf.add_n(list(losses.values())), losses

    def evaluate(images, labels, z, tz):
      return _pair_losses(self.models, images, labels, z, tz)

    self.step = tf.function(training_steps.adam_step(loss_fn, self.variables, self.optimizer),
                            jit_compile=config.jit_compile)
    self._evaluate = tf.function(evaluate, jit_compile=config.jit_compile)

  @property
  def completed_steps(self):
    return int(self.optimizer.iterations.numpy())

  def batch(self, step):
    """(images [B, H, W, C], labels [B], z [B, D], T_y z [B, D]) of training step `step`."""
    idx, arrays = self._order.indices(step), self.train_data
    return arrays.images[idx], arrays.labels[idx], arrays.z[idx], arrays.tz[idx]

  def scalars(self, losses):
    """The four training-batch losses, to log."""
    return {k: float(v) for k, v in losses.items()}

  def evaluate(self, split, batch_size=1000):
    """Mean losses over a whole split: {problem/target: float}."""
    totals = {}
    for start in range(0, len(split), batch_size):
      part = split.slice(start, start + batch_size)
      for k, v in self._evaluate(part.images, part.labels, part.z, part.tz).items():
        totals[k] = totals.get(k, 0.0) + float(v) * len(part)
    return {k: v / len(split) for k, v in totals.items()}


def train_seed(model_kwargs, train_data, eval_sets, config, seed, workdir=None, later_steps=0,
               log_prefix=""):
  """Trains one seed's pair of networks; returns its loss curves.

  Args:
    model_kwargs: ConditionalVAE arguments (the teacher's architecture).
    train_data: RegressionData the batches come from (batch b: `steps.batch_indices`).
    eval_sets: {split name: RegressionData} evaluated at `config.eval_steps()`.
    config: RegressionConfig.
    seed: int, seed of the initial weights and of the batch order.
    workdir: folder of the TensorBoard scalars, or None (no checkpoints: a seed reruns whole).
    later_steps: steps of the seeds still to train after this one (for the ETA).
    log_prefix: start of each progress line.

  Returns:
    {(problem, target, split): float64 [E]} losses at the E evaluated steps.
  """
  trainer = PairTrainer(model_kwargs, train_data, config, seed)
  curves = {}

  def record(step):
    del step
    losses = []
    for split, arrays in eval_sets.items():
      for key, loss in trainer.evaluate(arrays).items():
        problem, target = key.split("/")
        curves.setdefault((problem, target, split), []).append(loss)
        losses.append(loss)
    return losses  # the loop stops if one is NaN or infinite

  loop.fit(trainer, workdir, config.num_steps, config.log_every,
           hooks=[loop.AtSteps(config.eval_steps(), record)], later_steps=later_steps,
           log_prefix=log_prefix, scalar_prefix=f"train/seed_{seed}/")
  return {k: np.asarray(v, np.float64) for k, v in curves.items()}


# ---------------------------------------------------------------------------------------------
# Statistics: pure functions of curves.


def steps_to_fraction(steps, losses, fraction=0.9, final_window=3):
  """First evaluated step at which a curve has come `fraction` of the way to its final loss.

  Args:
    steps: int [E], increasing, steps[0] the initial evaluation.
    losses: float [E], the loss at those steps.
    fraction: f in (0, 1).
    final_window: k; L_final is the mean of the last k losses.

  Returns:
    min { steps[i] : losses[i] <= L0 - f (L0 - L_final) } as a float; nan if L_final >= L0 (the
    curve did not descend).
  """
  steps, losses = np.asarray(steps), np.asarray(losses, np.float64)
  initial, final = losses[0], losses[-final_window:].mean()
  if not final < initial:
    return float("nan")
  threshold = initial - fraction * (initial - final)
  return float(steps[np.argmax(losses <= threshold)])


def normalised_auc(steps, losses):
  """(1 / S) ∫_0^S L(s) ds / L(0) by the trapezoid rule: the mean loss relative to the start."""
  steps, losses = np.asarray(steps, np.float64), np.asarray(losses, np.float64)
  area = np.sum(np.diff(steps) * (losses[1:] + losses[:-1]) / 2)
  return float(area / (steps[-1] - steps[0]) / losses[0])


def final_loss(losses, final_window=3):
  """Mean of the last `final_window` losses."""
  return float(np.mean(np.asarray(losses, np.float64)[-final_window:]))


def _interval_summary(values):
  """Mean over seeds with its 95% t interval, and the per-seed values."""
  mean, interval = stats.t_interval(values)
  return {"mean": mean, "interval": list(interval), "per_seed": [float(v) for v in values]}


def summarise(steps, curves, seeds, fraction=0.9, final_window=3):
  """Per-problem summary of held-out curves over seeds (the numbers of regression.json).

  Args:
    steps: int [E] evaluated steps.
    curves: {(problem, target, 'heldout'): {seed: float [E]}} (other splits are ignored).
    seeds: the seeds, in the order the per-seed lists follow.
    fraction, final_window: see `steps_to_fraction`.

  Returns:
    {problem: {'final_loss' | 'steps_to_fraction' | 'auc': {disentangled, entangled, difference
    (entangled - disentangled), p_value}, plus final_loss.ratio (entangled / disentangled)}}.
    'difference' and 'ratio' hold mean, 95% t interval over seeds and per-seed values; p_value is
    the sign-flip test over seeds of the differences, one-sided ("disentangled is faster") for
    speed and two-sided ("they differ") for final_loss, and p_value_floor the smallest p-value
    that test can give with this many seeds.
  """
  metrics = {
      "final_loss": lambda c: final_loss(c, final_window),
      "steps_to_fraction": lambda c: steps_to_fraction(steps, c, fraction, final_window),
      "auc": lambda c: normalised_auc(steps, c),
  }
  summary = {}
  for problem in PROBLEMS:
    if (problem, "disentangled", "heldout") not in curves:
      continue
    out = {}
    for name, fn in metrics.items():
      values = {t: np.array([fn(curves[(problem, t, "heldout")][s]) for s in seeds])
                for t in TARGETS}
      difference = values["entangled"] - values["disentangled"]
      entry = {t: _interval_summary(values[t]) for t in TARGETS}
      entry["difference"] = _interval_summary(difference)
      alternative = "two-sided" if name == "final_loss" else "greater"
      test = (stats.sign_flip_test(difference, alternative)
              if np.all(np.isfinite(difference)) else stats.PValue(float("nan"), float("nan")))
      entry["p_value"], entry["p_value_floor"] = test
      entry["p_value_alternative"] = alternative
      if name == "final_loss":
        entry["ratio"] = _interval_summary(values["entangled"] / values["disentangled"])
      out[name] = entry
    summary[problem] = out
  return summary


# ---------------------------------------------------------------------------------------------
# Outputs.


def write_csv(path, steps, curves):
  """curves.csv: one row per (problem, target, seed, step, split) with its loss."""
  rows = [[problem, target, seed, int(step), split, repr(float(loss))]
          for (problem, target, split), per_seed in sorted(curves.items())
          for seed, losses in sorted(per_seed.items())
          for step, loss in zip(steps, losses)]
  files.write_csv(path, ["problem", "target", "seed", "step", "split", "loss"], rows)


def plot_curves(path, steps, curves, title=""):
  """regression.png in the layout of Fig. 3: held-out loss vs step, one panel per problem.

  Lines are means over seeds; bands span the seeds' minimum to maximum.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  problems = [p for p in PROBLEMS if (p, "disentangled", "heldout") in curves]
  fig, axes = plt.subplots(1, len(problems), figsize=(5 * len(problems), 3.8), squeeze=False)
  ylabels = {"encoder": "held-out MSE of μ_q (per dim)",
             "decoder": "held-out -ln p(x | y, z) (nats)"}
  for ax, problem in zip(axes[0], problems):
    for target, colour in zip(TARGETS, ("tab:blue", "tab:red")):
      stack = np.stack(list(curves[(problem, target, "heldout")].values()))  # [seeds, E]
      label = "disentangled: z" if target == "disentangled" else "entangled: T_y z"
      ax.plot(steps, stack.mean(0), color=colour, label=label)
      ax.fill_between(steps, stack.min(0), stack.max(0), color=colour, alpha=0.25, linewidth=0)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabels[problem])
    ax.set_title(f"{problem}")
    ax.legend()
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def _check_resume(config, teacher_workdir, workdir):
  """Refuses a workdir holding a run with other settings; returns the finished seeds' curves."""
  files.check_settings(os.path.join(workdir, "regression_config.json"),
                       dict(dataclasses.asdict(config), teacher=os.path.abspath(teacher_workdir)),
                       what="a regression run", ignore=_RESUMABLE_FIELDS)
  done = {}
  folder = os.path.join(workdir, "seed_curves")
  os.makedirs(folder, exist_ok=True)
  for seed in config.seeds():
    rows = files.read_json(os.path.join(folder, f"seed_{seed}.json"))
    if rows is not None:
      done[seed] = {tuple(r["key"]): np.asarray(r["losses"], np.float64) for r in rows}
  return done


def _save_seed(workdir, seed, seed_curves):
  rows = [{"key": list(k), "losses": v} for k, v in sorted(seed_curves.items())]
  files.write_json(os.path.join(workdir, "seed_curves", f"seed_{seed}.json"), rows)


def load_regression_data(teacher, teacher_config, config):
  """Train and held-out RegressionData of the teacher's dataset (z seeded by `config.seed`)."""
  tfds_dir = teacher_config.tfds_dir or None
  train_images, train_labels = data.load_arrays(teacher_config.dataset, "train", tfds_dir)
  test_images, test_labels = data.load_arrays(teacher_config.dataset, "test", tfds_dir)
  if config.train_examples:
    train_images, train_labels = (train_images[:config.train_examples],
                                  train_labels[:config.train_examples])
  test_images, test_labels = test_images[:config.eval_examples], test_labels[:config.eval_examples]
  transforms = transforms_lib.by_name(config.transform, teacher.num_classes, teacher.latent_dim,
                                      config.transform_seed)
  train_data = build_dataset(teacher, train_images, train_labels, transforms, config.seed)
  heldout = build_dataset(teacher, test_images, test_labels, transforms, config.seed + 1)
  return train_data, heldout


def run_regression(config, teacher_workdir, workdir):
  """Runs the Sec. 3 regression experiment for the teacher in `teacher_workdir`.

  Args:
    config: RegressionConfig.
    teacher_workdir: a finished (or checkpointed) binaries.train workdir.
    workdir: output folder; created if missing. A rerun with the same flags skips finished seeds.

  Returns:
    The dict written to regression.json.
  """
  config.validate()
  if not teacher_workdir or not os.path.exists(os.path.join(teacher_workdir, "config.json")):
    raise UsageError(f"--teacher={teacher_workdir} holds no training run (no config.json); give "
                     "the --workdir of a python -m binaries.train run.")
  teacher, teacher_config = vae_training.restore_model(teacher_workdir)
  config.check_teacher(teacher_config)
  files.prepare(workdir)
  done = _check_resume(config, teacher_workdir, workdir)
  began = time.time()
  train_data, heldout = load_regression_data(teacher, teacher_config, config)
  if len(train_data) < config.batch_size:
    raise UsageError(f"--batch_size={config.batch_size} exceeds the {len(train_data)} training "
                     "examples; lower it or raise --train_examples.")
  eval_sets = {"train": train_data.slice(0, config.eval_examples), "heldout": heldout}
  model_kwargs = dataclasses.replace(
      teacher_config, encoder_split=config.encoder_split,
      decoder_split=config.decoder_split).model_kwargs(teacher.image_shape, teacher.num_classes)
  logging.info("Regression data: %d train, %d held-out examples, D=%d, transform %s.",
               len(train_data), len(heldout), teacher.latent_dim, config.transform)

  steps = config.eval_steps()
  writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))
  todo = [s for s in config.seeds() if s not in done]
  for k, seed in enumerate(todo):
    done[seed] = train_seed(model_kwargs, train_data, eval_sets, config, seed, workdir,
                            later_steps=(len(todo) - k - 1) * config.num_steps,
                            log_prefix=f"seed {seed} ({k + 1}/{len(todo)}) ")
    _save_seed(workdir, seed, done[seed])
  # Every seed's scalars, including resumed ones, so the event files describe the whole run.
  for seed in config.seeds():
    for (problem, target, split), losses in done[seed].items():
      with writer.as_default():
        for step, loss in zip(steps, losses):
          tf.summary.scalar(f"{problem}/{split}/{target}/seed_{seed}", loss, step=int(step))
  writer.flush()

  curves = {}
  for seed in config.seeds():
    for key, losses in done[seed].items():
      curves.setdefault(key, {})[seed] = losses
  summary = summarise(steps, curves, config.seeds(), config.fraction, config.final_window)
  write_csv(os.path.join(workdir, "curves.csv"), steps, curves)
  plot_curves(os.path.join(workdir, "regression.png"), steps, curves,
              title=f"{teacher_config.dataset}, T_y = {config.transform}, "
                    f"{config.num_seeds} seeds (band: min-max)")
  result = dict(summary, transform=config.transform, dataset=teacher_config.dataset,
                teacher=os.path.abspath(teacher_workdir), steps=steps,
                num_train_examples=len(train_data), num_heldout_examples=len(heldout),
                config=dataclasses.asdict(config))
  files.write_json(os.path.join(workdir, "regression.json"), result)
  files.write_json(os.path.join(workdir, "timing.json"),
              {"seconds_this_call": round(time.time() - began, 1)})
  for problem in PROBLEMS:
    s = summary[problem]
    logging.info("%s: final %.4g vs %.4g (ratio %.3f); steps to %d%%: %.0f vs %.0f (p=%.3g); "
                 "AUC %.4f vs %.4f (p=%.3g)  [disentangled vs entangled]", problem,
                 s["final_loss"]["disentangled"]["mean"], s["final_loss"]["entangled"]["mean"],
                 s["final_loss"]["ratio"]["mean"], round(100 * config.fraction),
                 s["steps_to_fraction"]["disentangled"]["mean"],
                 s["steps_to_fraction"]["entangled"]["mean"], s["steps_to_fraction"]["p_value"],
                 s["auc"]["disentangled"]["mean"], s["auc"]["entangled"]["mean"],
                 s["auc"]["p_value"])
  logging.info("Results in %s", workdir)
  return files.jsonable(result)
