"""A run's folder: whole-file writes, the settings check for resuming, and time formatting.

Every result file is written whole (a temporary file, then a rename), so a reader or a resumed
run never sees half of one. JSON is written with sorted keys; NaN and infinities become null
(JSON has no NaN), numpy scalars and arrays become numbers and lists.

A folder that holds a run remembers the settings that define it (`check_settings`); the same
command with other settings is refused with one line naming the fields that differ, and the
same settings resume it. One process at a time writes a folder (`lock`), and results that a
continued run will replace are moved aside first (`set_aside`), so no file describes a model
the folder no longer holds.
"""
import contextlib
import csv
import errno
import fcntl
import io
import json
import math
import os
import shutil

import numpy as np

from tfdis.errors import UsageError


def prepare(workdir, flag="--workdir"):
  """Creates `workdir` if needed and checks that it can be written; returns it.

  A folder that cannot be written is refused with one line (a full disk or a file-size limit:
  free space; otherwise: another folder), leaving no probe file and no folder this call made.
  """
  if not workdir:
    raise UsageError(f"{flag} is required; give a folder for checkpoints and results, "
                     f"e.g. {flag}=runs/shared.")
  made = _missing_folders(workdir)
  probe = os.path.join(workdir, ".write_probe")
  try:
    os.makedirs(workdir, exist_ok=True)
    with open(probe, "w") as f:
      f.write("ok")
  except OSError as e:
    remove_made(made, [probe])
    if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
      raise UsageError(f"{flag}={workdir} cannot be written ({e.strerror}); free space on its "
                       "device (or raise the file-size limit, ulimit -f) and run the same "
                       "command again.") from None
    raise UsageError(f"{flag}={workdir} cannot be written ({e.strerror}); "
                     "choose a folder you can write to.") from None
  os.remove(probe)
  return workdir


def _missing_folders(path):
  """The folders of `path` that do not exist yet, deepest first (what makedirs would create)."""
  missing = []
  path = os.path.abspath(path)
  while path and not os.path.exists(path):
    missing.append(path)
    parent = os.path.dirname(path)
    if parent == path:
      break
    path = parent
  return missing


def remove_made(folders, paths=()):
  """Removes the files `paths` if present, then each of `folders` (deepest first) left empty."""
  for path in paths:
    if os.path.isfile(path):
      os.remove(path)
  for folder in folders:
    try:
      os.rmdir(folder)
    except OSError:  # absent, or it holds something: keep it
      pass


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


@contextlib.contextmanager
def whole_file(path):
  """Yields a temporary path beside `path` (same extension) that becomes `path` on success.

  For writers that take a path (matplotlib, PNG encoders): the file appears whole or not at
  all, and a failed write (a full disk) leaves the old file and no temporary one.
  """
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  root, ext = os.path.splitext(path)
  tmp = f"{root}.tmp{ext}"
  try:
    yield tmp
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_text(path, text):
  """Writes `text` to `path` whole (creating its folder); a failed write leaves the old file."""
  with whole_file(path) as tmp:
    with open(tmp, "w") as f:
      f.write(text)


def write_bytes(path, data):
  """Writes the bytes `data` to `path` whole (creating its folder)."""
  with whole_file(path) as tmp:
    with open(tmp, "wb") as f:
      f.write(data)


def read_bytes(path):
  """The bytes of the file at `path`."""
  with open(path, "rb") as f:
    return f.read()


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


def _kind(value):
  """The JSON kind of `value`, with a number's int / float kept apart from bool."""
  if value is None:
    return None
  for kind, types in (("a boolean", bool), ("a whole number", int), ("a number", float),
                      ("a string", str), ("a list", (list, tuple)), ("an object", dict)):
    if isinstance(value, types):
      return kind
  return type(value).__name__


def check_saved_types(path, saved, template):
  """Raises UsageError when `saved` (read from `path`) is not shaped like `template`.

  A settings file can be damaged yet parse (a JSON list; `"hidden_units": "sixteen"`): it must be
  an object (a list of them, if `template` is a list) whose fields have the kinds of `template`'s
  (a number may be whole; a field that is null or absent in either is not checked).
  """
  def damaged(why):
    return UsageError(f"{path} is damaged ({why}); delete it and run the command again with the "
                      "flags the folder's run was made with.")
  if isinstance(template, list):
    if not isinstance(saved, list):
      raise damaged(f"it holds {_kind(saved)}, not a list of settings")
    for saved_item, item in zip(saved, template):
      check_saved_types(path, saved_item, item)
    return
  if not isinstance(saved, dict):
    raise damaged(f"it holds {_kind(saved)}, not an object of settings")
  for name, value in template.items():
    mine, theirs = _kind(value), _kind(saved.get(name))
    if None in (mine, theirs) or mine == theirs or (mine, theirs) == ("a number",
                                                                      "a whole number"):
      continue
    raise damaged(f"{name} is {saved[name]!r}, not {mine}")


