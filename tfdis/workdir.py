"""Whole-file writes: a temporary file, then a rename, so a reader (or a resumed run) never sees half."""
import json
import os


def write_text(path, text):
  """Writes `text` to `path` atomically (creating its folder)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    f.write(text)
  os.replace(path + ".tmp", path)


def write_json(path, obj):
  """Writes `obj` as indented, key-sorted JSON to `path` atomically."""
  write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path, default=None):
  """The JSON at `path`, or `default` if there is no such file."""
  if not os.path.exists(path):
    return default
  with open(path) as f:
    return json.load(f)
