"""Headless Chromium for the page tests: load a file:// page, let its scripts run, read the DOM back.

Chromium's ``--dump-dom`` prints the document after scripts ran; ``--enable-logging=stderr`` prints every
console message and uncaught error as a ``CONSOLE`` line, which the tests require to be absent. Each call
uses a fresh profile folder, so tests running side by side never share a Chromium profile lock.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                    "(apt-get install -y chromium; .ci/run installs it)")


def load(page: Path, fragment: str = "") -> tuple[str, list[str]]:
    """(DOM after the page's scripts ran, console lines) of ``page`` opened from file://."""
    url = Path(page).resolve().as_uri() + (f"#{fragment}" if fragment else "")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                               "--virtual-time-budget=10000", "--dump-dom", url],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def screenshot(page: Path, png: Path, width: int = 1300, height: int = 900) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--window-size={width},{height}",
                        f"--screenshot={png}", Path(page).resolve().as_uri()],
                       capture_output=True, timeout=120, check=True)


class _Tables(HTMLParser):
    """Every ``<table id=…>``: rows of cells, each (attributes, visible text); plus the in-page check."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[tuple[dict, str]]]] = {}
        self.links: list[str] = []
        self.check = ""
        self._table = self._cell = None
        self._in_check = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id", f"t{len(self.tables)}"), [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = [attrs, ""]
        elif tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        elif tag == "pre" and attrs.get("id") == "evalkit-check":
            self._in_check = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append((self._cell[0], self._cell[1].strip()))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "pre":
            self._in_check = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data
        if self._in_check:
            self.check += data


def parse(dom: str) -> _Tables:
    parser = _Tables()
    parser.feed(dom)
    return parser


def check_of(dom: str) -> dict:
    """What the page's own script wrote after load: images, images decoded (naturalWidth > 0), errors."""
    text = parse(dom).check
    assert text, "the page's script did not run (no #evalkit-check result)"
    return json.loads(text)


def body_rows(table: list) -> list[list[tuple[dict, str]]]:
    return table[1:]  # row 0 is the header


def header(table: list) -> list[str]:
    return [attrs.get("data-col", text) for attrs, text in table[0]]
