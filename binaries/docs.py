"""The documentation's generated sections, and the checks that keep README.md and docs/ true.

  python -m binaries.docs --write    # regenerate every marked section in place
  python -m binaries.docs --check    # exit 1 naming each stale section or dangling link

A page holds a generated section between two marker comments,

  <!-- BEGIN GENERATED: <name> -->
  ...
  <!-- END GENERATED: <name> -->

whose body is `SECTIONS[name]()` (the paper's claims from the committed results, the flag
reference from the flag definitions), never typed by hand. A fenced ```sh or ```python block right
after a `<!-- runnable -->` comment is a command the docs check (tests/test_docs.py) runs; at
smoke scale when the comment says how: `<!-- runnable; smoke: A => B; C => D -->` runs the block
with each text A replaced by B. This module imports no TensorFlow except through the flag
definitions (the flag reference).
"""
import argparse
import json
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The committed full-scale results the results tables are generated from.
RESULTS = os.path.join("reports", "full", "results.json")

_BEGIN = re.compile(r"<!-- BEGIN GENERATED: ([\w-]+) -->\n")
_RUNNABLE = re.compile(r"<!-- runnable(?:; smoke: (.*?))? -->\n```(sh|python)\n(.*?)```",
                       re.DOTALL)
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)


def pages(root=REPO):
  """The documentation pages under `root`: README.md, BUILD.md, docs/*.md (those that exist)."""
  found = [os.path.join(root, name) for name in ("README.md", "BUILD.md")]
  docs = os.path.join(root, "docs")
  if os.path.isdir(docs):
    found += [os.path.join(docs, n) for n in sorted(os.listdir(docs)) if n.endswith(".md")]
  return [p for p in found if os.path.isfile(p)]


# --- the generated sections -------------------------------------------------------------------

def _cell(text):
  """`text` as one markdown table cell."""
  return str(text).replace("|", "\\|").replace("\n", " ")


def _verdict(check):
  """yes / NO / the untestable wording, as the report prints it."""
  return {"yes": "yes", "no": "NO"}.get(check["verdict"], check["verdict"])


def _results(root):
  with open(os.path.join(root, RESULTS), encoding="utf-8") as f:
    return json.load(f)


def results_summary(root=REPO):
  """README's table: every claim check of the committed full-scale results, one line each."""
  results = _results(root)
  checks = results["expectations"]
  held = sum(c["verdict"] == "yes" for c in checks)
  lines = [f"{held} of the paper's {len(checks)} claim checks say yes at {results['scale']} "
           f"scale ([`{RESULTS}`]({RESULTS}); the measured column is the first part of each "
           "check's numbers, [docs/results.md](docs/results.md) has them whole).", "",
           "| claim | measured | verdict |", "| --- | --- | --- |"]
  for check in checks:
    lines.append(f"| {_cell(check['claim'])} | {_cell(check['measured'].split('; ')[0])} | "
                 f"{_verdict(check)} |")
  return "\n".join(lines)


def results_claims(root=REPO):
  """docs/results.md's table: every claim check with its numbers and the reason of a NO."""
  results = _results(root)
  lines = [f"From [`{RESULTS}`](../{RESULTS}), made by `{results['command']}`.", "",
           "| claim | measured | verdict |", "| --- | --- | --- |"]
  for check in results["expectations"]:
    why = f": {check['why']}" if check.get("why") else ""
    lines.append(f"| {_cell(check['claim'])} | {_cell(check['measured'])} | "
                 f"{_cell(_verdict(check) + why)} |")
  return "\n".join(lines)


