"""`transpile cache list` and `transpile cache prune --older-than DURATION`: the store's step cache."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _duration(text: str) -> int:
    """An argparse type: seconds, or a duration such as 30s, 10m, 1h30m, 7d."""
    from transpile.ir.models import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not isinstance(value, int):
        raise argparse.ArgumentTypeError(f"'{text}' is not a duration (use seconds or a form like 30s, 10m, 1h30m, 1d)")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    from transpile.runtime.runs import DEFAULT_STORE

    store_help = f"run store directory (default: $TRANSPILE_STORE, else {DEFAULT_STORE})"
    p = sub.add_parser("cache", help="list or prune the step cache of a run store")
    cache = p.add_subparsers(dest="cache_command", required=True, metavar="list|prune")
    q = cache.add_parser("list", help="every cache entry: step, run it came from, age, size")
    q.add_argument("--store", help=store_help)
    q.add_argument("--json", action="store_true", help="print one JSON object on stdout (for scripts)")
    q.set_defaults(func=cmd_list)
    q = cache.add_parser("prune", help="remove entries created longer ago than a duration")
    q.add_argument(
        "--older-than", required=True, type=_duration, metavar="DURATION", help="e.g. 7d, 12h, 30m, or seconds"
    )
    q.add_argument("--store", help=store_help)
    q.set_defaults(func=cmd_prune)


def _store(args: argparse.Namespace) -> Path:
    from transpile.runtime.runs import _store as store_of

    return store_of(args).absolute()


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def cmd_list(args: argparse.Namespace) -> int:
    from transpile.runtime import cache_store
    from transpile.runtime.report import table

    root = _store(args)
    found = sorted(cache_store.entries(root), key=lambda e: (e.entry.created if e.entry else e.modified, e.key))
    if args.json:
        data = [
            {
                "key": listed.key,
                "pipeline": listed.entry.pipeline if listed.entry else None,
                "node": listed.entry.node_key if listed.entry else None,
                "run_id": listed.entry.run_id if listed.entry else None,
                "created": listed.entry.created if listed.entry else None,
                "files": len(listed.entry.files) if listed.entry else None,
                "size": listed.size,
                "problem": listed.problem,
            }
            for listed in found
        ]
        print(json.dumps({"store": str(root), "entries": data}, ensure_ascii=False, indent=1))
        return 0
    if not found:
        print(f"no cache entries in {root}", file=sys.stderr)
        return 0
    rows = [("key", "pipeline", "node", "from run", "created", "files", "size")]
    for listed in found:
        entry = listed.entry
        if entry is None:
            rows.append((listed.key[:12], "?", "?", "?", "-", "-", _size(listed.size)))
            continue
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.created))
        row = (listed.key[:12], entry.pipeline or "?", entry.node_key or "?", entry.run_id or "?", created)
        rows.append((*row, str(len(entry.files)), _size(listed.size)))
    print(table(rows))
    for listed in found:
        if listed.problem:
            print(f"entry {listed.key[:12]}: cannot read {listed.problem}", file=sys.stderr)
    total = sum(listed.size for listed in found)
    print(f"{len(found)} entries, {_size(total)} in {cache_store.steps_dir(root)}", file=sys.stderr)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from transpile.runtime import cache_store

    root = _store(args)
    done = cache_store.prune(root, args.older_than)
    text = f"removed {done.entries} cache entries ({_size(done.size)}) older than {args.older_than}s from {root}"
    if done.leftovers:
        text += f", and {done.leftovers} unfinished entries of writers that died"
    print(text, file=sys.stderr)
    return 0
