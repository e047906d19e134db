"""The README's example runs and prints what its comments say."""
import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_the_two_commands():
    lines = README.read_text().splitlines()
    block = lines[lines.index("```bash") + 1:lines.index("```bash") + 3]
    assert block[0].startswith("pip install . && gradfit demo")
    assert block[1].startswith('pip install ".[test]" && python -m pytest')


def test_readme_example_prints_the_tutorial_numbers():
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "(3.61, array([-7.98, -3.8 ]))"
    assert lines[1] == "[1.0798 0.038 ] 2.8710591364"
    assert lines[2] == "[-1.  5.] grad_tol"
    final = float(re.search(r"final (\S+)", out.getvalue()).group(1))
    assert final < 1e-2
