"""What every binary does around its library call: quiet TF, and turn UsageError into one line."""
import errno
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _disk_full(error):
  """True for a write that failed because the device is full (Python's or TensorFlow's error)."""
  if isinstance(error, OSError):
    return error.errno == errno.ENOSPC
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return (isinstance(error, tf.errors.ResourceExhaustedError)
          and "no space left" in str(error).lower())


def run_cli(fn):
  """Calls fn(); a UsageError (or a full disk) becomes `error: <message>` and exit status 2.

  Before fn runs, the command line's flagfiles are checked for one that includes itself.
  """
  from tfdis import flag_defs  # pylint: disable=g-import-not-at-top
  from tfdis.errors import UsageError  # pylint: disable=g-import-not-at-top
  try:
    flag_defs.check_flagfile_includes(sys.argv[1:])
    return fn()
  except UsageError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except Exception as e:  # pylint: disable=broad-except  (re-raised unless the disk is full)
    if not _disk_full(e):
      raise
    detail = str(e).strip().splitlines()[0][:300]
    print(f"error: No space left on the device ({detail}); free some space and run the same "
          "command again: checkpoints and finished results are kept.", file=sys.stderr)
    sys.exit(2)


def make_main(run):
  """The absl `main` of a binary: no positional arguments, then `run_cli(run)`."""
  from absl import app  # pylint: disable=g-import-not-at-top

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"Unexpected arguments {argv[1:]}; all options are --flags.")
    run_cli(run)  # absl would take a returned value for the exit status
  return main
