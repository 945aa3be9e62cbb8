"""What every binary does around its library call: quiet TF, and turn UsageError into one line."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_cli(fn):
  """Calls fn(); a UsageError becomes `error: <message>` on stderr and exit status 2."""
  from tfdis.errors import UsageError  # pylint: disable=g-import-not-at-top
  try:
    return fn()
  except UsageError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


def make_main(run):
  """The absl `main` of a binary: no positional arguments, then `run_cli(run)`."""
  from absl import app  # pylint: disable=g-import-not-at-top

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
    run_cli(run)  # absl would take a returned value for the exit status
  return main
