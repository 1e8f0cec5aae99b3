"""User-facing text explains in its own words (issue 18): no references to documents a user
cannot see ("the seed", internal design sections) in the README, the package, the notebooks or
the documentation. A random seed (``random_state``) is a different thing and is fine."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
PATTERN = re.compile(r"\bthe seed\b|\bseed's\b|\(seed:|\bseed text\b|DESIGN\s*§|DESIGN\.md|DESIGN section",
                     re.IGNORECASE)


def _files():
    yield ROOT / "README.md"
    for folder, exts in (("emglm", (".py", ".txt", ".md")), ("notebooks", (".ipynb",)), ("docs", (".md", ".rst", ".py"))):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in exts and "_build" not in path.parts and "generated" not in path.parts \
                    and not (folder == "docs" and "notebooks" in path.parts):
                yield path


def test_no_internal_references():
    hits = []
    for path in _files():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if PATTERN.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert not hits, "\n".join(hits)
