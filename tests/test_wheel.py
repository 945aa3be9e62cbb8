"""tfdis installed from its wheel, as a library (issue #15), and flagfiles found from any folder.

The wheel is built offline from a copy of the sources (as a clean clone has them: no build/ or
egg-info), installed into a fresh virtualenv that borrows this environment's dependencies
(TensorFlow is not installed again) but not its editable tfdis, and the smoke training and
evaluation run there from a folder outside the repository, naming the project's flagfiles as
flags/... : as `python -m binaries.<name>` and as the `tfdis <name>` console command. The flags
parser of the binaries (binaries.common.parse_flags) and the command's help are also tested in
process.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

from absl import flags
from absl.testing import flagsaver
import pytest

from binaries import cli
from binaries import common
from binaries import flag_defs
from binaries import train  # pylint: disable=unused-import  (defines the flags parsed below)
from tfdis import flagfiles

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Without PYTHONPATH, nothing but the new virtualenv and the dependencies it borrows is importable.
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
ENV["TF_CPP_MIN_LOG_LEVEL"] = "2"
# Top-level entries of the repository that no wheel needs (a clean clone has none of the others).
_NOT_COPIED = {".git", ".ci", ".pytest_cache", ".venv", "build", "dist", "runs", "reports", "tests"}


def _run(args, cwd, timeout=120):
  result = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
  assert result.returncode == 0, f"{args}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
  return result


def _origins(python, cwd):
  """{package: the file `python` would import it from in `cwd`} of the wheel's packages."""
  lines = _run([python, "-c", "import importlib.util as u\n"
                "for p in ('tfdis', 'binaries', 'kernels', 'benchmarks'):\n"
                "  print(p, u.find_spec(p).origin)"], cwd=cwd).stdout.splitlines()
  return dict(line.split(" ", 1) for line in lines)


def _repository_flagfiles():
  """Paths of the repository's flagfiles, relative to the repository root: flags/..."""
  return sorted(os.path.relpath(os.path.join(folder, name), REPO)
                for folder, _, names in os.walk(os.path.join(REPO, "flags"))
                for name in names if name.endswith(".cfg"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
  """(the wheel, the python of a fresh virtualenv holding it, a user's folder outside the repo)."""
  tmp = tmp_path_factory.mktemp("wheel")
  source = tmp / "source"
  shutil.copytree(REPO, source, ignore=lambda folder, names: (
      {"__pycache__"} | {n for n in names if n.endswith(".egg-info")}
      | (_NOT_COPIED if folder == REPO else set())))
  _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "--disable-pip-version-check", "-q", "-w", str(tmp / "dist"), str(source)], cwd=tmp)
  (wheel,) = (tmp / "dist").glob("tfdis-*.whl")
  shutil.rmtree(source)  # with its build/, two more copies of the package
  venv = tmp / "venv"
  _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
  python = str(venv / "bin" / "python")
  _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--disable-pip-version-check", "-q", str(wheel)], cwd=tmp)
  # Only now (pip must not see this environment's editable tfdis): the dependencies, by path.
  # Plain path lines: the .pth files of those folders (the editable install's) are not run.
  site_packages = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       cwd=tmp).stdout.strip()
  borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
  with open(os.path.join(site_packages, "borrowed_dependencies.pth"), "w") as f:
    f.write("".join(f"{path}\n" for path in sorted(borrowed)))
  user_dir = tmp / "user"
  user_dir.mkdir()
  return wheel, python, user_dir


def test_wheel_ships_every_flagfile_and_runs_apart_from_the_repository(installed):
  wheel, python, user_dir = installed
  names = zipfile.ZipFile(wheel).namelist()
  shipped = sorted(n[len("tfdis/"):] for n in names if n.startswith("tfdis/flags/"))
  assert shipped == _repository_flagfiles()
  assert "tfdis/data/bundled/mnist/train-images-idx3-ubyte.gz" in names
  top_level = {n.split("/")[0] for n in names if ".dist-info/" not in n}
  assert top_level == {"tfdis", "kernels", "binaries", "benchmarks"}  # no flags/ or tests/
  # What `python -m binaries.train` imports from the user's folder: the installed copies.
  venv = os.path.dirname(os.path.dirname(python))
  for origin in _origins(python, user_dir).values():
    assert origin.startswith(venv + os.sep) and "site-packages" in origin, origin


def test_smoke_training_and_evaluation_from_another_folder(installed):
  _, python, user_dir = installed
  package_dir = os.path.dirname(_origins(python, user_dir)["tfdis"])  # its FLAGS_ROOT
  assert os.path.isfile(os.path.join(package_dir, "flags", "smoke.cfg"))
  assert not (user_dir / "flags").exists()
  _run([python, "-m", "binaries.train", "--flagfile=flags/smoke.cfg", "--workdir=runs/smoke"],
       cwd=user_dir, timeout=300)
  workdir = user_dir / "runs" / "smoke"  # the relative --workdir, in the user's folder
  metrics = json.loads((workdir / "metrics.json").read_text())
  assert metrics["steps"] == 20 and metrics["dataset"] == "mnist"  # flags/scales/smoke.cfg
  assert -700 < metrics["test_elbo"] < -150
  assert (workdir / "saved_model" / "saved_model.pb").stat().st_size > 0

  # The console command runs the same program as `python -m binaries.evaluate`.
  tfdis = os.path.join(os.path.dirname(python), "tfdis")
  _run([tfdis, "evaluate", "--flagfile=flags/evaluate_smoke.cfg", "--workdir=runs/smoke",
        "--classifier_dir=runs/classifier"], cwd=user_dir, timeout=600)
  report = json.loads((workdir / "evaluation.json").read_text())
  assert report["workdir"] == str(workdir)
  assert report["untrained"]["init_seeds"] == [0, 1]  # flags/scales/smoke_evaluate.cfg
  assert os.listdir(user_dir / "runs" / "classifier")
  assert 0.2 < report["classifier"]["test_accuracy"] <= 1  # 10 steps: far above chance (0.1)
  # Its 500 test images against the whole test split of metrics.json.
  assert report["elbo"]["value"] == pytest.approx(metrics["test_elbo"], abs=25)
  for key, low, high in (("lp", 0, 1), ("sp", -1, 1)):
    value = report[key]["value"]
    assert low <= report[key]["interval"][0] <= value <= report[key]["interval"][1] <= high, key
  assert sorted(os.listdir(user_dir)) == ["runs"]
  assert not os.path.exists(os.path.join(package_dir, "runs"))


