"""Configure and build with CMake + Ninja (incremental)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class BuildError(Exception):
    pass


def configure_args(build_dir: Path, *, build_type="Release", options=None,
                   source: Path | None = None) -> list[str]:
    args = ["cmake", "-S", str(source or REPO), "-B", str(build_dir), "-G", "Ninja",
            f"-DCMAKE_BUILD_TYPE={build_type}"]
    for k, v in (options or {}).items():
        args.append(f"-D{k}={v}")
    return args


def build(build_dir: Path, *, build_type="Release", options=None, log=sys.stderr,
          targets: list[str] | None = None, source: Path | None = None) -> dict:
    """Configure when needed, build, and return the build manifest.
    `source`: another source tree (the gate's git worktree); default REPO."""
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    logfile = build_dir / "switchyard-build.log"
    with open(logfile, "w") as lf:
        cache = build_dir / "CMakeCache.txt"
        if not cache.exists() or options:
            print(f"switchyard: configuring {build_dir}", file=log, flush=True)
            r = subprocess.run(configure_args(build_dir, build_type=build_type, options=options,
                                              source=source),
                               stdout=lf, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                raise BuildError(_tail("configure failed", logfile))
        print(f"switchyard: building {build_dir}", file=log, flush=True)
        cmd = ["cmake", "--build", str(build_dir)]
        if targets:
            cmd += ["--target", *targets]
        r = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise BuildError(_tail("build failed", logfile))
    return read_manifest(build_dir)


def read_manifest(build_dir: Path) -> dict:
    path = Path(build_dir) / "switchyard-build.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise BuildError(f"cannot read build manifest {path}: {e}") from None


def _tail(what: str, logfile: Path, lines: int = 25) -> str:
    try:
        text = logfile.read_text(errors="replace").splitlines()
    except OSError:
        text = []
    body = "\n".join(text[-lines:])
    return f"{what} (full log: {logfile}):\n{body}"
