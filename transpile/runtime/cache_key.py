"""The cache key of a node instance: a digest of everything that decides what the step computes.

The key is the sha256 of a canonical JSON document (version `KEY_VERSION`), field by field:

- `node`, `indices`: the step's node id and its map indices (a step sees them as $TRANSPILE_NODE and
  $TRANSPILE_INDICES, and names its catalog files after them);
- `step`: its resolved definition: kind, the python reference or the shell command's text, image, env,
  secrets (their names, never their values), returns, catalog patterns, and its cache's key_files and
  key_env lists;
- `code`: sha256 of a python step's module file, located without importing or running anything of the
  user's (the import path the attempt uses: its working directory, the pipeline's directory, sys.path);
- `files`: sha256 of each file matching `cache.key_files` (relative to the working directory);
- `env`: sha256 of each `cache.key_env` variable's value (None when unset), the step's own env included;
- `inputs`: sha256 of each value the step receives, as JSON: for a python step the parameters its function
  binds (its signature read from the module's source with `ast`; every visible value when it takes
  **kwargs, is decorated or cannot be read), for a shell step every visible value;
- `catalog_get`: sha256 of each file its `catalog.get` patterns copy in from the run's catalog.

Not in the key: retries, timeout, resources, placement and pod settings, `max_age`; the run id and
attempt; other modules the step's module imports, data it reads from elsewhere (use `key_files`,
`key_env`), the interpreter and installed packages (the image stands for them on a cluster).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transpile.runtime.records import CorruptRecord
from transpile.runtime.values import NotAvailable, ValueReader
from transpile.runtime.workspace import CatalogError, matching

KEY_VERSION = 1
CHUNK = 1 << 20


class Uncacheable(Exception):
    """The key cannot be computed (the step would fail, or its code cannot be found): it just runs."""


@dataclass
class Probe:
    """A node instance's key: the document and its digest, the values it receives, its catalog.get files
    and its module's file (for explanations)."""

    key: str
    document: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)
    catalog_get: list[str] = field(default_factory=list)
    code_file: str | None = None


