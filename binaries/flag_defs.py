"""Every flag of the binaries, defined in one place.

As in tensorflow/models (`official/utils/flags`), each flag has exactly one definition here: one
type, one default and one help text. A binary calls `define_flags("<binary>")` for the flags it
reads; a flag that another binary imported into the same process defined already is this same
definition, so the import order never changes a default. Types and defaults come from the config
dataclasses (TrainConfig, and the experiment configs built on it: EvaluationConfig,
RegressionConfig, CompetitionConfig, PaperConfig); a name held by several of them has one default
there too (`flag_specs` refuses to build otherwise), so a binary given no flags builds its config's
defaults.

`config_from_flags` builds a config from parsed flags. Reading flagfiles into configs, which the
library does too (tfdis.reproduce), is tfdis.flagfiles'.
"""
import collections
import dataclasses
import functools

from absl import flags

from tfdis import flagfiles
from tfdis.experiments import competition
from tfdis.experiments import evaluation
from tfdis.experiments import regression
from tfdis.model import networks
from tfdis.model import transforms
from tfdis.model import vae as model_lib
from tfdis.reproduce.config import PaperConfig
from tfdis.training import config as config_lib
from tfdis.training import steps

FLAGS = flags.FLAGS

_HELP = {
    # Every binary.
    "workdir": "Folder of the run: checkpoints, logs and results (binaries.bench: optional, "
               "where bench.json goes).",
    # The model and its training (TrainConfig; the experiments' networks and training too).
    "dataset": "mnist | fashion_mnist | svhn_cropped | idx:<folder of MNIST-style IDX files> "
               "(binaries.evaluate --generator: whose LP classifier reads the images).",
    "tfds_dir": "Where TFDS prepares datasets (default ~/.cache/tfdis/tensorflow_datasets).",
    "architecture": "Encoder/decoder architecture.",
    "hidden_units": "Width of the hidden dense layers.",
    "num_hidden_layers": "Hidden dense layers of each MLP network (the conv nets ignore it); 3 "
                         "gives the layers l-3 and l+3 of App. A and B.",
    "latent_dim": "Dimension D of z.",
    "likelihood": "p(x | y, z): Bernoulli on [0, 1] intensities, Gaussian (learned per-pixel "
                  "sigma), or gaussian_bounded (sigma in [1/256, 1]).",
    "encoder_uses_label": "Feed one-hot y to the encoder (false: the paper's 'y masked').",
    "encoder_split": "Label-routed encoder layers: none, all, or indices counted from z "
                     "(0 = head).",
    "decoder_split": "Label-routed decoder layers: none, all, or indices counted from z "
                     "(0 = first).",
    "latent_transform": "The decoder reads T_y z (App. B's model; binaries.compete sets it from "
                        "--transform).",
    "transform_seed": "Seed of the random rotations T_y.",
    "batch_size": "Global training batch size.",
    "balanced_batches": "binaries.train: every batch holds batch_size / 10 examples of each label, "
                        "grouped by label (batch_size must be a multiple of 10), so label-routed "
                        "layers run as one batched matmul or grouped conv. Changes sampling: "
                        "labels are weighted uniformly (p(y)) instead of by their data "
                        "frequency, each label cycles through its own examples (rare labels' "
                        "examples are seen more often) and there is no common epoch; see "
                        "tfdis/data/balanced.py. One device only; evaluation and export are "
                        "unchanged.",
    "num_steps": "Total optimisation steps (a resumed run continues up to this many).",
    "learning_rate": "Learning rate of --optimizer.",
    "optimizer": "adam, or sgd (plain stochastic gradient descent, no momentum).",
    "dequantize": "Train on dequantised images (255 x + u) / 256, u uniform, drawn afresh each "
                  "step (seeded by seed and step); the test ELBO reads the test images "
                  "dequantised once.",
    "seed": "Seed of initialisation, data order and sampling; experiments over several seeds use "
            "seed, seed + 1, ...",
    "strategy": "tf.distribute strategy: default, mirrored (all local devices), multi_worker.",
    "jit_compile": "XLA-compile the training (and evaluation) steps.",
    "log_every": "Steps between progress lines and TensorBoard scalars.",
    "checkpoint_every": "Steps between checkpoints.",
    "eval_batch_size": "Batch size for the test-set ELBO.",
    "grid_columns": "Shared z columns in the sample grids.",
    "track_every": "Steps between SP / LP scores of the generator during training "
                   "(tracking.json, TensorBoard track/*; 0: none).",
    "track_lp": "Track LP too (the cached digit classifier, trained on first use).",
    "divergence_per_dim": "Stop training as diverged when a batch's |ELBO| exceeds this many "
                          "nats per data dimension (the last good checkpoint is kept; 0: off).",
    # Measuring a model (EvaluationConfig; the competition's judging too).
    "transform": "T_y, the label-dependent transform of z: rotation (random, seeded by "
                 "--transform_seed), reflection, same_rotation (one rotation for every label), "
                 "identity. evaluate: the entangled counterpart's; regress: the entangled "
                 "target's; compete: between encoder and decoder.",
    "num_z": "Shared z columns for SP (M).",
    "generator": "binaries.evaluate: measure this instead of a --workdir run: a SavedModel "
                 "folder (a signature taking labels and z), a .keras file (inputs [y, z]) or a "
                 "folder of grid images <label>/<column>.png (see tfdis.metrics.generator).",
    "generator_signature": "The --generator SavedModel's signature (default: decode, else "
                           "serving_default, else its only one).",
    "num_classes": "Labels K of a --generator (y in 0 .. K-1).",
    "output_dir": "Where binaries.evaluate --generator writes evaluation.json and the grids.",
    "calibrate": "binaries.evaluate: instead of a model, calibrate SP on real digits "
                 "(tfdis.metrics.calibration) into --output_dir: table.json, table.md, curve.png.",
    "lp_samples_per_class": "Samples per label for LP.",
    "num_bootstrap": "Bootstrap resamples for the SP interval.",
    "elbo_examples": "Test examples for the ELBO (0 = the whole test split).",
    "classifier_dir": "Cache of the LP digit classifier (default ~/.cache/tfdis/classifiers).",
    "classifier_epochs": "Epochs to train the LP classifier when it is not cached.",
    "classifier_steps_per_epoch": "Steps per classifier epoch (0 = the whole training split).",
    "untrained_inits": "Initialisations of the run's architecture measured untrained (LP and SP "
                       "at initialisation: the baseline every SP claim is shown beside; 0: none).",
    # The regression (RegressionConfig).
    "teacher": "Workdir of the trained VAE whose q*(z | x, y) gives z.",
    "teacher_run": "binaries.reproduce: the plan's trained run whose model is the teacher "
                   "(shared; split for the split-both-teacher control).",
    "rotation_fraction": "The entangled target is T_y^a z for this a in [0, 1]: T_y^a turns a of "
                         "the way from I to T_y (1: T_y; rotations only).",
    "per_seed_transforms": "Each seed fits its own T_y (seeded transform_seed + k); false: one "
                           "T_y for every seed.",
    "num_seeds": "Seeds (initialisation and batch order) per pair; seeds are seed, seed + 1, ...",
    "eval_every": "Steps between evaluations of the loss curves.",
    "dense_eval_until": "Evaluate every --dense_eval_every steps up to this step too (the fine "
                        "early resolution and the early loss area; 0: none).",
    "dense_eval_every": "Steps between the dense early evaluations (see --dense_eval_until).",
    "optimizer": "The regression's optimiser: adam, or sgd (plain, no momentum); "
                 "--learning_rate is its step size.",
    "decoder_learning_rate": "--optimizer=sgd: the decoder problem's step size (its loss is "
                             "in nats per image; 0: --learning_rate).",
    "alignment_examples": "Training inputs of the tangent kernel whose alignment with each target "
                          "is measured at initialisation (regression.json 'alignment'; 0: none).",
    "alignment_probes": "Hutchinson probes of the tangent kernel's Frobenius norm.",
    "descent_steps": "Horizon of the early descent rate (ln L(0) - ln L(s)) / s ranked against "
                     "the alignment (the last evaluated step s <= this).",
    "log_evals": "Extra evaluations at log-spaced steps in [1, num_steps] (resolve the start).",
    "train_examples": "Training images used (0 = the whole training split).",
    "eval_examples": "Held-out (test split) images, and training images for the train curve.",
    "fraction": "Convergence is the first step that covers this fraction of L(0) - L_final.",
    "final_window": "L_final is the mean of this many last evaluations.",
    # The competition (CompetitionConfig).
    "conditions": "Variants to run: all (the paper's four), or a comma list of standard, "
                  "y_masked, encoder_split, decoder_split and the pipeline checks "
                  "decoder_split_all, encoder_split_all.",
    "judge_at_steps": "Comma list of steps at which every run is also judged during training "
                      "(its trajectory; empty: only at --num_steps).",
    "seeds": "Independent runs (seeds) per condition.",
    "seeds_per_batch": "Seeds trained together in one XLA program (tfdis.training.seed_batched).",
    "judge_seed": "Seed of the z draws of SP, LP and the grids.",
    "tau_lo": "SP interval entirely below this: not style-preserving.",
    "tau_hi": "SP interval entirely above this: style-preserving.",
    "min_label_preservation": "A run whose LP of μ_p is below this is inconclusive (0: no LP).",
    "num_shards": "Processes sharing the work, dealt round robin: binaries.compete, every "
                  "num_shards-th seed batch of the sweep; binaries.reproduce, every num_shards-th "
                  "run (with the regressions it teaches), recorded in one --ledger.",
    "shard_index": "This process's shard, 0 .. num_shards - 1.",
    "aggregate": "Only combine the results in --workdir into the table (after all shards).",
    # The reproduction (PaperConfig).
    "scale": "smoke | quick | full (required): how long to train; see tfdis.reproduce.plan.",
    "shared": "Flagfile of the shared model (Fig. 1; the regression's teacher).",
    "split": "Comma list of flagfiles of the split models (Fig. 2).",
    "appendix_a": "Comma list of flagfiles of the layer-split models (Fig. 4).",
    "regression": "Comma list of binaries.regress flagfiles (Fig. 3).",
    "competition": "Comma list of binaries.compete flagfiles (Figs. 5, 6; all variants run).",
    "competition_seeds": "Seeds per competition condition (0: the scale's, full 20, quick 2).",
    "model_seeds": "Seeds per trained model of Figs. 1, 2, 4 (0: the scale's, full 5, quick 3, "
                   "smoke 1); the first seed's run is the regression's teacher.",
    "ledger": "Folder of the results ledger: a record per finished run (<run>.json, small, "
              "committable); runs recorded there are skipped and the report is built from the "
              "records alone; shards and later days fill one ledger (see tfdis.reproduce.ledger).",
    "max_hours": "Time budget of this call: start only the runs the cost model (scaled by the "
                 "measured pace) expects to finish within it, then stop cleanly (0: none).",
    "stages": "Comma list of the stages this call runs (shared, split, appendix_a, regression, "
              "competition; empty: all), dealt among --num_shards as usual; the --ledger and the "
              "report still cover the whole plan (e.g. --stages=competition first).",
    "list_runs": "Print this shard's runs, their estimated times and which are finished, and "
                 "run nothing.",
    "fit_cost_model": "Fit the cost model to the --ledger records' wall times, write "
                      "tfdis/reproduce/cost_model.json, print --list_runs's listing with it and "
                      "run nothing.",
    # The benchmark (binaries.bench).
    "quick": "A reduced run (fewer layers and rounds), under a minute.",
    "bench_batch_size": "Batch size of every timing (a multiple of 10 also times the balanced "
                        "layout of --balanced_batches).",
    "bench_architectures": "Models of the steps section: mlp (flags/base.cfg), conv.",
    "bench_hidden_units": "Hidden width of the timed VAEs (512 = flags/base.cfg).",
    "matmul_size": "Side of the square matmul that measures the machine's rate.",
    "sections": "What to time: layers, steps, seeds (S seeds trained together vs one by one), "
                "reference (tfdis against plain JAX; needs pip install -e .[bench]).",
}
_CHOICES = {"architecture": networks.ARCHITECTURES, "likelihood": model_lib.LIKELIHOODS,
            "strategy": steps.STRATEGIES, "optimizer": steps.OPTIMIZERS,
            "latent_transform": config_lib.LATENT_TRANSFORMS,
            "transform": ("rotation", "reflection", "same_rotation", "identity")}
