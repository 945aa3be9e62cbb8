"""The docs check: README.md, BUILD.md and docs/ say what the code does now.

Every relative link and anchor resolves; every generated section (the results tables from the
committed reports/full/results.json, the flag reference from the flag definitions, the command
list) equals what binaries.docs generates now; every block marked runnable runs, at smoke scale,
as a reader following the pages in order would run it (one folder for all pages, so a later page
may use what README's quick starts wrote). And each of the three checks fails on a page broken
on purpose.
"""
import os
import re
import subprocess
import sys

import pytest

from binaries import docs

PAGES = docs.pages()
NAMES = [os.path.relpath(p, docs.REPO) for p in PAGES]


def test_the_pages_are_there_and_readme_is_one_page():
  assert NAMES[:2] == ["README.md", "BUILD.md"]
  for page in ("getting-started", "measure-your-generator", "reproduce-the-paper", "results",
               "split-layers", "troubleshooting", "flags"):
    assert f"docs/{page}.md" in NAMES, page
  with open(os.path.join(docs.REPO, "README.md"), encoding="utf-8") as f:
    readme = f.read()
  assert len(readme.splitlines()) <= 250
  with open(os.path.join(docs.REPO, "BUILD.md"), encoding="utf-8") as f:
    assert len(f.read().splitlines()) <= 200
  # The two set-up commands .ci/run runs.
  assert 'pip install -e ".[test]"' in readme
  assert "python -m pytest -q -n 2 --dist loadfile tests" in readme


@pytest.mark.parametrize("name", NAMES)
def test_no_commit_tracker_or_session_reference(name):
  with open(os.path.join(docs.REPO, name), encoding="utf-8") as f:
    found = [(i + 1, line) for i, line in enumerate(f.read().splitlines())
             if re.search(r"\b[0-9a-f]{7,40}\b|#[0-9]+\b|[Ss]ession [0-9]", line)]
  assert not found


@pytest.mark.parametrize("name", NAMES)
def test_every_relative_link_and_anchor_resolves(name):
  assert docs.broken_links(os.path.join(docs.REPO, name)) == []


@pytest.mark.parametrize("name", NAMES)
def test_every_generated_section_is_what_the_code_generates(name):
  assert docs.stale_sections(os.path.join(docs.REPO, name)) == []


def test_every_section_kind_is_on_a_page():
  used = set()
  for path in PAGES:
    with open(path, encoding="utf-8") as f:
      used |= {name for name, _, _ in docs.generated_sections(f.read())}
  assert used == set(docs.SECTIONS)


def test_the_results_table_has_one_row_per_claim():
  table = docs.results_summary()
  results = docs._results(docs.REPO)  # pylint: disable=protected-access
  rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
  assert len(rows) == 1 + len(results["expectations"])
  held = sum(e["verdict"] == "yes" for e in results["expectations"])
  assert table.startswith(f"{held} of the paper's {len(results['expectations'])} claim checks")


def test_the_runnable_blocks_run_at_smoke_scale(tmp_path):
  ran = 0
  for path in PAGES:
    for language, code in docs.runnable_blocks(path):
      result = docs.run_block(language, code, str(tmp_path))
      assert result.returncode == 0, (
          f"{os.path.relpath(path, docs.REPO)}:\n{code}\n{result.stdout[-2000:]}\n"
          f"{result.stderr[-3000:]}")
      ran += 1
  assert ran >= 8
  # What the quick starts wrote, where a reader would find it.
  assert (tmp_path / "runs" / "shared" / "evaluation.json").is_file()
  assert (tmp_path / "runs" / "shared_measured" / "evaluation.json").is_file()
  assert len(list((tmp_path / "runs" / "grid" / "0").glob("*.png"))) == 200
  assert (tmp_path / "runs" / "grid_measured" / "evaluation.json").is_file()


# --- each check fails on a page broken on purpose ------------------------------------------------

def _page(tmp_path, text, name="page.md"):
  path = tmp_path / name
  path.write_text(text, encoding="utf-8")
  return str(path)