def _interval(summary, digits=3):
  """'value [low, high]' of a {value, interval} summary."""
  low, high = summary["interval"]
  return f"{summary['value']:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def results_models(root=REPO):
  """docs/results.md's table of every trained model: means over seeds with t intervals."""
  results = _results(root)
  lines = ["Mean over seeds [95% t interval over seeds]; from "
           f"[`{RESULTS}`](../{RESULTS}), `conditions`.", "",
           "| model | stage | seeds | test ELBO | LP | SP | SP of the entangled counterpart | "
           "SP per seed |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
  for name, c in results["conditions"].items():
    per_seed = ", ".join(f"{v:.3f}" for v in c["sp"]["per_seed"])
    entangled = _interval(c["entangled_sp"]) if c.get("entangled_sp") else ""
    lines.append(f"| {_cell(c['title'])} (`{name}`) | {c['stage']} | "
                 f"{', '.join(map(str, c['seeds']))} | {_interval(c['elbo'], 2)} | "
                 f"{_interval(c['lp'])} | **{_interval(c['sp'])}** | {entangled} | {per_seed} |")
  return "\n".join(lines)


def results_competition(root=REPO):
  """docs/results.md's App. B table: verdict counts, win rate, lean and the paper's verdict."""
  results = _results(root)
  lines = [f"From [`{RESULTS}`](../{RESULTS}), `competition`.", "",
           "| condition | steps | paper | encoder / decoder / inconclusive | encoder wins of all "
           "runs [95% Wilson] | median SP μ_p | median SP μ'_p | mean Δ [95% t] | Δ > 0 / < 0, "
           "sign test p (floor) | paper's verdict |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for run in results["competition"].values():
    for name, c in sorted(run["conditions"].items()):
      all_runs = c["encoder_win_rate_all_runs"]
      lean = c["lean"]
      verdict = "holds" if c["agrees"] else f"NO (majority {c['majority_verdict']})"
      lines.append(
          f"| {name} | {run['steps']} | {c['expected_verdict']} wins | {c['encoder_wins']} / "
          f"{c['decoder_wins']} / {c['inconclusive']} | {all_runs['proportion']:.2f} "
          f"[{all_runs['interval'][0]:.2f}, {all_runs['interval'][1]:.2f}] | "
          f"{c['median_sp_mu']:.2f} | {c['median_sp_mu_prime']:.2f} | {lean['mean']:.2f} "
          f"[{lean['interval'][0]:.2f}, {lean['interval'][1]:.2f}] | {lean['positive']} / "
          f"{lean['negative']}, p = {lean['p_value']:.3g} ({lean['p_floor']:.3g}) | {verdict} |")
  return "\n".join(lines)


# The binaries whose flags docs/flags.md lists, in its order.
BINARIES = ("train", "evaluate", "reproduce", "compete", "regress", "bench")


def _default_text(spec):
  default = spec.default
  if isinstance(default, (list, tuple)):
    default = ",".join(map(str, default))
  if isinstance(default, bool):
    default = "true" if default else "false"
  text = "(none)" if default is None or default == "" else f"`{default}`"
  if spec.choices:
    text += " of " + " \\| ".join(f"`{c}`" for c in spec.choices)
  return text


def flag_reference(root=REPO):  # pylint: disable=unused-argument
  """docs/flags.md's body: every flag of every binary with its type, default and help."""
  from binaries import cli  # pylint: disable=g-import-not-at-top
  flag_specs, flag_names = cli.flag_api()
  specs = flag_specs()
  lines = []
  for binary in BINARIES:
    lines += [f"### {binary}", "",
              f"`tfdis {binary}` = `python -m binaries.{binary}`.", "",
              "| flag | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name in flag_names(binary):
      spec = specs[name]
      kind = getattr(spec.type, "__name__", str(spec.type))
      lines.append(f"| `--{name}` | {kind} | {_default_text(spec)} | {_cell(spec.help)} |")
    lines.append("")
  return "\n".join(lines).rstrip("\n")


def subcommands(root=REPO):  # pylint: disable=unused-argument
  """The `tfdis --help` listing as a table."""
  from binaries import cli  # pylint: disable=g-import-not-at-top
  lines = ["| command | what it does |", "| --- | --- |"]
  lines += [f"| `tfdis {name}` (`python -m binaries.{name}`) | {_cell(cli.summary(name))} |"
            for name in cli.SUBCOMMANDS]
  return "\n".join(lines)


SECTIONS = {"results": results_summary, "claims": results_claims, "models": results_models,
            "competition": results_competition, "flags": flag_reference,
            "subcommands": subcommands}


def generated_sections(text):
  """[(name, start, end)] of the generated sections' bodies in `text` (offsets of the body)."""
  found = []
  for match in _BEGIN.finditer(text):
    name = match.group(1)
    end_marker = f"<!-- END GENERATED: {name} -->"
    end = text.find(end_marker, match.end())
    if end < 0:
      raise ValueError(f"<!-- BEGIN GENERATED: {name} --> has no {end_marker}")
    found.append((name, match.end(), end))
  return found


def regenerate(text, root=REPO):
  """`text` with every generated section's body replaced by what the code generates now."""
  out, last = [], 0
  for name, start, end in generated_sections(text):
    if name not in SECTIONS:
      raise ValueError(f"unknown generated section {name!r}; known: {', '.join(SECTIONS)}")
    out += [text[last:start], SECTIONS[name](root).rstrip("\n") + "\n"]
    last = end
  return "".join(out) + text[last:]


def stale_sections(path, root=REPO):
  """The names of the generated sections of the page at `path` that differ from the code's."""
  with open(path, encoding="utf-8") as f:
    text = f.read()
  fresh = dict((name, text[s:e]) for name, s, e in generated_sections(regenerate(text, root)))
  return [name for name, s, e in generated_sections(text) if text[s:e] != fresh[name]]


# --- links and anchors -------------------------------------------------------------------------

def slug(heading):
  """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
  text = re.sub(r"[`*]", "", heading.strip().lower())
  text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
  text = re.sub(r"[^\w\- ]", "", text)
  return text.replace(" ", "-")


def anchors(text):
  """The anchors of a markdown page's headings (GitHub numbers repeated ones -1, -2, ...)."""
  seen, found = {}, set()
  for line in _FENCE.sub("", text).splitlines():
    match = re.match(r"#{1,6} (.*)", line)
    if match:
      base = slug(match.group(1))
      count = seen.get(base, 0)
      seen[base] = count + 1
      found.add(base if count == 0 else f"{base}-{count}")
  return found


def broken_links(path):
  """['<target>: <why>'] of the relative links and anchors of the page at `path` that dangle."""
  with open(path, encoding="utf-8") as f:
    text = f.read()
  problems = []
  for match in _LINK.finditer(_FENCE.sub("", text)):
    target = match.group(1) or match.group(2)
    if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
      continue
    file_part, _, anchor = target.partition("#")
    linked = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part \
        else path
    if not os.path.exists(linked):
      problems.append(f"{target}: {file_part} does not exist")
      continue
    if anchor:
      if not linked.endswith(".md") or os.path.isdir(linked):
        problems.append(f"{target}: an anchor into a file that is no markdown page")
        continue
      with open(linked, encoding="utf-8") as f:
        if anchor not in anchors(f.read()):
          problems.append(f"{target}: no heading #{anchor} in {file_part or 'this page'}")
  return problems


# --- runnable blocks ---------------------------------------------------------------------------

def runnable_blocks(path):
  """[(language, code as the smoke run executes it)] of the page's runnable blocks, in order."""
  with open(path, encoding="utf-8") as f:
    text = f.read()
  blocks = []
  for match in _RUNNABLE.finditer(text):
    smoke, language, code = match.groups()
    for pair in (smoke or "").split(";"):
      if pair.strip():
        old, _, new = pair.partition("=>")
        if old.strip() not in code:
          raise ValueError(f"{path}: the smoke replacement {old.strip()!r} is not in the block "
                           f"{code[:60]!r}")
        code = code.replace(old.strip(), new.strip().replace("{repo}", REPO))
    blocks.append((language, code))
  return blocks


def run_block(language, code, cwd, timeout=900):
  """Runs one runnable block in `cwd` as a reader would; returns the CompletedProcess.

  `tfdis` is this checkout's command (a shim for `python -m binaries.cli` first on the PATH, so
  the code under test runs even where the console script is not installed), and this checkout
  is importable, whatever the current folder.
  """
  shim_dir = os.path.join(cwd, ".tfdis_bin")
  os.makedirs(shim_dir, exist_ok=True)
  shim = os.path.join(shim_dir, "tfdis")
  with open(shim, "w", encoding="utf-8") as f:
    f.write(f'#!/bin/sh\nexec "{sys.executable}" -m binaries.cli "$@"\n')
  os.chmod(shim, 0o755)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PATH=os.pathsep.join([shim_dir, os.path.dirname(sys.executable),
                                   os.environ.get("PATH", "")]),
             PYTHONPATH=os.pathsep.join([REPO] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
  args = (["bash", "-euo", "pipefail", "-c", code] if language == "sh"
          else [sys.executable, "-c", code])
  return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  mode = parser.add_mutually_exclusive_group(required=True)
  mode.add_argument("--write", action="store_true", help="regenerate the marked sections")
  mode.add_argument("--check", action="store_true",
                    help="exit 1 when a generated section is stale or a link dangles")
  args = parser.parse_args(argv)
  problems = []
  for path in pages():
    name = os.path.relpath(path, REPO)
    if args.write:
      with open(path, encoding="utf-8") as f:
        text = f.read()
      fresh = regenerate(text)
      if fresh != text:
        with open(path, "w", encoding="utf-8") as f:
          f.write(fresh)
        print(f"wrote {name}")
    else:
      problems += [f"{name}: generated section {s!r} is stale; run python -m binaries.docs "
                   "--write" for s in stale_sections(path)]
      problems += [f"{name}: link {p}" for p in broken_links(path)]
  for problem in problems:
    print(problem, file=sys.stderr)
  return 1 if problems else 0


if __name__ == "__main__":
  sys.exit(main())
