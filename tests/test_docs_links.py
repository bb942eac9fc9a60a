"""Documentation links resolve: every relative link and image in README.md and docs/*.md names a file of the
repository (and, for a Markdown target with an anchor, one of its headings), and every documentation page a
Python docstring or comment cites (``docs/NAME.md``, ``docs/metric-spec-notes.md §N``) exists, down to the
section number. No network: web links are not followed."""
from __future__ import annotations

import ast
import io
import os
import re
import sys
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SKIP_DIRS = {"node_modules", "build", "dist", "__pycache__", "runs"}
SPEC_NOTES = "docs/metric-spec-notes.md"
TOPIC_PAGES = ("metrics.md", "fvd.md", "sync.md", "pose.md", "data.md", "models.md", "scale-out.md",
               "leaderboards.md", "benchmarks.md", "metric-spec-notes.md")

LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMG_TAG = re.compile(r"<img\s[^>]*src=\"([^\"]+)\"", re.IGNORECASE)
DOC_REF = re.compile(r"(?<![\w./-])(docs/[\w./-]+?\.md)(?:\s*§\s*(\d+(?:\.\d+)*))?")
BARE_SPEC = re.compile(r"(?<![\w./-])metric-spec\s*§")  # the spec lives outside the repository


def strip_code(text: str) -> str:
    """The Markdown without fenced blocks and inline code, whose brackets are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: rendered text, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text, not its target
    text = text.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")  # GitHub numbers repeated headings
    return out


def broken_links(page: Path) -> list[str]:
    """'target: why' for every relative link or image of ``page`` that does not resolve."""
    text = strip_code(page.read_text(encoding="utf-8"))
    problems = []
    for target in LINK.findall(text) + IMG_TAG.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if ROOT not in dest.parents and dest != ROOT:
            problems.append(f"{target}: outside the repository")
        elif not dest.exists():
            problems.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: no heading '#{anchor}' in {dest.relative_to(ROOT)}")
    return problems


def python_files():
    """The repository's Python files (not this one, whose patterns would match themselves), without descending
    into environments, caches or hidden folders."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        for name in files:
            path = Path(folder) / name
            if name.endswith(".py") and path != Path(__file__).resolve():
                yield path


def spec_sections() -> set[str]:
    """Section numbers ('4', '4.3') that the notes page has headings for (a heading 'N.M Title' or '§N.M')."""
    text = (ROOT / SPEC_NOTES).read_text(encoding="utf-8")
    return set(re.findall(r"^#{1,6}\s+§?(\d+(?:\.\d+)*)\b", text, flags=re.MULTILINE))


def prose(text: str) -> str:
    """The docstrings and comments of a Python source (where citations are written); '' if it does not parse.
    Other strings are data — e.g. a metric's ``reference``, which is stored in committed results."""
    try:
        tree = ast.parse(text)
        comments = [tok.string for tok in tokenize.generate_tokens(io.StringIO(text).readline)
                    if tok.type == tokenize.COMMENT]
    except (SyntaxError, tokenize.TokenError):
        return ""
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    nodes = [n for n in ast.walk(tree) if isinstance(n, kinds)]
    return "\n".join([d for d in (ast.get_docstring(n, clean=False) for n in nodes) if d] + comments)


def broken_code_refs(path: Path, sections: set[str]) -> list[str]:
    """Citations in ``path`` that do not resolve: a docs page named anywhere in the file (hints included) that does
    not exist, a spec-notes section the page lacks, a bare spec citation in a docstring or comment."""
    text = path.read_text(encoding="utf-8", errors="replace")
    where = path.relative_to(ROOT)
    cited = prose(text) if BARE_SPEC.search(text) else ""  # parse only files that could fail
    problems = [f"{where}: bare 'metric-spec §' (not in the repository; cite {SPEC_NOTES} §N)"
                for _ in BARE_SPEC.finditer(cited)]
    for ref, section in DOC_REF.findall(text):
        if not (ROOT / ref).is_file():
            problems.append(f"{where}: {ref} does not exist")
        elif section and ref == SPEC_NOTES and section not in sections:
            problems.append(f"{where}: {ref} has no section §{section}")
    return problems


def test_pages_exist():
    assert (ROOT / "docs" / "index.md").is_file()
    assert len(PAGES) >= 10, [p.name for p in PAGES]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_resolve(page):
    assert broken_links(page) == []


def test_the_index_lists_the_topic_pages():
    """The pages the README sends readers to (issue 27's list) are in docs/index.md; pages added later may be
    listed as they come, and the link test above checks whatever is listed."""
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    listed = {t.partition("#")[0] for t in LINK.findall(strip_code(index))}
    assert set(TOPIC_PAGES) <= listed, sorted(set(TOPIC_PAGES) - listed)


def test_docstring_doc_references_resolve():
    sections = spec_sections()
    assert {"1", "2", "3", "4", "5"} <= sections  # the sections the metrics cite
    problems = [p for path in python_files() for p in broken_code_refs(path, sections)]
    assert problems == []


def test_the_checker_finds_broken_links_and_references(tmp_path, monkeypatch):
    """The checks above would catch what they look for: a missing file, a missing heading, an image, a bare
    spec citation, a docs page that does not exist and a section the notes lack."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Title\n\n## Two words (x)\n")
    page = tmp_path / "docs" / "b.md"
    page.write_text("[ok](a.md#two-words-x) [gone](c.md) [head](a.md#nope) ![img](img/p.png) "
                    "[web](https://example.org/x) `[code](nothing.md)`\n```\n[fenced](nothing.md)\n```\n")
    assert broken_links(page) == ["c.md: no such file", "a.md#nope: no heading '#nope' in docs/a.md",
                                  "img/p.png: no such file"]
    code = tmp_path / "m.py"
    code.write_text('"""See docs/a.md and docs/none.md; ' + SPEC_NOTES + ' §9."""\n'
                    'REFERENCE = "metric' '-spec §2"  # data, not a citation\n'
                    'x = 1  # metric' '-spec §2\n')
    (tmp_path / SPEC_NOTES).write_text("# Notes\n\n## 2 SSIM\n")
    assert broken_code_refs(code, {"2"}) == [
        f"m.py: bare 'metric-spec §' (not in the repository; cite {SPEC_NOTES} §N)",
        "m.py: docs/none.md does not exist", f"m.py: {SPEC_NOTES} has no section §9"]
