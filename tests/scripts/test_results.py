"""Result files: validation, naming, salvage of partial output, atomic writes."""
import json

import pytest

from sylib import fingerprint
from sylib.results import (InputError, atomic_write_json, base_name, is_failure, is_skip,
                           load_gb_json, load_results, parse_name, salvage_partial)


def test_base_name_strips_google_benchmark_suffixes():
    assert base_name("switch/futex/pin:same/real_time") == "switch/futex/pin:same"
    assert base_name("spawn/thread/n:1000/min_time:0.100/real_time") == "spawn/thread/n:1000"
    assert base_name("echo/uring/conns:10/threads:1") == "echo/uring/conns:10"
    assert base_name("switch/bare_call") == "switch/bare_call"


def test_parse_name():
    p = parse_name("echo/uring/conns:100/size:1024/mode:closed/real_time")
    assert p == {"workload": "echo", "model": "uring",
                 "params": {"conns": "100", "size": "1024", "mode": "closed"}, "extra": []}


@pytest.mark.parametrize("name,content,needle", [
    ("empty.json", "", "empty file"),
    ("blank.json", "  \n", "empty file"),
    ("bad.json", "{not json", "malformed JSON"),
    ("list.json", "[1, 2]", "top level is not an object"),
    ("nobench.json", '{"context": {}}', "no 'benchmarks' list"),
    ("noname.json", '{"context": {}, "benchmarks": [{"real_time": 1}]}', "has no 'name'"),
])
def test_bad_input_raises_one_line(tmp_path, name, content, needle):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(InputError) as e:
        load_gb_json(p)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_missing_file_and_empty_dir(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_gb_json(tmp_path / "missing.json")
    with pytest.raises(InputError, match="no result JSON"):
        load_results(tmp_path)


def test_load_results_dir_skips_manifest(tmp_path, fixtures):
    (tmp_path / "switch.json").write_text((fixtures / "gb_minimal.json").read_text())
    (tmp_path / "run.json").write_text('{"switchyard_run": 1}')
    files = [p.name for p, _ in load_results(tmp_path)]
    assert files == ["switch.json"]


def test_salvage_partial_output():
    full = {"context": {"x": 1}, "benchmarks": [{"name": "a"}, {"name": "b"}]}
    text = json.dumps(full, indent=2)
    cut = text[: text.rindex("}") - 5]  # a killed process leaves a torn tail
    got = salvage_partial(cut)
    assert got is not None and got["benchmarks"][0]["name"] == "a"
    assert salvage_partial("") is None
    assert salvage_partial("garbage") is None


def test_skip_and_failure_classification():
    assert is_skip({"error_occurred": True, "error_message": "skipped: no io_uring"})
    assert is_failure({"error_occurred": True, "error_message": "checksum mismatch"})
    assert not is_failure({"name": "ok"})


def test_atomic_write_leaves_no_temp_files(tmp_path):
    atomic_write_json(tmp_path / "x.json", {"a": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_google_benchmark_own_inputs_load(fixtures):
    data = load_gb_json(fixtures / "gb_minimal.json")
    assert data["benchmarks"][0]["name"] == "BM_One"


def test_fingerprint_id_ignores_commit():
    a = {"cpu_model": "X", "cores_online": 2, "kernel": "6.1", "git_commit": "aaa"}
    b = dict(a, git_commit="bbb")
    assert fingerprint.fingerprint_id(a) == fingerprint.fingerprint_id(b)
    assert fingerprint.fingerprint_id(a) != fingerprint.fingerprint_id(dict(a, cores_online=4))


def test_virtualization_from_cpuinfo_flag():
    assert fingerprint.hypervisor_flag("flags\t: fpu sse hypervisor lahf")
    assert not fingerprint.hypervisor_flag("flags\t: fpu sse")
