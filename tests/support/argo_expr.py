"""The small part of expr-lang a compiled spec's `{{=...}}` tags use, as Argo v4.1.2 evaluates it, for the
replay (tests/support/argo_replay.py): a tokenizer and parser to a tuple tree, the identifiers a tree reads,
and an evaluator over members, indexing, calls and + - * /. Anything else is a ParseError, as Argo's compile
error is."""

from __future__ import annotations

import json
import re
from typing import Any


class ParseError(Exception):
    pass


class EvalError(Exception):
    pass


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+)|(?P<name>[A-Za-z_$][A-Za-z0-9_$]*)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<op>[-+*/().\[\],]))"
)
_KEYWORDS = {"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith", "let", "if", "else"}


class Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*; unary := '-'? postfix;
    postfix := primary ('.' name | '[' expr ']' | '(' args ')')*; primary := number | string | name | '(' expr ')'."""

    def __init__(self, text: str):
        self.tokens: list[tuple[str, Any]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise ParseError(f"unexpected {text[pos : pos + 10]!r}")
            pos = match.end()
            kind = match.lastgroup
            value = match.group(kind)
            if kind == "num":
                self.tokens.append(("num", int(value)))
            elif kind == "str":
                self.tokens.append(("str", json.loads('"' + value[1:-1].replace('"', '\\"') + '"')))
            elif kind == "name" and value in _KEYWORDS:
                raise ParseError(f"operator {value!r} not supported by the replay")
            else:
                self.tokens.append((kind, value))
        self.pos = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, op: str | None = None) -> tuple[str, Any]:
        token = self.peek()
        if token is None or (op is not None and token != ("op", op)):
            raise ParseError(f"expected {op or 'a token'}, got {token}")
        self.pos += 1
        return token

    def parse(self) -> tuple:
        if not self.tokens:
            raise ParseError("empty expression")
        tree = self.expr()
        if self.peek() is not None:
            raise ParseError(f"unexpected {self.peek()}")
        return tree

    def expr(self) -> tuple:
        node = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            node = ("bin", self.take()[1], node, self.term())
        return node

    def term(self) -> tuple:
        node = self.unary()
        while self.peek() in (("op", "*"), ("op", "/")):
            node = ("bin", self.take()[1], node, self.unary())
        return node

    def unary(self) -> tuple:
        if self.peek() == ("op", "-"):
            self.take()
            return ("bin", "-", ("lit", 0), self.postfix())
        return self.postfix()

    def postfix(self) -> tuple:
        node = self.primary()
        while True:
            token = self.peek()
            if token == ("op", "."):
                self.take()
                kind, name = self.take()
                if kind != "name":
                    raise ParseError("expected a member name")
                node = ("member", node, ("lit", name))
            elif token == ("op", "["):
                self.take()
                node = ("member", node, self.expr())
                self.take("]")
            elif token == ("op", "("):
                self.take()
                args = []
                while self.peek() != ("op", ")"):
                    args.append(self.expr())
                    if self.peek() == ("op", ","):
                        self.take()
                self.take(")")
                node = ("call", node, args)
            else:
                return node

    def primary(self) -> tuple:
        kind, value = self.take()
        if kind in ("num", "str"):
            return ("lit", value)
        if kind == "name":
            return {"nil": ("lit", None), "true": ("lit", True), "false": ("lit", False)}.get(value, ("name", value))
        if (kind, value) == ("op", "("):
            node = self.expr()
            self.take(")")
            return node
        raise ParseError(f"unexpected {value!r}")


def _member_path(node: tuple) -> str | None:
    if node[0] == "name":
        return node[1]
    if node[0] == "member" and node[2][0] == "lit" and isinstance(node[2][1], str):
        inner = _member_path(node[1])
        return f"{inner}.{node[2][1]}" if inner is not None else None
    return None


def identifiers(tree: tuple) -> list[str]:
    """The identifiers and member paths Argo's identifierVisitor collects."""
    found: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        path = _member_path(node) if node[0] in ("name", "member") else None
        if path is not None and path not in found:
            found.append(path)
        if node[0] == "member":
            stack += [node[1], node[2]]
        elif node[0] == "bin":
            stack += [node[2], node[3]]
        elif node[0] == "call":
            stack += [node[1], *node[2]]
    return found


def evaluate(node: tuple, env: dict[str, Any]) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "name":
        if node[1] not in env:
            raise EvalError(f"unknown name {node[1]}")
        return env[node[1]]
    if kind == "member":
        base, key = evaluate(node[1], env), evaluate(node[2], env)
        if isinstance(base, dict):
            return base.get(key)
        raise EvalError(f"cannot fetch {key!r} from {type(base).__name__}")
    if kind == "call":
        function = evaluate(node[1], env)
        if not callable(function):
            raise EvalError("not a function")
        return function(*(evaluate(a, env) for a in node[2]))
    left, right = evaluate(node[2], env), evaluate(node[3], env)
    try:
        return {"+": lambda: left + right, "-": lambda: left - right, "*": lambda: left * right}.get(
            node[1], lambda: left // right if isinstance(left, int) and isinstance(right, int) else left / right
        )()
    except (TypeError, ZeroDivisionError) as exc:
        raise EvalError(str(exc)) from None
