"""Container image references, checked as container runtimes parse them (distribution/reference grammar).

    reference := name [":" tag] ["@" digest]
    name      := [domain "/"] path-component ["/" path-component]*
    domain    := host [":" port]         (a host has a "." or ":", or is "localhost")
    path-component := [a-z0-9]+ ([_.]|__|-+ [a-z0-9]+)*
    tag       := [\\w][\\w.-]{0,127}
    digest    := algorithm ":" hex        (sha256: 64 hex digits, sha512: 128; others at least 32)

The name is at most 255 characters. A reference that breaks a rule is refused with the rule in words and,
where the fix is clear (a URL scheme, upper case, a space), a corrected reference.
"""

from __future__ import annotations

import re
import unicodedata

_COMPONENT = r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^(?:({_DOMAIN})/)?({_COMPONENT}(?:/{_COMPONENT})*)(?::({_TAG}))?(?:@({_DIGEST}))?$")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
NAME_LIMIT = 255
EXAMPLE = "e.g. python:3.12-slim or ghcr.io/acme/etl:1.4"


def _invisible(value: str) -> str | None:
    """The first character that is a space, a control or an invisible format character, described."""
    for char in value:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp"):
            name = unicodedata.name(char, "a control character")
            return f"U+{ord(char):04X} ({name.lower()})"
    return None


def _domain_and_path(value: str) -> tuple[str | None, str]:
    first, slash, rest = value.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        return first, rest
    return None, value


def image_problem(value: str) -> tuple[str, str | None] | None:
    """(why `value` is not an image reference, a hint), or None when container runtimes accept it."""
    if not value:
        return "the image is empty", EXAMPLE
    hidden = _invisible(value)
    if hidden:
        fixed = "".join(c for c in value if not (c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Zs")))
        usable = fixed and image_problem(fixed) is None
        return f"the image {value!r} holds {hidden}", f"write '{fixed}'" if usable else EXAMPLE
    scheme = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value)
    if scheme:
        fixed = value[scheme.end() :]
        return f"'{value}' has a URL scheme ({scheme.group()}); an image reference has none", f"write '{fixed}'"
    match = _REFERENCE.match(value)
    if match is None:
        domain, path = _domain_and_path(value)
        repository = re.split("[:@]", path, maxsplit=1)[0]
        if repository != repository.lower():
            fixed = (domain + "/" if domain else "") + repository.lower() + path[len(repository) :]
            message = f"'{value}' has upper-case letters in its repository name, which must be lowercase"
            return message, f"write '{fixed}'"
        _, at, digest = value.partition("@")
        if at and not re.fullmatch(_DIGEST, digest):
            return f"'{digest}' after '@' is not a digest", "a digest is algorithm:hex, e.g. sha256: and 64 hex digits"
        return (
            f"'{value}' is not a container image reference: [registry[:port]/]name[:tag][@digest], the name "
            "of lowercase letters, digits and the separators '.', '_', '__', '-' between them",
            EXAMPLE,
        )
    base, digest = value.split("@", 1)[0], match.group(4)
    name = base[: -(len(match.group(3)) + 1)] if match.group(3) else base
    if len(name) > NAME_LIMIT:
        return f"the image name has {len(name)} characters; at most {NAME_LIMIT} are allowed", None
    if digest:
        algorithm, hex_digits = digest.split(":", 1)
        wanted = _DIGEST_LENGTHS.get(algorithm.lower())
        if wanted is not None and len(hex_digits) != wanted:
            return f"the {algorithm} digest of '{value}' has {len(hex_digits)} hex digits; it must have {wanted}", None
    return None


def check_image(value: str) -> str:
    """A pydantic validator: the image reference, or a ValueError saying why (and how to fix it)."""
    problem = image_problem(value)
    if problem is None:
        return value
    message, hint = problem
    raise ValueError(f"{message} ({hint})" if hint else message)
