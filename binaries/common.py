"""What every binary does around its library call: quiet TF, find flagfiles, one-line errors."""
import errno
import os
import sys
import tempfile

# Without an NVIDIA driver TF's one error line is "failed call to cuInit", which says nothing on a
# CPU machine; with one, its errors stay visible.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL",
                      "2" if os.path.exists("/proc/driver/nvidia/version") else "3")

# Lines TensorFlow writes while it loads, before its log level applies (absl's pre-init notice,
# oneDNN's and the missing CUDA driver's): hidden; anything else it writes is passed on.
STARTUP_NOTICES = ("All log messages before absl::InitializeLog()",
                   "oneDNN custom operations are on",
                   "Could not find cuda drivers on your machine",
                   "This TensorFlow binary is optimized to use available CPU instructions",
                   "To enable the following instructions:")


def import_tensorflow_quietly():
  """Imports TensorFlow with its start-up notices held back; other lines reach stderr after."""
  if "tensorflow" in sys.modules:
    return
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      for line in captured.read().decode("utf-8", "replace").splitlines():
        if not any(notice in line for notice in STARTUP_NOTICES):
          print(line, file=sys.stderr)


import_tensorflow_quietly()


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


def parse_flags(argv):
  """absl's flag parsing, with the project's `--flagfile=flags/...` found from any folder.

  When a flagfile named on the command line is not in the current folder but is under
  tfdis.flag_defs.FLAGS_ROOT (the repository root, or the installed package's copy of flags/),
  absl parses with the current folder set to FLAGS_ROOT, so the includes inside those files resolve
  too; flagfiles found in the current folder are then given to absl by absolute path. Parsing only
  stores flag values, so a relative --workdir still means the caller's folder. Otherwise this is
  absl's own parser, with its errors, --help and --helpfull.

  Use as `app.run(main, flags_parser=common.parse_flags)`.

  Args:
    argv: the command line, program name first.

  Returns:
    The arguments that are no flags, program name first.
  """
  from absl import app  # pylint: disable=g-import-not-at-top
  from tfdis import flag_defs  # pylint: disable=g-import-not-at-top
  argv = list(argv)
  named = []  # (index in argv, the text before the path, the path as absl reads it)
  for i in range(1, len(argv)):
    if argv[i] == "--":  # absl reads no flags after it
      break
    if argv[i] in ("--flagfile", "-flagfile") and i + 1 < len(argv):
      named.append((i + 1, "", os.path.expanduser(argv[i + 1])))
    elif argv[i].startswith(("--flagfile=", "-flagfile=")):
      prefix = argv[i][:argv[i].index("=") + 1]
      named.append((i, prefix, os.path.expanduser(argv[i][len(prefix):].strip())))
  if not any(not os.path.isfile(path) and os.path.isfile(os.path.join(flag_defs.FLAGS_ROOT, path))
             for _, _, path in named):
    return app.parse_flags_with_usage(argv)
  for i, prefix, path in named:
    if os.path.isfile(path):
      argv[i] = prefix + os.path.abspath(path)
  with flag_defs.in_folder(flag_defs.FLAGS_ROOT):
    return app.parse_flags_with_usage(argv)
