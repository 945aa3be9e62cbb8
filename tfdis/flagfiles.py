"""Flagfiles read by absl into config dataclasses, as the binaries read them.

A flagfile holds one `--name=value` per line and may include others with `--flagfile=`; absl reads
them (later lines win). `config_from_flagfiles` parses flagfiles on a fresh `flags.FlagValues` that
holds one flag per field of a config dataclass (its type and default), so a driver running several
binaries' flagfiles in one process (tfdis.reproduce) reads each as its binary would, and defines
nothing on absl's global FLAGS. The binaries' own flags (one definition each, with help texts and
choices) are binaries/flag_defs.py's.
"""
import contextlib
import dataclasses
import os

from absl import flags

from tfdis.errors import UsageError

# The folder holding flags/, the flagfiles, which name each other by paths relative to it: the
# repository root in a checkout or an editable install; the package itself when tfdis is installed
# from a wheel, which ships flags/ as tfdis/flags (setup.py).
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
FLAGS_ROOT = (_PACKAGE_DIR if os.path.isdir(os.path.join(_PACKAGE_DIR, "flags"))
              else os.path.dirname(_PACKAGE_DIR))


def define_flag(name, type_, default, help_text, flag_values, choices=None, lower_bound=None,
                module_name=None):
  """Defines the flag `name` of Python type `type_` (bool, int, float, list, str) on flag_values.

  `module_name` is the module absl records as the flag's definer (default: this one).
  """
  args = (name, default, help_text)
  kw = dict(flag_values=flag_values, module_name=module_name or __name__)
  if choices:
    flags.DEFINE_enum(name, default, choices, help_text, **kw)
  elif type_ is bool:
    flags.DEFINE_bool(*args, **kw)
  elif type_ is int:
    flags.DEFINE_integer(*args, lower_bound=lower_bound, **kw)
  elif type_ is float:
    flags.DEFINE_float(*args, **kw)
  elif type_ is list:
    flags.DEFINE_list(*args, **kw)
  else:
    flags.DEFINE_string(*args, **kw)


def config_from_flags(config_class, flag_values):
  """`config_class` from the parsed flags of its fields."""
  return config_class(**{f.name: flag_values[f.name].value
                         for f in dataclasses.fields(config_class)})


@contextlib.contextmanager
def in_folder(path):
  """Runs the body with `path` as the current folder, then returns to the caller's folder."""
  caller_dir = os.getcwd()
  os.chdir(path)
  try:
    yield
  finally:
    os.chdir(caller_dir)


def _existing(path):
  """`path` as given if it exists, else relative to FLAGS_ROOT; UsageError if neither."""
  for candidate in (path, os.path.join(FLAGS_ROOT, path)):
    if os.path.isfile(candidate):
      return candidate
  raise UsageError(f"Flagfile {path} does not exist (looked in the current folder and in "
                   f"{FLAGS_ROOT}); give the path of a file under flags/.")


def _flagfiles_named(lines):
  """The paths of the `--flagfile=` / `--flagfile <path>` arguments among `lines`."""
  named = []
  for i, line in enumerate(lines):
    line = line.strip()
    if line.startswith("--flagfile="):
      named.append(line[len("--flagfile="):])
    elif line == "--flagfile" and i + 1 < len(lines):
      named.append(lines[i + 1].strip())
  return named


def check_flagfile_includes(argv, chain=()):
  """Raises UsageError when a flagfile named in `argv` includes itself, directly or not.

  absl skips such an include with a warning and goes on, so part of what the user wrote would be
  silently dropped. Paths resolve as absl resolves them: against the current folder.
  """
  for path in _flagfiles_named(argv):
    real = os.path.realpath(path)
    if real in chain:
      loop = " -> ".join(list(chain[chain.index(real):]) + [real])
      raise UsageError(f"Flagfile {path} includes itself ({loop}); remove that --flagfile line.")
    if os.path.isfile(real):
      with open(real) as f:
        check_flagfile_includes(f.read().splitlines(), chain + (real,))


def config_from_flagfiles(config_class, paths, overrides=None):
  """`config_class` from flagfiles parsed by absl in order (later ones win), then `overrides`.

  Flags the files do not set keep their defaults. A flag that is no field of `config_class` is an
  error: the file was written for another binary. Nested `--flagfile=` paths are resolved as absl
  does, against the current folder, or against FLAGS_ROOT when `paths` are found only
  there (so a driver finds flags/... from any folder).

  Args:
    config_class: a config dataclass (each field a flag of its type and default).
    paths: flagfile paths.
    overrides: optional {field: value} applied after the files.
  """
  found = [_existing(p) for p in paths]
  in_root = any(p != f for p, f in zip(paths, found))
  argv = ["flagfile"] + [f"--flagfile={os.path.abspath(f)}" for f in found]
  flag_values = flags.FlagValues()
  for field in dataclasses.fields(config_class):
    define_flag(field.name, field.type, field.default, f"{config_class.__name__}.{field.name}",
                flag_values)
  where = ", ".join(paths)
  try:
    with in_folder(FLAGS_ROOT) if in_root else contextlib.nullcontext():
      check_flagfile_includes(argv)
      rest = flag_values(argv)
  except flags.UnrecognizedFlagError as e:
    raise UsageError(f"{where}: --{e.flagname} is not a setting of {config_class.__name__}; is "
                     "this the flagfile of another binary?") from None
  except flags.Error as e:
    raise UsageError(f"{where}: {e}") from None
  if len(rest) > 1:
    raise UsageError(f"{where}: {rest[1]!r} is not a --flag line.")
  return dataclasses.replace(config_from_flags(config_class, flag_values), **(overrides or {}))
