"""Every route of a URL conf as a `%(name)s` format string, read from Django's own reverse table.

Tests that must cover "every URL with parameters" take the list from here instead of a hand-kept one, so a
route added tomorrow is fuzzed tomorrow without anyone remembering to add it.
"""

from urllib.parse import quote

from django.urls import get_resolver


def routes(urlconf=None) -> list[tuple[str, tuple[str, ...]]]:
    """(format string, parameter names) for every route, namespaced includes (the admin) too, sorted."""
    return sorted(set(_walk(get_resolver(urlconf), "")))


def _walk(resolver, prefix: str):
    for _key, entries in resolver.reverse_dict.lists():
        for possibilities, _pattern, _defaults, _converters in entries:
            for template, params in possibilities:
                yield prefix + template, tuple(params)
    for namespace_prefix, sub_resolver in resolver.namespace_dict.values():
        yield from _walk(sub_resolver, prefix + namespace_prefix.lstrip("^"))


def fill(template: str, values: dict[str, str]) -> str:
    """The path with each parameter percent-encoded as a client would send it (lone surrogates as their bytes)."""
    return "/" + template % {name: quote(value, safe="", errors="surrogatepass") for name, value in values.items()}
