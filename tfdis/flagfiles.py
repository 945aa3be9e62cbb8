"""Reads absl flagfiles into config dataclasses, so a driver can run a binary's flagfile in-process.

The flagfiles under flags/ are the single record of each experiment's settings. `binaries.reproduce`
runs many experiments in one process; it reads their flagfiles with `read` and builds each config
with `config_from_file`, instead of re-parsing the process's global FLAGS.

Syntax (absl's): one `--name=value` per line, `--name` / `--noname` for booleans, `#` comments,
`--flagfile=<path>` includes another file (later lines override earlier ones).
"""
import dataclasses
import os

from tfdis.errors import UsageError

# The folder holding flags/: flagfiles name each other by paths relative to it.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def resolve(path):
  """`path` as given if it exists, else relative to the project root; UsageError if neither."""
  for candidate in (path, os.path.join(PROJECT_ROOT, path)):
    if os.path.isfile(candidate):
      return candidate
  raise UsageError(f"Flagfile {path} does not exist (looked in the current folder and in "
                   f"{PROJECT_ROOT}); give the path of a file under flags/.")


def read(path, _seen=()):
  """{name: raw string value} of a flagfile and the files it includes, in the order absl applies."""
  path = resolve(path)
  key = os.path.realpath(path)
  if key in _seen:
    raise UsageError(f"Flagfile {path} includes itself (through --flagfile); remove the cycle.")
  values = {}
  with open(path) as f:
    for number, line in enumerate(f, 1):
      line = line.strip()
      if not line or line.startswith("#"):
        continue
      if not line.startswith("--"):
        raise UsageError(f"{path}:{number}: {line!r} is not a --flag line.")
      name, has_value, value = line[2:].partition("=")
      if name == "flagfile":
        values.update(read(value, _seen + (key,)))
      elif has_value:
        values[name] = value
      elif name.startswith("no"):
        values[name[2:]] = "false"
      else:
        values[name] = "true"
  return values


def _convert(name, text, kind, where):
  try:
    if kind is bool:
      if text.lower() in ("true", "1", "yes"):
        return True
      if text.lower() in ("false", "0", "no"):
        return False
      raise ValueError(text)
    return kind(text)
  except ValueError:
    raise UsageError(f"{where}: --{name}={text} is not a valid {kind.__name__}.") from None


def config_from_file(config_class, path, overrides=None, ignore=()):
  """`config_class` built from the flagfile at `path`, then `overrides` (a dict of field values).

  Fields the file does not set keep their dataclass defaults. A flag in the file that is not a
  field (and not in `ignore`) is an error: the file was written for another binary.
  """
  fields = {f.name: f.type for f in dataclasses.fields(config_class)}
  values = {}
  for name, text in read(path).items():
    if name in ignore:
      continue
    if name not in fields:
      raise UsageError(f"{path}: --{name} is not a setting of {config_class.__name__}; is this "
                       "the flagfile of another binary?")
    values[name] = _convert(name, text, fields[name], path)
  values.update(overrides or {})
  return config_class(**values)
