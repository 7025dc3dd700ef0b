"""A real browser reads the report: report.html (from a synthetic full run)
rendered by headless Chromium -- the page draws (the screenshot is not
blank), no console errors, every <img> and every in-page link resolves.
The screenshot stays in the test's directory; its path is printed.

Chromium is a test package (sylib.deps.TEST); without it the test skips and
says how to get it.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from conftest import FIXTURES

from sylib import report, tidy

sys.path.insert(0, str(FIXTURES))
import make_runs  # noqa: E402

CHROMIUM = shutil.which("chromium")
WINDOW = "1400,2000"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed: `scripts/switchyard test` installs it "
                             "(apt-get install -y chromium)")


def chromium(page: Path, tmp: Path, *args) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", f"--user-data-dir={tmp / 'profile'}", f"--window-size={WINDOW}",
           "--enable-logging=stderr", "--v=0", *args, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def console_errors(stderr: str) -> list[str]:
    return [l for l in stderr.splitlines()
            if "CONSOLE" in l and ("Uncaught" in l or ":ERROR:" in l or "error" in l.lower())]


def blank(png: Path) -> bool:
    """True when (nearly) every pixel is one colour."""
    import matplotlib.image as mpimg
    import numpy as np
    px = mpimg.imread(png)[..., :3]
    background = np.median(px.reshape(-1, 3), axis=0)
    differs = np.abs(px - background).sum(axis=2) > 0.1
    return differs.mean() < 0.02


def local_targets(dom: str, attr: str) -> list[str]:
    return [v for v in re.findall(rf'\b{attr}="([^"]+)"', dom)
            if not urlparse(v).scheme or urlparse(v).scheme == "file"]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = make_runs.good(tmp_path_factory.mktemp("browser") / "run")
    _, files = report.produce(tidy.load(out), out)
    return out / "report.html"


def check_page(page: Path, tmp: Path, capsys) -> str:
    shot = tmp / "screenshot.png"
    r = chromium(page, tmp, f"--screenshot={shot}")
    assert shot.is_file() and shot.stat().st_size > 0, r.stderr[-2000:]
    with capsys.disabled():
        print(f"\nscreenshot of {page.name}: {shot}")
    assert not blank(shot), f"blank page: {shot}"
    assert not console_errors(r.stderr), console_errors(r.stderr)
    dom = chromium(page, tmp, "--dump-dom")
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    assert not console_errors(dom.stderr), console_errors(dom.stderr)
    text = dom.stdout
    for src in local_targets(text, "src"):
        target = page.parent / unquote(urlparse(src).path)
        assert target.is_file() and target.stat().st_size > 0, f"<img src={src}> missing"
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    for ref in re.findall(r'\bhref="#([^"]+)"', text):
        assert ref in ids, f"link to #{ref}: no such element"
    return text


def test_report_renders_in_a_real_browser(page, tmp_path, capsys):
    dom = check_page(page, tmp_path, capsys)
    assert dom.count("<svg") >= 10                                  # the charts are drawn
    lead = dom.index("What the numbers say")
    assert lead < dom.index("Headline charts") < dom.index("This run") < dom.index("switch:")
    assert dom.count("<details") >= 12                              # each claim's cases folded
    for src in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (page.parent / "report.md").read_text()):
        target = page.parent / src                                  # report.md's images too
        assert target.is_file() and target.stat().st_size > 0, src


def test_claims_matrix_renders_in_a_real_browser(tmp_path, capsys):
    from sylib import matrix
    runs = [shutil.copytree(FIXTURES / "run_missing", tmp_path / n) for n in ("a", "b")]
    matrix.command(runs, tmp_path / "m", log=open("/dev/null", "w"))
    dom = check_page(tmp_path / "m" / "claims-matrix.html", tmp_path, capsys)
    assert 'src="claims-matrix.svg"' in dom
