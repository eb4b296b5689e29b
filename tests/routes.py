"""Every route the URL resolver knows, walked rather than listed, so a new page is covered by the
tests that use this (the fuzz test, the blind-protocol leak test) without touching them."""

import re

from django.urls import URLResolver, get_resolver


def _chains(patterns, prefix=()):
    """Chains of patterns down to every view; the admin (staff only) is left out."""
    for entry in patterns:
        chain = (*prefix, entry.pattern)
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue
            yield from _chains(entry.url_patterns, chain)
        else:
            yield chain


def routes() -> dict[str, tuple]:
    """Route text (e.g. "/models/<slug:slug>/") -> the chain of patterns that matches it."""
    return {"/" + "".join(str(pattern) for pattern in chain): chain for chain in _chains(get_resolver().url_patterns)}


PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")


def route_paths(route: str, values: dict[str, list[str]]) -> list[str]:
    """Every path of a route with its parameters filled from ``values`` (by converter name: "int",
    "slug", ...); a route with a parameter that has no values gives no path."""
    paths = [route]
    for converter, _ in PARAMETER.findall(route):
        filled = []
        for path in paths:
            for value in values.get(converter or "str", []):
                filled.append(PARAMETER.sub(lambda _match, value=value: value, path, count=1))
        paths = filled
    return paths
