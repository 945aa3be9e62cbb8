"""The one error type a user can fix: bad flags, bad data, an unusable workdir.

Binaries print `error: <message>` for these and exit with status 2, without a traceback; every
other exception is a bug and keeps its traceback. `check_integer_fields` is the one validator of
the integer kind: every integer setting of the library's configs is a count, a seed or an index,
so none may be negative (each config's `validate` calls it; settings that must be positive keep
their own, stricter check).
"""
import dataclasses


class UsageError(ValueError):
  """Bad input at a boundary; the message names the problem and the fix in one sentence."""


def write_failure(error):
  """The cause of a failed write in a few words ("No space left on device", "File too large").

  `error` is an OSError or a tf.errors.OpError, whose message ends with the OS's words after a
  file name and a semicolon, e.g. "ckpt-2_temp/part-0; No space left on device [Op:SaveV2]".
  """
  if isinstance(error, OSError):
    return error.strerror or type(error).__name__
  text = str(error).strip().rsplit(";", 1)[-1].split("[Op:")[0].strip()
  return text or type(error).__name__


def check_integer_fields(config):
  """Raises UsageError for the first integer field of the dataclass `config` that is negative."""
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    if field.type in (int, "int") and not isinstance(value, bool) and value < 0:
      kind = "a seed" if field.name == "seed" or field.name.endswith("_seed") else "a count"
      raise UsageError(f"--{field.name}={value} is negative; it is {kind}, so give a number "
                       ">= 0.")
