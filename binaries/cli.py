"""The `tfdis` console command: one entry point for the absl programs of binaries/.

  tfdis --help                                   # the subcommands, one line each
  tfdis train --flagfile=flags/smoke.cfg --workdir=runs/smoke
  tfdis evaluate --workdir=runs/smoke
  tfdis <subcommand> --help                      # that program's flags

`tfdis <name> <flags>` runs exactly what `python -m binaries.<name> <flags>` runs: the module is
executed as `__main__` (as `python -m` does), with the same flags, flagfile lookup, exit statuses
and `error:` lines. `tfdis <name> --help` prints the module's docstring and every flag it reads,
one line each (absl's own --help lists only flags defined in the main module, and the binaries
define theirs in the flag definitions module; --helpfull is absl's, unchanged). `pip install .`
puts the command on the PATH (setup.py, console_scripts).
"""
import ast
import importlib.util
import runpy
import sys

# The subcommands, in the order `tfdis --help` lists them: binaries/<name>.py each.
SUBCOMMANDS = ("train", "evaluate", "reproduce", "compete", "regress", "bench")


def docstring(name):
  """binaries/<name>.py's docstring as written (line continuations kept), read without importing
  it (no TF)."""
  spec = importlib.util.find_spec(f"binaries.{name}")
  with open(spec.origin, encoding="utf-8") as f:
    source = f.read()
  tree = ast.parse(source)
  if not (tree.body and isinstance(tree.body[0], ast.Expr)
          and isinstance(getattr(tree.body[0], "value", None), ast.Constant)):
    return ""
  node = tree.body[0]
  text = "\n".join(source.splitlines()[node.lineno - 1:node.end_lineno]).strip()
  return text.strip('"').strip("'").strip()


def summary(name):
  """The first line of binaries/<name>.py's docstring."""
  text = docstring(name)
  return text.splitlines()[0] if text else ""


def flag_api():
  """(flag_specs, flag_names) of the flag definitions: the one place that knows their module."""
  from binaries import common  # pylint: disable=g-import-not-at-top,unused-import  (quiet TF)
  from binaries import flag_defs  # pylint: disable=g-import-not-at-top
  return flag_defs.flag_specs, flag_defs.flag_names


def subcommand_help(name):
  """The text of `tfdis <name> --help`: the module's docstring, then its flags, one line each."""
  flag_specs, flag_names = flag_api()
  specs = flag_specs()
  lines = [docstring(name), "", f"flags of tfdis {name} (python -m binaries.{name}):"]
  for flag in flag_names(name):
    default = specs[flag].default
    lines.append(f"  --{flag}: {specs[flag].help} (default: {default!r})")
  lines += ["", "Try --helpfull for absl's own flags too; docs/flags.md has them all."]
  return "\n".join(lines)


def usage():
  """The text of `tfdis --help`."""
  width = max(len(name) for name in SUBCOMMANDS)
  lines = ["usage: tfdis <subcommand> [--flags]   (the same as python -m binaries.<subcommand>)",
           "", "subcommands:"]
  lines += [f"  {name:<{width}}  {summary(name)}" for name in SUBCOMMANDS]
  lines += ["", "tfdis <subcommand> --help lists that subcommand's flags."]
  return "\n".join(lines)


def main(argv=None):
  """Runs `tfdis <subcommand> <flags>`; returns an exit status for the help and usage errors."""
  argv = list(sys.argv if argv is None else argv)
  if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
    print(usage())
    return 0
  name = argv[1]
  if name not in SUBCOMMANDS:
    print(f"error: tfdis has no subcommand {name!r}; choose one of {', '.join(SUBCOMMANDS)} "
          "(tfdis --help).", file=sys.stderr)
    return 2
  if any(arg in ("-h", "--help", "-help", "--helpshort") for arg in argv[2:]):
    print(subcommand_help(name))
    return 0
  # absl reads sys.argv: the program name it shows in its messages is `tfdis <name>`.
  sys.argv = [f"tfdis {name}"] + argv[2:]
  runpy.run_module(f"binaries.{name}", run_name="__main__", alter_sys=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
