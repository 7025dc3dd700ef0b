"""What `switchyard run` does once run.json is written: charts and reports.

Each step here is best effort: a failure is caught and reported in one line,
so it can never lose the results already on disk nor change run's exit status
(which is about the benches). Later steps belong here too.
"""
from __future__ import annotations

import sys
from pathlib import Path


def after_run(out: Path, *, log=sys.stderr) -> None:
    """Charts into <out>/charts/, <out>/report.md and report.html, then the
    claims (<out>/claims.md, claims.json and their section of the report)."""
    res = None
    try:
        from . import report, tidy
        res = tidy.load(out)
        rendered, files = report.produce(res, Path(out))
        skipped = len(rendered.skipped) + len(rendered.absent)
        print(f"switchyard: {len(rendered.made)} chart(s), {skipped} skipped; report in "
              f"{files[1]}", file=log)
    except Exception as e:  # noqa: BLE001 -- any plotting bug must not cost the run
        print(f"switchyard: charts and report not written: {type(e).__name__}: {e}", file=log)
    if res is not None:               # unreadable results: the line above says why
        from . import claims
        claims.after_run(res, Path(out), log=log)   # never raises
    from . import history
    history.after_run(out, log=log)   # results/history/<fingerprint>.jsonl; never raises
