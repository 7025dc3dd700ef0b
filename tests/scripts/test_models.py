"""One model registry: runners/model_list.hpp is the list; the C++ side is
generated from it (runners/models.hpp) and the Python side reads it
(sylib.results.MODELS, LOOP_MODELS). This checks that everything else that
names models agrees with it, so adding a model cannot half-succeed: every
model has a runner, a seam check, a place in the benches' model loops and
the echo server's dispatch, a colour and marker in the charts."""
import re

from conftest import REPO

from sylib import plot, results, tidy


def read(path):
    return (REPO / path).read_text()


def test_python_reads_the_registry():
    names = [r["name"] for r in results.MODEL_ROWS]
    assert results.MODELS == tuple(names) and len(names) == len(set(names)) >= 7
    assert tidy.LOOP_MODELS == results.LOOP_MODELS
    assert set(results.LOOP_MODELS) < set(results.MODELS)
    assert {r["shape"] for r in results.MODEL_ROWS} <= {"task", "callback"}


def test_the_cpp_side_is_generated_from_it():
    models_hpp = read("runners/models.hpp")
    assert '#include "runners/model_list.hpp"' in models_hpp
    assert "SY_MODELS(SY_MODEL_NAME)" in models_hpp and "SY_MODELS(SY_MODEL_ENABLED)" in models_hpp
    assert not re.search(r'"(thread|pool|fiber|coroutine|uring|libuv)"', models_hpp)


def test_every_model_has_a_runner_a_seam_check_and_a_place_in_the_benches():
    all_hpp = read("runners/all.hpp")
    bench_models = read("benches/common/models.hpp")
    echo = read("benches/echo/server.cpp")
    for r in results.MODEL_ROWS:
        name = r["name"]
        assert (REPO / "runners" / f"{name}.hpp").exists() or name == "coroutine", name  # coroutine_epoll.hpp
        assert re.search(rf"\b{name}_runner\b", all_hpp), f"runners/all.hpp: no {name}_runner"
        assert re.search(rf"visit<{name}_runner>", bench_models), \
            f"benches/common/models.hpp does not visit {name}_runner"
        assert f'model == "{name}"' in echo, f"echo server: no dispatch for {name}"


def test_every_model_has_a_colour_and_a_marker():
    for m in results.MODELS:
        assert m in plot.COLOURS and m in plot.MARKERS, m