assert set(_CHOICES["transform"]) <= set(transforms.TRANSFORMS)

# Flags that are no config field: (type, default, lower bound).
_OTHER_FLAGS = {
    "workdir": (str, None, None), "teacher": (str, None, None), "quick": (bool, False, None),
    "bench_batch_size": (int, 260, 1), "bench_architectures": (list, ["mlp", "conv"], None),
    "bench_hidden_units": (int, 512, 1),
    "matmul_size": (int, 2048, 8), "sections": (list, ["layers", "steps", "seeds"], None),
}

FlagSpec = collections.namedtuple("FlagSpec", "name type default help choices lower_bound")


def _binaries():
  """{binary: (its config class or None, the other flags it reads)}."""
  return {
      "train": (config_lib.TrainConfig, ("workdir",)),
      "evaluate": (evaluation.EvaluationConfig, ("workdir",)),
      "regress": (regression.RegressionConfig, ("workdir", "teacher")),
      "compete": (competition.CompetitionConfig, ("workdir",)),
      "reproduce": (PaperConfig, ("workdir",)),
      "bench": (None, ("workdir", "quick", "bench_batch_size", "bench_hidden_units",
                       "matmul_size", "sections", "bench_architectures")),
  }


@functools.lru_cache(maxsize=None)
def flag_specs():
  """{name: FlagSpec} of every flag of every binary: one type, default and help per name."""
  specs = {}
  for name, (type_, default, lower_bound) in _OTHER_FLAGS.items():
    specs[name] = FlagSpec(name, type_, default, _HELP[name], None, lower_bound)
  for config_class, _ in _binaries().values():
    for field in dataclasses.fields(config_class) if config_class else ():
      spec = FlagSpec(field.name, field.type, field.default, _HELP[field.name],
                      _CHOICES.get(field.name), None)
      known = specs.setdefault(field.name, spec)
      if (known.type, known.default) != (spec.type, spec.default):
        raise ValueError(f"--{field.name} is {known.type.__name__} = {known.default!r} in one "
                         f"config but {spec.type.__name__} = {spec.default!r} in "
                         f"{config_class.__name__}; give the field one type and default.")
  return specs


def _define(spec, flag_values):
  """Defines one flag on flag_values, unless this module defined it already."""
  if spec.name in flag_values:
    if flag_values.find_module_defining_flag(spec.name) != __name__:
      raise ValueError(f"--{spec.name} is defined outside binaries.flag_defs; define every flag "
                       "here only.")
    return
  flagfiles.define_flag(spec.name, spec.type, spec.default, spec.help, flag_values,
                        spec.choices, spec.lower_bound, module_name=__name__)


def binary_config(binary):
  """The config dataclass `binary` builds from its flags (None for bench)."""
  return _binaries()[binary][0]


def flag_names(binary):
  """The names of the flags `binary` reads (its config's fields, then the others)."""
  config_class, others = _binaries()[binary]
  fields = [f.name for f in dataclasses.fields(config_class)] if config_class else []
  return fields + list(others)


def define_flags(binary, flag_values=FLAGS):
  """Defines the flags of `binary` (train, evaluate, regress, compete, reproduce, bench)."""
  specs = flag_specs()
  for name in flag_names(binary):
    _define(specs[name], flag_values)


def config_from_flags(config_class, flag_values=FLAGS):
  """`config_class` from the parsed flags of its fields."""
  return flagfiles.config_from_flags(config_class, flag_values)
