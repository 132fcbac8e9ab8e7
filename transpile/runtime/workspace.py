"""A node attempt's files: its fresh working directory and the run catalog (`catalog.get` / `catalog.put`).

Every attempt runs in a new temporary directory, as a pod starts from a fresh filesystem: the step's
`catalog.get` files are copied in before, its `catalog.put` files copied out after, and the directory is
removed when the attempt ends. Catalog patterns are relative globs that stay inside their root (no
absolute path, no `..`). Each catalog path is put by one node instance only: `catalog.owners/<path>`
records which one (published write-once), so two map items putting the same path is an error naming both
instead of a silent overwrite; a retry or a resume of the same instance may put it again.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path, PurePosixPath

from transpile.runtime.store import make_temp, write_once


class CatalogError(Exception):
    """A catalog pattern or copy the step cannot do; recorded as the attempt's error."""


def pattern_problem(pattern: str) -> str | None:
    """Why a catalog glob is not allowed (None if it is): it must be relative and must not use `..`."""
    if not pattern or pattern.startswith(("/", "\\", "~")) or (len(pattern) > 1 and pattern[1] == ":"):
        return f"catalog pattern {pattern!r} must be a relative path"
    if ".." in PurePosixPath(pattern.replace("\\", "/")).parts:
        return f"catalog pattern {pattern!r} must not use '..'"
    return None


def workdir_prefix(run_id: str) -> str:
    return "transpile-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in run_id)[:40] + "-"


def temp_base() -> Path:
    return Path(os.environ.get("TMPDIR") or "/tmp")


def workdir_stem(run_id: str) -> str:
    """Where this process's working directories for a run go: $TMPDIR (default /tmp), named after the run
    and the creating process (so a resume can prove them orphaned)."""
    return f"{temp_base()}/{workdir_prefix(run_id)}{os.getpid()}-"


def make_workdir(stem: str) -> str:
    """A fresh, empty working directory for one attempt, named `stem` + a random suffix; the caller
    removes it. Plain strings: the run's zygote calls this once per fork, where every page it touches
    is copied."""
    while True:
        path = stem + os.urandom(4).hex()
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


def new_workdir(run_id: str) -> Path:
    return Path(make_workdir(workdir_stem(run_id)))


def remove_workdir(path: str | Path | None, leftovers: bool = True) -> None:
    """Remove an attempt's working directory; with `leftovers`, also the values directory a shell step's
    process leaves beside it when it is killed (see body.shell_environment)."""
    if path is None:
        return
    try:
        os.rmdir(path)  # the usual case: the step left nothing behind
    except FileNotFoundError:
        pass
    except OSError:
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    if leftovers and os.path.lexists(f"{path}.values"):
        import shutil

        shutil.rmtree(f"{path}.values", ignore_errors=True)


def copy_file(source: Path, target: Path) -> None:
    """Copy to a unique temporary name beside `target`, then rename: concurrent copies never collide."""
    import shutil

    fd, tmp = make_temp(target.parent, target.name)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, target)
    except BaseException:
        with_suppressed_unlink(tmp)
        raise


def with_suppressed_unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def matching(patterns: tuple[str, ...], root: Path, where: str) -> list[str]:
    """Files under `root` matching any pattern (each must match one), as relative paths inside `root`."""
    import glob

    real_root = root.resolve()
    found: list[str] = []
    for pattern in patterns:
        problem = pattern_problem(pattern)
        if problem:
            raise CatalogError(f"{where.split(':')[0]}: {problem}")
        names = []
        for name in sorted(glob.glob(pattern, root_dir=root, recursive=True)):
            path = root / name
            if not path.is_file():
                continue
            if not path.resolve().is_relative_to(real_root):
                raise CatalogError(f"{where.split(':')[0]}: '{name}' (from {pattern!r}) leads outside its directory")
            names.append(name)
        if not names:
            raise CatalogError(f"{where} matches '{pattern}'")
        found += [n for n in names if n not in found]
    return found


def catalog_get(patterns: tuple[str, ...], catalog: Path, workdir: Path) -> list[str]:
    names = matching(patterns, catalog, "catalog.get: no file in the run's catalog")
    for name in names:
        target = workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_file(catalog / name, target)
    return names


def catalog_put(patterns: tuple[str, ...], catalog: Path, workdir: Path, key: str) -> list[str]:
    """Copy the matching files of the working directory into the catalog, claiming each path for `key`."""
    names = matching(patterns, workdir, "catalog.put: no file in the working directory")
    owners = catalog.parent / "catalog.owners"
    for name in names:
        owner_file = owners / name
        if not write_once(owner_file, key):
            try:
                owner = owner_file.read_text(encoding="utf-8")
            except OSError:
                owner = "another node"
            if owner != key:
                raise CatalogError(
                    f"catalog.put: '{name}' was already put by node '{owner}'; node '{key}' cannot put it too "
                    "(each catalog path has one writer: put map items under their own names, e.g. with "
                    "$TRANSPILE_INDICES)"
                )
        target = catalog / name
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_file(workdir / name, target)
    return names
