"""Speed of label-routed ("split") layers and training steps against shared ones, as ratios.

  python -m binaries.bench [--quick] [--workdir=<dir>]

Prints, from one process with interleaved candidates: per-layer forward+backward ratios of every
routing strategy and of the balanced layout (with and without XLA), whole training-step ratios
(shared, split, split on a label-balanced batch, ten ordinary sub-networks) and the split step over
its floor, for the MLP and the conv model, the shared step's GFLOP/s against this machine's matmul
rate, and the throughput of S seeds trained together against S sequential runs (S = 1, 4, 16); see
`benchmarks.suite`. With --workdir, writes <workdir>/bench.json (the whole-step ratios under
`train_step_split_over_shared` and `train_step_split_over_floor`, `..._conv` for the conv model).
--quick times fewer layers and rounds.
"""
from binaries import common  # first: it sets the TF log level before TensorFlow loads

from absl import app
from absl import flags

from binaries import flag_defs

flag_defs.define_flags("bench")
FLAGS = flags.FLAGS


def run(flags_obj=FLAGS, log=print):
  """Runs the selected sections; returns the results dict (also written to bench.json)."""
  from benchmarks import suite  # pylint: disable=g-import-not-at-top
  return suite.run_bench(sections=flags_obj.sections, quick=flags_obj.quick,
                         batch_size=flags_obj.bench_batch_size,
                         hidden_units=flags_obj.bench_hidden_units,
                         matmul_size=flags_obj.matmul_size, workdir=flags_obj.workdir, log=log,
                         architectures=flags_obj.bench_architectures)


main = common.make_main(run)


if __name__ == "__main__":
  app.run(main, flags_parser=common.parse_flags)
