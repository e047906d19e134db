"""The README's example runs and prints what its comments say."""
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_the_two_commands():
    lines = README.read_text().splitlines()
    block = lines[lines.index("```bash") + 1:lines.index("```bash") + 3]
    assert block[0].startswith("pip install . && gradfit demo")
    assert block[1].startswith('pip install ".[test]" && python -m pytest')


def _printed_and_promised(code):
    """Runs `code`; returns [(what a print call printed, the comment on its line)]."""
    outputs = []

    def recording_print(*args, **kwargs):
        out = io.StringIO()
        print(*args, file=out, **{k: v for k, v in kwargs.items() if k != "file"})
        outputs.append(out.getvalue().rstrip("\n"))

    exec(compile(code, str(README), "exec"), {"print": recording_print})
    promised = [line.split("#", 1)[1].strip() for line in code.splitlines()
                if line.lstrip().startswith("print(") and "#" in line]
    assert len(promised) == len(outputs), (promised, outputs)
    return list(zip(outputs, promised))


def test_every_readme_code_block_prints_what_its_comments_say():
    """Each print's output equals the comment beside it; a comment starting
    with "..." is the end of a longer output (a TrainResult's summary)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    checked = 0
    for code in blocks:
        for printed, promised in _printed_and_promised(code):
            if promised.startswith("..."):
                assert promised[3:].strip() in printed, (printed, promised)
            else:
                assert printed == promised, (printed, promised)
            checked += 1
    assert checked >= 4


def test_readme_is_a_front_page():
    assert len(README.read_bytes()) <= 12 * 1024
