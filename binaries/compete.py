"""Encoder versus decoder (App. B, Figs. 5, 6): the win rate over many seeds of each condition.

  python -m binaries.compete --flagfile=flags/compete_rotation.cfg --seeds=20 \
      --workdir=runs/compete_rotation [--conditions=standard,y_masked] \
      [--num_shards=K --shard_index=i]   # then once: the same command with --aggregate

Writes <workdir>/winrate.json, winrate.md (table) and winrate.png (typical runs' grids, μ_p top,
μ'_p bottom) and keeps each (condition, seed) result under results/; re-running the same command
skips finished seeds. See tfdis.competition for the judging rule.
"""
from binaries import common  # first: it sets the TF log level before TensorFlow loads

from absl import app
from absl import flags
import tensorflow as tf

from tfdis.experiments import competition
from binaries import flag_defs
from tfdis import files

flag_defs.define_flags("compete")
FLAGS = flags.FLAGS


def run(flags_obj=FLAGS, datasets_override=None):
  """Library seam for tests: the config from flags, run."""
  tf.config.experimental.enable_op_determinism()
  config = flag_defs.config_from_flags(competition.CompetitionConfig, flags_obj)
  # Shards share a workdir by design: each holds its own lock, the aggregation the folder's.
  sharded = config.num_shards > 1 and not config.aggregate
  with files.lock(flags_obj.workdir, "binaries.compete",
                  name=f".lock.shard{config.shard_index}" if sharded else ".lock"):
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
  app.run(main, flags_parser=common.parse_flags)
