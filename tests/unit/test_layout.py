"""The web app stays in rooms a reader can take in: every Python file of `study/` (migrations aside,
which Django writes) is shorter than 400 lines."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400


def test_every_study_module_is_shorter_than_400_lines():
    lengths = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
               for path in (ROOT / "study").rglob("*.py") if "migrations" not in path.parts}
    assert len(lengths) > 50
    too_long = {name: n for name, n in lengths.items() if n >= MAX_LINES}
    assert not too_long, f"split these modules: {too_long}"
