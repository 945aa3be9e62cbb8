"""The one error type a user can fix: bad flags, bad data, an unusable workdir.

Binaries print `error: <message>` for these and exit with status 2, without a traceback; every
other exception is a bug and keeps its traceback.
"""


class UsageError(ValueError):
  """Bad input at a boundary; the message names the problem and the fix in one sentence."""
