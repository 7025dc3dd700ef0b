"""`switchyard publish`: a run copied into a committed reference directory
(claims, report, SVG charts, gzip'd numbers; <= 2 MB, checked) and the
README's reference-run block regenerated from the newest one."""
import gzip
import json
import shutil

import pytest

from conftest import FIXTURES, one_line_error, sy

from sylib import claims, publish, refrun
from sylib.results import InputError

README = """# project

Intro paragraph.

<!-- reference-run:start -- placeholder -->
nothing yet
<!-- reference-run:end -->

## Two commands

text
"""


def run_copy(tmp_path, name="run", started=None, cpu=None):
    out = shutil.copytree(FIXTURES / "run_missing", tmp_path / name)
    if started or cpu:
        for f in out.glob("*.json"):
            doc = json.loads(f.read_text())
            fp = doc.get("fingerprint") or doc["context"]["fingerprint"]
            if cpu:
                fp["cpu_model"] = cpu
            if started and "started" in doc:
                doc["started"] = started
            f.write_text(json.dumps(doc))
    return out


@pytest.fixture
def site(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    return tmp_path / "docs" / "results", readme


def test_publish_writes_a_small_reference_directory(tmp_path, site):
    docs, readme = site
    src = run_copy(tmp_path)
    (src / "logs").mkdir()
    (src / "logs" / "switch.log").write_text("log")
    dest = publish.publish(src, docs, readme, log=open("/dev/null", "w"))
    assert dest.parent == docs and dest.name.startswith("2026-01-02-m-")
    names = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert {"reference.json", "claims.md", "claims.json", "report.md",
            "charts/switch.svg", "charts/compute.svg", "data/switch.json.gz",
            "data/compute.json.gz", "data/run.json.gz"} <= names
    assert not any(n.startswith("logs") or n.endswith(".png") for n in names)
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) <= publish.MAX_BYTES
    assert gzip.decompress((dest / "data" / "switch.json.gz").read_bytes()) == \
        (src / "switch.json").read_bytes()                            # the numbers, lossless
    assert "](charts/switch.svg)" in (dest / "report.md").read_text()  # links resolve here
    assert "[switch](charts/switch.svg)" in (dest / "claims.md").read_text()
    svg = (dest / "charts" / "switch.svg").read_text()
    assert "<text" in svg and "\n " not in svg                         # text kept, minified
    ref = json.loads((dest / "reference.json").read_text())
    assert ref["fingerprint"]["cpu_model"] == "Fixture CPU 9000"
    assert ref["machine_id"] in dest.name and ref["files"]["claims.md"] > 0
    view = refrun.load(dest)                                           # readable back
    assert view.kind == "reference" and [c["id"] for c in view.claims] == [c.id for c in claims.CLAIMS]


def test_readme_block_names_the_machine_and_shows_claims_and_charts(tmp_path, site):
    docs, readme = site
    dest = publish.publish(run_copy(tmp_path), docs, readme, log=open("/dev/null", "w"))
    text = readme.read_text()
    block = text[text.index(publish.REFERENCE_START):text.index(publish.REFERENCE_END)]
    assert text.startswith("# project\n\nIntro paragraph.\n\n<!-- reference-run:start")
    assert text.count(publish.REFERENCE_START) == 1 and "nothing yet" not in text
    assert "## Two commands" in text.split(publish.REFERENCE_END)[1]
    assert f"on `{dest.name[11:]}`" in block and "Fixture CPU 9000" in block
    assert "| 1 | coroutine switch ≪ thread switch | **" in block
    assert f'<img src="docs/results/{dest.name}/charts/switch.svg"' in block
    assert (readme.parent / f"docs/results/{dest.name}/charts/switch.svg").is_file()
    publish.publish(run_copy(tmp_path, "again"), docs, readme, log=open("/dev/null", "w"))
    assert readme.read_text() == text                                  # same run: same block