def test_console_command_trains_and_measures_from_another_folder(installed):
  _, python, user_dir = installed
  tfdis = os.path.join(os.path.dirname(python), "tfdis")  # pip's console script
  listing = _run([tfdis, "--help"], cwd=user_dir).stdout
  for name in cli.SUBCOMMANDS:
    assert f"  {name} " in listing, name
  flags_help = _run([tfdis, "train", "--help"], cwd=user_dir).stdout
  assert flags_help.startswith("Trains the conditional VAE")
  assert "\n  --workdir: " in flags_help and "\n  --num_steps: " in flags_help
  _run([tfdis, "train", "--flagfile=flags/smoke.cfg", "--workdir=runs/cli"], cwd=user_dir,
       timeout=300)
  metrics = json.loads((user_dir / "runs" / "cli" / "metrics.json").read_text())
  assert metrics["steps"] == 20 and -700 < metrics["test_elbo"] < -150
  # Anyone's generator: the SavedModel just written, measured like any other.
  _run([tfdis, "evaluate", "--flagfile=flags/evaluate_smoke.cfg",
        "--generator=runs/cli/saved_model", "--output_dir=runs/cli_measured",
        "--classifier_dir=runs/classifier"], cwd=user_dir, timeout=600)
  report = json.loads((user_dir / "runs" / "cli_measured" / "evaluation.json").read_text())
  assert -1 <= report["sp"]["interval"][0] <= report["sp"]["value"] <= report["sp"]["interval"][1]
  assert 0 <= report["lp"]["value"] <= 1
  result = subprocess.run([tfdis, "bogus"], cwd=user_dir, env=ENV, capture_output=True,
                          text=True, timeout=60)
  assert result.returncode == 2 and result.stderr.startswith("error: tfdis has no subcommand")


def test_console_help_lists_every_binary_with_its_first_docstring_line(capsys):
  assert cli.main(["tfdis", "--help"]) == 0
  lines = capsys.readouterr().out.splitlines()
  listed = [line.split()[0] for line in lines if line.startswith("  ")]
  assert listed == ["train", "evaluate", "reproduce", "compete", "regress", "bench"]
  assert "  train      Trains the conditional VAE" in "\n".join(lines)
  assert cli.main(["tfdis", "nope"]) == 2


def test_subcommand_help_lists_each_flag_it_reads_once(capsys):
  assert cli.main(["tfdis", "evaluate", "--flagfile=flags/smoke.cfg", "--help"]) == 0
  text = capsys.readouterr().out
  listed = [line.split(":")[0].strip() for line in text.splitlines() if line.startswith("  --")]
  assert listed == [f"--{name}" for name in flag_defs.flag_names("evaluate")]
  assert "--generator" in listed and "--teacher" not in listed


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
  """A current folder without flags/, and FLAGS restored after the test."""
  monkeypatch.chdir(tmp_path)
  with flagsaver.flagsaver():
    yield tmp_path


def test_parse_flags_reads_project_flagfiles_from_another_folder(elsewhere):
  (elsewhere / "mine.cfg").write_text("--num_steps=3\n")
  rest = common.parse_flags(["train", "--flagfile", "flags/smoke.cfg", "--flagfile=mine.cfg",
                             "--workdir=runs/x", "--seed=5"])
  assert rest == ["train"]
  assert os.getcwd() == str(elsewhere)
  values = flags.FLAGS
  assert values.num_steps == 3 and values.hidden_units == 16  # mine.cfg; flags/scales/smoke.cfg
  assert values.dataset == "mnist" and values.seed == 5  # flags/base.cfg; the command line
  assert values.workdir == "runs/x"  # kept as given: the caller's folder


def test_parse_flags_prefers_the_current_folder(elsewhere):
  (elsewhere / "flags").mkdir()
  (elsewhere / "flags" / "smoke.cfg").write_text("--num_steps=7\n")
  common.parse_flags(["train", "--flagfile=flags/smoke.cfg"])
  assert flags.FLAGS.num_steps == 7 and flags.FLAGS.hidden_units == 512  # no project flagfile


def test_parse_flags_refuses_a_missing_flagfile_in_one_line(elsewhere, capsys):
  with pytest.raises(SystemExit) as exit_info:
    common.parse_flags(["train", "--flagfile=flags/smoke.cfg", "--flagfile=flags/missing.cfg"])
  assert exit_info.value.code == 2
  assert capsys.readouterr().err.startswith("error: Flagfile flags/missing.cfg does not exist")
  # It failed while the current folder was FLAGS_ROOT, where flags/smoke.cfg is.
  assert os.path.isfile(os.path.join(flagfiles.FLAGS_ROOT, "flags", "smoke.cfg"))
  assert os.getcwd() == str(elsewhere)
