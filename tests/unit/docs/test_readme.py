"""The README's shell commands run as printed after `make demo`: each starts with `make` or a program of
the `.venv` it installs (the system Python has no Django), and each `manage.py` command exists."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def readme_commands() -> list[str]:
    """The commands of the README's ```sh blocks, continuation lines joined, comments (and comment lines)
    dropped."""
    blocks = re.findall(r"^```sh\n(.*?)^```$", (ROOT / "README.md").read_text(), re.M | re.S)
    joined = "\n".join(blocks).replace("\\\n", " ")
    lines = (line.split("  #")[0].strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_every_readme_command_starts_with_make_or_the_venv():
    commands = readme_commands()
    assert len(commands) > 10
    for command in commands:
        program = command.split()[0]
        assert program == "make" or program.startswith(".venv/bin/"), command


def test_every_manage_py_command_of_the_readme_exists_in_the_venv():
    manage = [".venv/bin/python", "manage.py"]
    names = sorted({c.split()[2] for c in readme_commands() if c.split()[:2] == manage})
    assert "build_study" in names and "gaze_report" in names
    listed = subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", "help", "--commands"], cwd=ROOT,
                            capture_output=True, text=True, check=True,
                            env={"SECRET_KEY": "readme-test-only-" + "0" * 40, "PATH": "/usr/bin:/bin"})
    assert set(names) <= set(listed.stdout.split()), set(names) - set(listed.stdout.split())


def layout_folders() -> set[str]:
    """The folders named in the README's Layout table (first column), without the trailing slash."""
    section = (ROOT / "README.md").read_text().split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^\| (.+?) \|", section, re.M)
    return {name.rstrip("/") for cell in cells for name in re.findall(r"`([^`]+/)`", cell)}


def test_the_layout_section_names_every_folder_of_the_project():
    packages = {str(init.parent.relative_to(ROOT)) for top in ("study", "explainers", "analysis", "evaluation")
                for init in (ROOT / top).rglob("__init__.py") if "migrations" not in init.parts}
    packages.discard("study/management")  # holds only commands/
    tops = {p.name for p in ROOT.iterdir() if p.is_dir()
            and not p.name.startswith((".", "__")) and p.name not in ("var", "node_modules")}
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split())
    tops = {t for t in tops if any(f.startswith(t + "/") for f in tracked)}
    missing = (packages | tops | {"study/migrations", "study/templates", "study/static", ".ci"}) - layout_folders()
    assert not missing, f"folders missing from the README's Layout section: {sorted(missing)}"
