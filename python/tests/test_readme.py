"""The Python examples of README.md and docs/python.md, each run as a script
(in a fresh interpreter, so that worker processes find its functions)."""
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def blocks(path):
    text = (ROOT / path).read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


EXAMPLES = [(p, i, code) for p in ("README.md", "docs/python.md") for i, code in enumerate(blocks(p))]


def test_the_docs_have_python_examples():
    assert len(blocks("README.md")) >= 1 and len(blocks("docs/python.md")) >= 5


@pytest.mark.parametrize("path,index,code", EXAMPLES, ids=[f"{p}#{i}" for p, i, _ in EXAMPLES])
def test_example_runs(path, index, code, tmp_path):
    script = tmp_path / f"example_{index}.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, f"{path} example {index} failed:\n{out.stdout}\n{out.stderr}"
