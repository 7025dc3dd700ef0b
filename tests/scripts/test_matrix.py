"""`switchyard claims DIR1 DIR2 ...`: claims x machines, with the machine facts
as header rows, from results directories and published reference directories."""
import json
import shutil

import pytest

from conftest import FIXTURES, one_line_error, sy

from sylib import matrix, publish, refrun

FACTS = {"getppid_ns": 297.0, "futex_roundtrip_same_cpu_ns": 6830.0,
         "futex_roundtrip_cross_cpu_ns": 97700.0, "page_fault_ns": 3010.0,
         "thread_create_join_us": 27.9, "coroutine_switch_ns": 4.25}


@pytest.fixture(scope="module")
def two_machines(tmp_path_factory):
    """A results directory (machine A) and a reference directory published
    from a copy of it, then made another machine's: new fingerprint with the
    calibrate facts, and claim 10 refuted there."""
    tmp = tmp_path_factory.mktemp("matrix")
    a = shutil.copytree(FIXTURES / "run_missing", tmp / "a")
    readme = tmp / "README.md"
    readme.write_text("# x\n\n## y\n")
    b = publish.publish(shutil.copytree(a, tmp / "b-src"), tmp / "docs", readme,
                        log=open("/dev/null", "w"))
    ref = json.loads((b / "reference.json").read_text())
    ref["fingerprint"].update(cpu_model="Second CPU 42", machine_id="m-second",
                              kernel="6.18.0-b", facts=FACTS)
    (b / "reference.json").write_text(json.dumps(ref))
    doc = json.loads((b / "claims.json").read_text())
    c10 = next(c for c in doc["claims"] if c["id"] == 10)
    c10.update(verdict="refuted", verdict_text="refuted (0/4 pass)")
    (b / "claims.json").write_text(json.dumps(doc))
    return a, b


def test_matrix_has_machines_as_columns_and_facts_as_header_rows(two_machines):
    views = [refrun.load(d) for d in two_machines]
    assert [v.kind for v in views] == ["results", "reference"]
    head = dict(matrix.header_rows(views))
    assert head["CPU"] == ["Fixture CPU 9000, 2 cores", "Second CPU 42, 2 cores"]
    assert head["machine id"][1] == "m-second" and head["machine id"][0].startswith("m-")
    assert head["futex round trip, one CPU"] == ["—", "6.83 µs"]
    assert head["syscall (getppid)"] == ["—", "297 ns"]
    rows = dict(matrix.claim_rows(views))
    c10 = rows["10. yielding slows compute"]
    assert c10[1].startswith("refuted (0/4 pass)") and not c10[0].startswith("refuted")
    assert " · " in c10[0] and "×" in c10[0]                  # the key ratio in the cell
    assert rows["7. high scalability, low cost"] == ["not measured", "not measured"]
    a1, b1 = rows["1. coroutine switch ≪ thread switch"]
    assert a1.split(" · ")[1].split(":")[0] == b1.split(" · ")[1].split(":")[0]  # same case
    assert "7. — memory" not in rows                          # parts only when measured


def test_parts_get_their_own_rows():
    claim = {"id": 11, "title": "uvloop", "verdict": "mixed", "figures": [],
             "parts": [{"name": "vs node", "verdict": "refuted", "condition": "",
                        "passed": 0, "total": 2, "close": 1}]}
    view = refrun.RunView(FIXTURES, "reference", {}, "2026-01-01", "full", [claim])
    rows = dict(matrix.claim_rows([view]))
    assert rows["11. — vs node"] == ["refuted (0/2 pass, 1 too close to call)"]


def test_key_figure_prefers_a_failing_ratio():
    figs = [{"unit": "ns", "passed": True, "text": "a"},
            {"unit": "x", "passed": True, "text": "b"},
            {"unit": "x", "passed": False, "text": "c"},
            {"unit": "x", "passed": None, "text": "context"}]
    assert refrun.key_figure({"figures": figs})["text"] == "c"
    assert refrun.key_figure({"figures": figs[:1]})["text"] == "a"
    assert refrun.key_figure({"figures": []}) is None


def test_claims_command_with_several_dirs_writes_the_matrix(two_machines, tmp_path):
    out = tmp_path / "m"
    r = sy("claims", *two_machines, "--out", out, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"wrote {out / 'claims-matrix.md'}" in r.stdout
    md = (out / "claims-matrix.md").read_text()
    assert "Second CPU 42" in md and "Fixture CPU 9000" in md
    assert "| 10. yielding slows compute | " in md and "![key ratio" in md
    page = (out / "claims-matrix.html").read_text()
    assert 'src="claims-matrix.svg"' in page and "refuted (0/4 pass)" in page
    svg = (out / "claims-matrix.svg").read_text()
    assert "<svg" in svg and "yielding slows compute" in svg      # text kept as text
    assert not (two_machines[0] / "claims-matrix.md").exists()     # runs left untouched


def test_claims_command_default_out_is_the_current_directory(two_machines, tmp_path):
    import subprocess
    from conftest import DRIVER, driver_env
    r = subprocess.run([str(DRIVER), "claims", *map(str, two_machines)], cwd=tmp_path,
                       capture_output=True, text=True, env=driver_env(), timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "claims-matrix.md").is_file()


def test_one_dir_keeps_the_single_run_behaviour(tmp_path):
    out = shutil.copytree(FIXTURES / "run_missing", tmp_path / "run")
    r = sy("claims", out, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (out / "claims.md").is_file() and not (out / "claims-matrix.md").exists()


@pytest.mark.parametrize("bad, needle", [
    ("nope", "no such directory"), ("file", "not a directory"), ("empty", "no result JSON")])
def test_bad_dir_among_several_is_one_line_exit_2(two_machines, tmp_path, bad, needle):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("{}")
    r = sy("claims", two_machines[0], tmp_path / bad, "--out", tmp_path / "m", timeout=120)
    assert needle in one_line_error(r)
