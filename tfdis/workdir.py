"""A run's folder: whole-file writes, the settings check for resuming, and time formatting.

Every result file is written whole (a temporary file, then a rename), so a reader or a resumed
run never sees half of one. JSON is written with sorted keys; NaN and infinities become null
(JSON has no NaN), numpy scalars and arrays become numbers and lists.

A folder that holds a run remembers the settings that define it (`check_settings`); the same
command with other settings is refused with one line naming the fields that differ, and the
same settings resume it.
"""
import csv
import io
import json
import math
import os

import numpy as np

from tfdis.errors import UsageError


def prepare(workdir, flag="--workdir"):
  """Creates `workdir` if needed and checks that it can be written; returns it."""
  if not workdir:
    raise UsageError(f"{flag} is required; give a folder for checkpoints and results, "
                     f"e.g. {flag}=runs/shared.")
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, ".write_probe")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise UsageError(f"{flag}={workdir} cannot be written ({e.strerror}); "
                     "choose a folder you can write to.") from None
  return workdir


def finite_or_none(x):
  """float(x), or None when it is NaN or infinite (JSON's null)."""
  x = float(x)
  return x if math.isfinite(x) else None


def jsonable(obj):
  """`obj` with numpy values as Python ones, tuples as lists, str keys, NaN/inf as None."""
  if isinstance(obj, dict):
    return {str(k): jsonable(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple, np.ndarray)):
    return [jsonable(v) for v in list(obj)]
  if isinstance(obj, (bool, np.bool_)):
    return bool(obj)
  if isinstance(obj, (float, np.floating)):
    return finite_or_none(obj)
  if isinstance(obj, np.integer):
    return int(obj)
  return obj


def write_text(path, text):
  """Writes `text` to `path` whole (creating its folder)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    f.write(text)
  os.replace(path + ".tmp", path)


def write_json(path, obj):
  """Writes `jsonable(obj)` as indented, key-sorted JSON to `path`, whole."""
  write_text(path, json.dumps(jsonable(obj), indent=2, sort_keys=True) + "\n")


def write_csv(path, header, rows):
  """Writes a CSV with `header` (column names) and `rows` (sequences) to `path`, whole."""
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator="\n")
  writer.writerow(header)
  writer.writerows(rows)
  write_text(path, buffer.getvalue())


def read_json(path, default=None):
  """The JSON at `path`, or `default` if there is no such file; a damaged file is a UsageError."""
  if not os.path.exists(path):
    return default
  try:
    with open(path) as f:
      return json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise UsageError(f"{path} is damaged ({e.__class__.__name__}: {e}); delete it (or its folder) "
                     "and run the command again.") from None


def differing_fields(saved, mine, ignore=(), defaults=None):
  """Sorted names of the fields of `mine` whose value in `saved` differs (lists: per element).

  `ignore` names fields that may change between a run and its resumption; `defaults` gives the
  value of a field that `saved` lacks (a field added after it was written).
  """
  if isinstance(mine, list):
    if not isinstance(saved, list) or len(saved) != len(mine):
      return ["length"]
    return sorted({k for s, m in zip(saved, mine) for k in differing_fields(s, m, ignore, defaults)})
  defaults = defaults or {}
  return sorted(k for k in mine if k not in ignore and saved.get(k, defaults.get(k)) != mine[k])


def check_settings(path, settings, what="a run", ignore=(), defaults=None, write=True,
                   flag="--workdir"):
  """Refuses a folder whose settings file `path` holds other `settings`; else records them.

  Args:
    path: the settings file, e.g. <workdir>/config.json.
    settings: a JSON-able dict (or list of dicts) defining the run.
    what: what the folder holds, for the message ("a run", "competition results", ...).
    ignore: fields that may differ (e.g. num_steps: a run can be continued further).
    defaults: values for fields missing from an older settings file.
    write: record `settings` (False keeps the file as first written).
    flag: the flag that named the folder, for the message.

  Raises:
    UsageError naming the differing fields and the two ways out.
  """
  saved = read_json(path)
  if saved is not None:
    differ = differing_fields(saved, jsonable(settings), ignore, defaults)
    if differ:
      folder = os.path.dirname(path)
      raise UsageError(f"{flag}={folder} holds {what} with different {', '.join(differ)}; "
                       f"use a new {flag} or the same flags to resume it.")
    if not write:
      return
  write_json(path, settings)


def format_seconds(seconds):
  """'1h05m' for an hour or more, else '4m07s'."""
  seconds = int(round(seconds))
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else (
      f"{seconds // 60}m{seconds % 60:02d}s")