def test_the_readme_shows_the_newest_reference_run(tmp_path, site):
    docs, readme = site
    null = open("/dev/null", "w")
    new = publish.publish(run_copy(tmp_path, "new", started="2026-03-04T05:06:07+00:00",
                                   cpu="Second CPU"), docs, readme, log=null)
    old = publish.publish(run_copy(tmp_path, "old"), docs, readme, log=null)
    assert sorted(p.name for p in docs.iterdir() if p.is_dir()) == sorted([new.name, old.name])
    block = readme.read_text().split(publish.REFERENCE_START)[1]
    assert new.name in block and old.name not in block and "Second CPU" in block
    # the matrix of every committed reference run, linked from the block
    assert "(2 so far;" in block and "[claims-matrix](docs/results/claims-matrix.md)" in block
    table = (docs / "claims-matrix.md").read_text()
    assert "Second CPU" in table and "Fixture CPU 9000" in table
    assert (docs / "claims-matrix.html").is_file()


def test_over_the_size_limit_nothing_is_published(tmp_path, site, monkeypatch):
    docs, readme = site
    monkeypatch.setattr(publish, "MAX_BYTES", 10_000)
    with pytest.raises(InputError, match=r"MB, over the .* MB limit .*; nothing published"):
        publish.publish(run_copy(tmp_path), docs, readme, log=open("/dev/null", "w"))
    assert list(docs.iterdir()) == [] and readme.read_text() == README


def test_over_budget_line_names_the_largest_files():
    line = publish.over_budget({"a.svg": 2_000_000, "b.md": 300_000, "c": 1})
    assert line.startswith("2.19 MB, over the 2 MB limit") and "a.svg 1953 KB" in line
    assert publish.over_budget({"a": 100}) is None


def test_splice_inserts_before_the_first_section_without_markers():
    text = "# t\n\nintro\n\n## One\nx\n"
    out = publish.splice_readme(text, "<!-- reference-run:start -->B<!-- reference-run:end -->")
    assert out == "# t\n\nintro\n\n<!-- reference-run:start -->B<!-- reference-run:end -->" \
                  "\n\n## One\nx\n"
    assert publish.splice_readme(out, publish.REFERENCE_START + "C" + publish.REFERENCE_END) \
        .count("## One") == 1


def test_minify_rounds_coordinates_never_transforms():
    svg = '<g transform="scale(0.015625)">\n   <path d="M 1.234567 2.5 L -0.001 3.14159"/>\n'
    assert publish.minify_svg(svg) == \
        '<g transform="scale(0.015625)">\n<path d="M 1.23 2.5 L 0 3.14"/>\n'


def test_publish_command_prints_what_it_wrote(tmp_path, site):
    docs, readme = site
    r = sy("publish", run_copy(tmp_path), "--docs", docs, "--readme", readme, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "switchyard publish: wrote " in r.stderr and "KB of 2048 KB" in r.stderr
    assert "reference run block shows 2026-01-02-m-" in r.stderr


@pytest.mark.parametrize("make, needle", [
    (lambda d: d / "nope", "no such directory"),
    (lambda d: shutil.copy(FIXTURES / "gb_minimal.json", d / "x.json"), "not a results directory"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "no result JSON files"),
    (lambda d: (d / "gb").mkdir() or shutil.copy(FIXTURES / "gb_minimal.json", d / "gb") and
     d / "gb", "no machine fingerprint"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, site, make, needle):
    docs, readme = site
    r = sy("publish", make(tmp_path), "--docs", docs, "--readme", readme, timeout=120)
    assert needle in one_line_error(r)
    assert not docs.exists()


def test_a_run_without_any_measured_claim_is_refused(tmp_path):
    from sylib import claims, tidy
    res = tidy.load(run_copy(tmp_path))
    evaluated = claims.evaluate(res, claims.load_thresholds())
    for e in evaluated:
        e.verdict = "not measured"
    with pytest.raises(InputError, match="no claim could be evaluated"):
        publish.check_publishable(res, evaluated)
