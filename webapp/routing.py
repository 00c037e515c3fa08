"""URL rules whose builder functions are compiled once per process.

werkzeug compiles a builder for every rule of every app (an AST built and `compile()`d per rule,
~0.1 s for this app's ~230 rules). The function depends only on the rule's text, its traced
parts and its defaults, never on the app, so apps of one process (the test suite makes one per
test) can share it; each rule still binds it to itself. Installed as `Flask.url_rule_class`.
"""
from __future__ import annotations

from typing import Any, Callable

from werkzeug.routing import Rule


class SharedBuilderRule(Rule):
    _builders: dict[tuple, Callable[..., Any]] = {}

    def _compile_builder(self, append_unknown: bool = True):  # werkzeug's (private) hook in Rule.compile
        try:
            key = (self.rule, tuple(self._trace), append_unknown,
                   tuple(sorted((name, repr(value)) for name, value in (self.defaults or {}).items())),
                   tuple(sorted((name, type(conv).__qualname__) for name, conv in self._converters.items())))
            hash(key)
        except (AttributeError, TypeError):  # an unexpected rule shape: compile as werkzeug does
            return super()._compile_builder(append_unknown)
        builder = self._builders.get(key)
        if builder is None:
            builder = self._builders[key] = super()._compile_builder(append_unknown)
        return builder