def sha256_file(path: Path | str) -> tuple[str, int]:
    """(sha256 hex, size) of a file's bytes."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def value_digest(value: Any) -> str:
    """sha256 of a value as compact JSON, keys in their order (a step may iterate a mapping)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def document_key(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(b"transpile-cache\0" + text.encode("utf-8", "surrogatepass")).hexdigest()


def attempt_path(import_paths: list[str] | tuple[str, ...]) -> list[str]:
    """The module search path an attempt imports with (body._run_python puts the import paths first)."""
    path = [entry for entry in sys.path if entry]
    for extra in import_paths:
        if extra not in path:
            path.insert(0, extra)
    return path


def locate_module(name: str, search: list[str]) -> str | None:
    """The file of module `name` as the attempt would import it, found without importing anything (the
    path finder on `search`, then the other finders, e.g. an editable install's); None when not found."""
    import importlib.machinery

    spec = None
    parts = name.split(".")
    for depth in range(1, len(parts) + 1):
        dotted = ".".join(parts[:depth])
        locations = search if spec is None else spec.submodule_search_locations
        if spec is not None and not locations:
            return None
        found = importlib.machinery.PathFinder.find_spec(dotted, locations)
        if found is None:
            for finder in sys.meta_path:
                if finder is importlib.machinery.PathFinder or not hasattr(finder, "find_spec"):
                    continue
                try:
                    found = finder.find_spec(dotted, None if spec is None else locations)
                except Exception:  # a third-party finder failing is not the step's failure
                    found = None
                if found is not None:
                    break
        if found is None:
            return None
        spec = found
    return spec.origin if spec is not None and spec.has_location else None


def bound_parameters(source: bytes, qualname: str) -> list[tuple[str, bool]] | None:
    """The parameters a function binds by name as (name, has a default), read from its module's source;
    None when they cannot be known without running it (then every visible value is part of the key): the
    function is decorated, takes **kwargs, is bound again later in its scope, or the source does not parse."""
    import ast

    try:
        body: list[ast.stmt] = ast.parse(source).body
    except (SyntaxError, ValueError):
        return None
    function: ast.FunctionDef | ast.AsyncFunctionDef | None = None
    for depth, part in enumerate(qualname.split(".")):
        last = depth == len(qualname.split(".")) - 1
        bindings = [node for node in body if part in _bound_names(node)]
        if len(bindings) != 1:
            return None
        node = bindings[0]
        if last and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node
        elif not last and isinstance(node, ast.ClassDef) and not node.decorator_list:
            body = node.body
        else:
            return None
    if function is None or function.decorator_list or function.args.kwarg is not None:
        return None
    args = function.args
    positional = args.posonlyargs + args.args
    defaults = [False] * (len(positional) - len(args.defaults)) + [True] * len(args.defaults)
    named = list(zip(positional, defaults, strict=True))[len(args.posonlyargs) :]
    named += [(arg, default is not None) for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    return [(arg.arg, has_default) for arg, has_default in named]


def _bound_names(node: Any) -> set[str]:
    """Names a statement binds in its scope (a def, a class, an assignment, an import)."""
    import ast

    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    names: set[str] = set()
    for child in ast.walk(node):  # a compound statement (if, try, ...) may bind the name in any branch
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
            names.add(child.id)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(child.name)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in child.names)
    return names


def _definition(step: Any) -> dict[str, Any]:
    settings, cache = step.settings, step.settings.cache
    definition: dict[str, Any] = {"kind": step.kind, "image": settings.image, "env": settings.env or {}}
    if step.python is not None:
        definition["python"] = step.python
    if step.shell is not None:
        definition["shell"] = step.shell
    definition["secrets"] = [[s.secret, s.key, s.env] for s in settings.secrets or ()]
    definition["returns"] = list(step.returns)
    catalog = step.catalog
    definition["catalog"] = {"get": list(catalog.get), "put": list(catalog.put)} if catalog else None
    definition["key_files"], definition["key_env"] = list(cache.key_files), list(cache.key_env)
    return definition


def _inputs(step: Any, source: bytes | None, reader: ValueReader, path: tuple, indices: tuple) -> dict[str, Any]:
    """The values the step receives, as its attempt would bind them (body._bind, body._run_shell)."""
    if step.python is None and step.shell is None:
        return {}  # a stub receives nothing
    params = None
    if step.python is not None and source is not None:
        params = bound_parameters(source, step.python.partition(":")[2])
    if params is None:
        return reader.visible_values(path, indices)
    values: dict[str, Any] = {}
    for name, has_default in params:
        found = reader.index.resolve(name, path)
        try:
            if found is None:
                raise NotAvailable("no parameter or upstream return of that name")
            values[name] = reader.resolve(found, path, indices)
        except (NotAvailable, FileNotFoundError) as exc:
            if not has_default:
                raise Uncacheable(f"argument '{name}' has no value: {exc}") from None
    return values


def compute(
    step: Any,
    path: tuple[str, ...],
    indices: tuple[int, ...],
    node: str,
    reader: ValueReader,
    import_paths: list[str],
) -> Probe:
    """The key of one node instance of a cached task step; Uncacheable when it cannot be computed."""
    document: dict[str, Any] = {"version": KEY_VERSION, "node": node, "indices": list(indices)}
    document["step"] = _definition(step)
    source, code_file = None, None
    if step.python is not None:
        module = step.python.partition(":")[0]
        code_file = locate_module(module, attempt_path(import_paths))
        if code_file is None:
            raise Uncacheable(f"module '{module}' has no file on the import path (it would not import)")
        try:
            source = Path(code_file).read_bytes()
        except OSError as exc:
            raise Uncacheable(f"cannot read {code_file}: {exc.strerror or exc}") from None
        document["code"] = hashlib.sha256(source).hexdigest()
    base = Path(import_paths[0]) if import_paths else Path.cwd()
    cache = step.settings.cache
    document["files"] = _key_files(cache.key_files, base)
    environment = {**os.environ, **(step.settings.env or {})}
    document["env"] = {name: _text_digest(environment.get(name)) for name in cache.key_env}
    try:
        inputs = _inputs(step, source, reader, path, indices)
    except CorruptRecord as exc:
        raise Uncacheable(f"cannot read {exc}") from None
    document["inputs"] = {name: value_digest(value) for name, value in inputs.items()}
    names: list[str] = []
    if step.catalog and step.catalog.get:
        try:
            names = matching(step.catalog.get, reader.run.catalog, "catalog.get: no file in the run's catalog")
        except CatalogError as exc:
            raise Uncacheable(str(exc)) from None
    document["catalog_get"] = {name: sha256_file(reader.run.catalog / name)[0] for name in names}
    return Probe(document_key(document), document, inputs, names, _shown(code_file, base))


def _text_digest(value: str | None) -> str | None:
    return None if value is None else hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _key_files(patterns: tuple[str, ...], base: Path) -> dict[str, str]:
    import glob

    found: dict[str, str] = {}
    for pattern in patterns:
        for name in sorted(glob.glob(pattern, root_dir=base, recursive=True)):
            if name not in found and (base / name).is_file():
                found[name] = sha256_file(base / name)[0]
    return found


def _shown(code_file: str | None, base: Path) -> str | None:
    """A module's file as explanations name it: relative to the working directory when inside it."""
    if code_file is None:
        return None
    try:
        return Path(code_file).relative_to(base).as_posix()
    except ValueError:
        return code_file


def changes(old: dict[str, Any], new: dict[str, Any], code_file: str | None) -> list[str]:
    """What differs between two key documents of one node instance, in words (why a key changed)."""
    found: list[str] = []
    if old.get("version") != new.get("version"):
        return ["the cache key's format changed (another transpile wrote the entry)"]
    for name in sorted(set(old.get("step") or {}) | set(new.get("step") or {})):
        if (old.get("step") or {}).get(name) != (new.get("step") or {}).get(name):
            found.append(f"the step's {name} changed")
    if old.get("code") != new.get("code"):
        found.append(f"the code of {code_file or 'its module'} changed")
    labels = {"files": "key file", "env": "key_env variable", "inputs": "input", "catalog_get": "catalog.get file"}
    for part, label in labels.items():
        before, after = old.get(part) or {}, new.get(part) or {}
        for name in sorted(set(before) | set(after)):
            if name not in before:
                found.append(f"{label} '{name}' is new")
            elif name not in after:
                found.append(f"{label} '{name}' is gone")
            elif before[name] != after[name]:
                found.append(f"{label} '{name}' changed")
    return found
