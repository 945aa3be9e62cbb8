"""What every binary does around its library call: quiet TF, find flagfiles, one-line errors.

Every error a user can fix ends in one line, `error: <what was wrong>; <what to do>`, and exit
status 2: the library's UsageError, a full disk, absl's own flag errors (a value of the wrong type,
an unknown flag, a flagfile that cannot be read or holds a line that is no --flag) and an interrupt
(SIGINT) at any point of the run, not only inside the training loop.
"""
import contextlib
import errno
import os
import signal
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


def _binary_is_the_program():
  """True when a binary runs as `python -m binaries.<name>` (not imported by a test)."""
  spec = getattr(sys.modules.get("__main__"), "__spec__", None)
  return bool(spec and spec.name.startswith("binaries."))


def fail(message):
  """Prints `error: <message>` and exits with status 2; a second SIGINT no longer interrupts it."""
  if _binary_is_the_program():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


_INTERRUPTED = ("Interrupted (SIGINT) {when}; checkpoints and finished results are kept: run the "
                "same command again to continue.")


def _interrupted_while_starting(signum, frame):
  del signum, frame
  fail(_INTERRUPTED.format(when="while starting"))


# Until run_cli takes over, a SIGINT (importing TensorFlow, parsing flags) is one line too.
if _binary_is_the_program():
  signal.signal(signal.SIGINT, _interrupted_while_starting)


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
  from tfdis import flagfiles  # pylint: disable=g-import-not-at-top
  from tfdis.errors import UsageError  # pylint: disable=g-import-not-at-top
  signal.signal(signal.SIGINT, signal.default_int_handler)  # KeyboardInterrupt from here on
  try:
    flagfiles.check_flagfile_includes(sys.argv[1:])
    return fn()
  except UsageError as e:
    fail(e)
  except KeyboardInterrupt:  # outside the training loop (which reports its own): set-up, export
    fail(_INTERRUPTED.format(when="outside the training loop"))
  except Exception as e:  # pylint: disable=broad-except  (re-raised unless the disk is full)
    if not _disk_full(e):
      raise
    detail = str(e).strip().splitlines()[0][:300]
    fail(f"No space left on the device ({detail}); free some space and run the same command "
         "again: checkpoints and finished results are kept.")


def make_main(run):
  """The absl `main` of a binary: no positional arguments, then `run_cli(run)`."""
  from absl import app  # pylint: disable=g-import-not-at-top

  del app

  def main(argv):
    if len(argv) > 1:
      fail(f"Unexpected arguments {argv[1:]}; every option is a --name=value flag.")
    run_cli(run)  # absl would take a returned value for the exit status
  return main


def parse_flags(argv):
  """absl's flag parsing, with the project's `--flagfile=flags/...` found from any folder.

  When a flagfile named on the command line is not in the current folder but is under
  tfdis.flagfiles.FLAGS_ROOT (the repository root, or the installed package's copy of flags/),
  absl parses with the current folder set to FLAGS_ROOT, so the includes inside those files resolve
  too; flagfiles found in the current folder are then given to absl by absolute path. Parsing only
  stores flag values, so a relative --workdir still means the caller's folder. Otherwise this is
  absl's own parser, with --help and --helpfull; its errors, and flagfiles it cannot read or
  that hold a line that is no --flag, are one `error:` line and exit status 2.

  Use as `app.run(main, flags_parser=common.parse_flags)`.

  Args:
    argv: the command line, program name first.

  Returns:
    The arguments that are no flags, program name first.
  """
  from absl import flags  # pylint: disable=g-import-not-at-top
  from tfdis import flagfiles  # pylint: disable=g-import-not-at-top
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
  in_root = any(not os.path.isfile(path)
                and os.path.isfile(os.path.join(flagfiles.FLAGS_ROOT, path))
                for _, _, path in named)
  paths = [path for _, _, path in named]
  if in_root:
    for k, (i, prefix, path) in enumerate(named):
      if os.path.isfile(path):
        paths[k] = os.path.abspath(path)
        argv[i] = prefix + paths[k]
  with flagfiles.in_folder(flagfiles.FLAGS_ROOT) if in_root else contextlib.nullcontext():
    _check_flagfiles(paths)
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:  # absl's own parse_flags_with_usage would exit with status 1
      fail(_flag_error(e))


def _help_command():
  spec = getattr(sys.modules.get("__main__"), "__spec__", None)
  name = spec.name if spec and spec.name.startswith("binaries.") else "binaries.<name>"
  return f"python -m {name} --helpfull"


def _flag_error(error):
  """absl's flag error as one line that says what to do."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  message = " ".join(str(error).split()).rstrip(".")
  if isinstance(error, flags.UnrecognizedFlagError):
    return f"{message}; check its spelling ({_help_command()} lists every flag)."
  if isinstance(error, flags.IllegalFlagValueError):
    return (f"{message}; give a value of the flag's type and range ({_help_command()} lists "
            "them).")
  return f"{message}; see {_help_command()}."


def _check_flagfiles(paths, chain=()):
  """Exits with one error line for a flagfile absl cannot read or that holds no --flag line.

  absl reads a line that is no --flag (`batch_size 32`) as a positional argument, reported
  without the file or the line; a folder or a missing file as an unreadable one. Lines are read as
  absl reads them: blank ones and those starting with `#` or `//` are skipped, nested
  `--flagfile=` paths are resolved against the current folder. An include loop is left to
  `tfdis.flagfiles.check_flagfile_includes`.
  """
  for path in paths:
    real = os.path.realpath(path)
    if real in chain:
      continue
    if os.path.isdir(path):
      fail(f"Flagfile {path} is a folder; give the path of a flagfile (a text file of "
           "--name=value lines, e.g. flags/smoke.cfg).")
    if not os.path.isfile(path):
      fail(f"Flagfile {path} does not exist; give the path of a flagfile (a text file of "
           "--name=value lines, e.g. flags/smoke.cfg).")
    try:
      with open(path) as f:
        lines = f.readlines()
    except (OSError, UnicodeDecodeError) as e:
      fail(f"Flagfile {path} cannot be read ({getattr(e, 'strerror', None) or e}); give a "
           "readable text file of --name=value lines.")
    nested = []
    for number, line in enumerate(lines, start=1):
      if line.isspace() or line.startswith(("#", "//")):
        continue
      text = line.strip()
      if not text.startswith("-"):
        words = text.split(None, 1)
        example = (f"--{words[0]}={words[1].strip()}" if len(words) == 2 else "--name=value")
        fail(f"{path} line {number}: {text!r} is no --flag line (absl would read it as a "
             f"positional argument); write it as {example}, or start the line with # to make "
             "it a comment.")
      if text.startswith(("--flagfile=", "-flagfile=")):
        nested.append(os.path.expanduser(text.split("=", 1)[1].strip()))
    _check_flagfiles(nested, chain + (real,))