def check_settings(path, settings, what="a run", ignore=(), defaults=None, write=True,
                   flag="--workdir", check_only=False):
  """Refuses a folder whose settings file `path` holds other `settings`; else records them.

  Args:
    path: the settings file, e.g. <workdir>/config.json.
    settings: a JSON-able dict (or list of dicts) defining the run.
    what: what the folder holds, for the message ("a run", "competition results", ...).
    ignore: fields that may differ (e.g. num_steps: a run can be continued further).
    defaults: values for fields missing from an older settings file.
    write: record `settings` (False keeps the file as first written).
    flag: the flag that named the folder, for the message.
    check_only: only refuse, never write (record later, once the settings proved usable).

  Raises:
    UsageError naming the differing fields and the two ways out.
  """
  saved = read_json(path)
  if saved is not None:
    check_saved_types(path, saved, jsonable(settings))
    differ = differing_fields(saved, jsonable(settings), ignore, defaults)
    if differ:
      folder = os.path.dirname(path)
      raise UsageError(f"{flag}={folder} holds {what} with different {', '.join(differ)}; "
                       f"use a new {flag} or the same flags to resume it.")
    if not write:
      return
  if not check_only:
    write_json(path, settings)


@contextlib.contextmanager
def lock(workdir, binary, name=".lock", create=True, flag="--workdir"):
  """Holds <workdir>/<name> for one process: a second one on the same folder is refused.

  Args:
    workdir: the folder (see `prepare`).
    binary: the command, for the message (e.g. "binaries.train").
    name: the lock file; processes meant to share a folder (shards) take one each.
    create: create a missing folder; False: a missing folder is not locked (a reader that
      will report it missing).
    flag: the flag that named the folder, for the messages.

  Raises:
    UsageError: another process holds the lock.

  A run that ends in an exception (refused, interrupted) removes the lock file if it made it, and
  the folders it made if they are left empty.
  """
  if not create and not os.path.isdir(workdir or ""):
    yield workdir
    return
  made = _missing_folders(workdir or ".") if workdir else []
  prepare(workdir, flag)
  path = os.path.join(workdir, name)
  made_lock = not os.path.exists(path)
  handle = open(path, "a+")
  try:
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError:
    handle.close()
    raise UsageError(f"Another {binary} is running in {flag}={workdir}; wait for it to end "
                     "or stop it first.") from None
  try:
    yield workdir
  except BaseException:
    # A refused or interrupted run leaves no lock file nor an empty folder it made.
    if made_lock:
      os.remove(path)
    remove_made(made)
    raise
  finally:
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


def check_shard(num_shards, shard_index):
  """Raises UsageError unless 0 <= shard_index < num_shards."""
  if num_shards < 1:
    raise UsageError(f"--num_shards={num_shards} must be a positive integer.")
  if not 0 <= shard_index < num_shards:
    raise UsageError(f"--shard_index={shard_index} must be in [0, --num_shards={num_shards}); "
                     "number the shards 0 .. num_shards - 1.")


def shard(items, num_shards, shard_index):
  """The items of shard `shard_index` of `num_shards`: dealt round robin, every num_shards-th.

  The one sharding rule of tfdis (binaries.compete's seed batches, binaries.reproduce's runs): the
  shards of a list are disjoint, cover it, and each is fixed by the list's order alone, so
  processes that never talk to each other agree on who does what.
  """
  check_shard(num_shards, shard_index)
  return list(items)[shard_index::num_shards]


def set_aside(workdir, names, folder):
  """Moves the result files `names` present in `workdir` into <workdir>/<folder>/; returns them."""
  moved = []
  for name in names:
    path = os.path.join(workdir, name)
    if os.path.exists(path):
      target = os.path.join(workdir, folder, name)
      os.makedirs(os.path.dirname(target), exist_ok=True)
      if os.path.isdir(target):
        shutil.rmtree(target)
      os.replace(path, target)
      moved.append(name)
  return moved


def format_seconds(seconds):
  """'1h05m' for an hour or more, else '4m07s'."""
  seconds = int(round(seconds))
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else (
      f"{seconds // 60}m{seconds % 60:02d}s")
