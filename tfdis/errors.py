"""The one error type a user can fix: bad flags, bad data, an unusable workdir.

Binaries print `error: <message>` for these and exit with status 2, without a traceback; every
other exception is a bug and keeps its traceback. `check_integer_fields` is the one validator of
the integer kind: every integer setting of the library's configs is a count, a seed or an index,
so none may be negative (each config's `validate` calls it; settings that must be positive keep
their own, stricter check), and a seed is at most MAX_SEED.
"""
import dataclasses


# numpy takes seeds up to 2**32 - 1; tfdis adds small offsets to a seed (seed + 1 for LP's z,
# seed + k for the k-th seed of a sweep or the k-th routed group), so a seed leaves room for them.
MAX_SEED = 2**31 - 1


def is_seed(name):
  """True for a field that holds a seed: `seed` or `<something>_seed`."""
  return name == "seed" or name.endswith("_seed")


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
  """Raises UsageError for the first int field of `config` < 0, or a seed above MAX_SEED."""
  for field in dataclasses.fields(config):
    value = getattr(config, field.name)
    if field.type not in (int, "int") or isinstance(value, bool):
      continue
    kind = "a seed" if is_seed(field.name) else "a count"
    if value < 0:
      raise UsageError(f"--{field.name}={value} is negative; it is {kind}, so give a number "
                       ">= 0.")
    if is_seed(field.name) and value > MAX_SEED:
      raise UsageError(f"--{field.name}={value} is too large for a seed; give a number from 0 to "
                       f"{MAX_SEED} (2**31 - 1: numpy takes seeds below 2**32 and tfdis adds "
                       "small offsets to them).")
