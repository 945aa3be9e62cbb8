"""Encoder versus decoder (App. B, Figs. 5, 6): the win rate over many seeds of each condition.

  python -m binaries.compete --flagfile=flags/compete_rotation.cfg --seeds=20 \
      --workdir=runs/compete_rotation [--conditions=standard,y_masked] \
      [--num_shards=K --shard_index=i]   # then once: the same command with --aggregate

Writes <workdir>/winrate.json, winrate.md (table) and winrate.png (typical runs' grids, μ_p top,
μ'_p bottom) and keeps each (condition, seed) result under results/; re-running the same command
skips finished seeds. See tfdis.competition for the judging rule.
"""
from binaries import common  # pylint: disable=unused-import  (sets TF log level first)

from absl import app
from absl import flags
import tensorflow as tf

from tfdis.experiments import competition
from tfdis import flag_defs

_HELP = {
    "transform": "T_y between encoder and decoder: rotation (one Haar draw per seed) or reflection.",
    "conditions": "Variants to run: all, or a comma list of standard, y_masked, encoder_split, "
                  "decoder_split.",
    "seeds": "Independent runs (seeds) per condition.",
    "first_seed": "Seeds are first_seed, first_seed + 1, ...",
    "seeds_per_batch": "Seeds trained together in one XLA program (tfdis.seed_batched).",
    "dataset": "Dataset of the competition (MNIST-like digits; SP needs Morpho-MNIST measures).",
    "tfds_dir": "Where TFDS prepares datasets (default ~/.cache/tfdis/tensorflow_datasets).",
    "train_examples": "Training images used (0 = the whole training split).",
    "hidden_units": "Width of the hidden dense layers.",
    "num_hidden_layers": "Hidden layers per MLP; 3 gives the layers l-3 and l+3 of the paper.",
    "latent_dim": "Dimension D of z.",
    "batch_size": "Training batch size.",
    "num_steps": "Adam steps per run.",
    "learning_rate": "Adam learning rate.",
    "log_every": "Steps between progress lines.",
    "checkpoint_every": "Steps between checkpoints of a seed batch.",
    "jit_compile": "XLA-compile the training step.",
    "num_z": "Shared z columns for SP (M).",
    "num_bootstrap": "Bootstrap resamples for the SP interval.",
    "judge_seed": "Seed of the z draws of SP, LP and the grids.",
    "tau_lo": "SP interval entirely below this: not style-preserving.",
    "tau_hi": "SP interval entirely above this: style-preserving.",
    "min_label_preservation": "A run whose LP of μ_p is below this is inconclusive (0: no LP).",
    "lp_samples_per_class": "Samples per label for LP.",
    "classifier_dir": "Cache of the LP digit classifier (default ~/.cache/tfdis/classifiers).",
    "grid_columns": "Shared z columns in the grids.",
    "num_shards": "Processes sharing the sweep (each takes every num_shards-th seed batch).",
    "shard_index": "This process's shard, 0 .. num_shards - 1.",
    "aggregate": "Only combine the results in --workdir into the table (after all shards).",
}
# binaries.evaluate defines --transform as an enum of the same two values; shared when both load.
flag_defs.define_fields(competition.CompetitionConfig, _HELP)
FLAGS = flags.FLAGS


def run(flags_obj=FLAGS, datasets_override=None):
  """Library seam for tests: the config from flags, run."""
  tf.config.experimental.enable_op_determinism()
  config = flag_defs.config_from_flags(competition.CompetitionConfig)
  return competition.run_competition(config, flags_obj.workdir, datasets_override)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
  result = common.run_cli(run)
  if "conditions" in result:
    print(competition.markdown_table(result))
  else:
    print(f"shard {result['shard']}: {result['trained_batches']} seed batches trained; run with "
          "--aggregate once every shard has finished.")


if __name__ == "__main__":
  app.run(main)