def test_a_dangling_link_or_anchor_is_found(tmp_path):
  (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading, with punctuation!\n")
  page = _page(tmp_path, "# Title\n\n[ok](other.md) [ok](other.md#a-code-heading-with-punctuation)"
                         " [ok](#title) ![img](missing.png) [gone](nowhere.md) [bad](other.md#nope)"
                         " [self](#nope-here) [web](https://example.com/x)\n"
                         "```sh\n[not a link](inside-a-fence.md)\n```\n")
  assert docs.broken_links(page) == [
      "missing.png: missing.png does not exist", "nowhere.md: nowhere.md does not exist",
      "other.md#nope: no heading #nope in other.md",
      "#nope-here: no heading #nope-here in this page"]


def test_a_stale_generated_section_is_found_and_rewritten(tmp_path):
  fresh = docs.SECTIONS["results"](docs.REPO)
  stale = fresh.replace("| yes |", "| NO |", 1)
  assert stale != fresh
  page = _page(tmp_path, "# T\n\n<!-- BEGIN GENERATED: results -->\n" + stale
               + "\n<!-- END GENERATED: results -->\n\nprose\n")
  assert docs.stale_sections(page, docs.REPO) == ["results"]
  with open(page, encoding="utf-8") as f:
    rewritten = docs.regenerate(f.read(), docs.REPO)
  assert rewritten == ("# T\n\n<!-- BEGIN GENERATED: results -->\n" + fresh
                       + "\n<!-- END GENERATED: results -->\n\nprose\n")
  _page(tmp_path, rewritten)
  assert docs.stale_sections(page, docs.REPO) == []
  with pytest.raises(ValueError, match="unknown generated section"):
    docs.regenerate("<!-- BEGIN GENERATED: nope -->\n<!-- END GENERATED: nope -->\n")


def test_a_broken_command_fails_the_check(tmp_path):
  page = _page(tmp_path, "<!-- runnable -->\n```sh\ntfdis --help\n```\n\n"
                         "<!-- runnable; smoke: trian => trian -->\n```sh\n"
                         "tfdis trian --workdir=runs/x\n```\n\n```sh\nnot run: no marker\n```\n")
  blocks = docs.runnable_blocks(page)
  assert [code for _, code in blocks] == ["tfdis --help\n", "tfdis trian --workdir=runs/x\n"]
  working, broken = (docs.run_block(lang, code, str(tmp_path)) for lang, code in blocks)
  assert working.returncode == 0 and "  train " in working.stdout
  assert broken.returncode == 2
  assert broken.stderr.startswith("error: tfdis has no subcommand 'trian'")


def test_a_smoke_replacement_that_no_longer_matches_is_an_error(tmp_path):
  page = _page(tmp_path, "<!-- runnable; smoke: flags/shared.cfg => flags/smoke.cfg -->\n"
                         "```sh\ntfdis train --flagfile=flags/other.cfg\n```\n")
  with pytest.raises(ValueError, match="is not in the block"):
    docs.runnable_blocks(page)


def test_python_blocks_run_with_this_checkout_importable(tmp_path):
  page = _page(tmp_path, "<!-- runnable -->\n```python\nimport binaries.docs as d\n"
                         "print(d.REPO)\n```\n<!-- runnable -->\n```python\nraise SystemExit(3)\n```\n")
  (ok_lang, ok_code), (bad_lang, bad_code) = docs.runnable_blocks(page)
  ok = docs.run_block(ok_lang, ok_code, str(tmp_path))
  assert ok.returncode == 0 and ok.stdout.strip() == docs.REPO
  assert docs.run_block(bad_lang, bad_code, str(tmp_path)).returncode == 3


def test_slugs_follow_github():
  assert docs.slug("Quick start 1: train and evaluate") == "quick-start-1-train-and-evaluate"
  assert docs.slug("Beyond the paper's settings: the study") == "beyond-the-papers-settings-the-study"
  assert docs.slug("The `tfdis` command") == "the-tfdis-command"
  assert docs.anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


def test_the_check_command_reports_nothing_on_this_checkout():
  result = subprocess.run([sys.executable, "-m", "binaries.docs", "--check"], cwd=docs.REPO,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert result.returncode == 0, result.stderr[-2000:]
