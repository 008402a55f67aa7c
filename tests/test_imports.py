"""The import rules of pubbot's layout, read from the source with ast."""

from __future__ import annotations

import ast
import functools
import os
import unittest

from .support.servers import ROOT

PACKAGE = os.path.join(ROOT, "pubbot")


def module_name(path: str) -> str:
    rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def modules() -> dict[str, str]:
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found[module_name(path)] = path
    return found


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str, path: str, known: set[str]) -> set[str]:
    """The pubbot modules C{name} imports anywhere (in functions too), but under TYPE_CHECKING."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        # the deepest known module the name points at (a module, or a name in one)
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                add(prefix + "." + alias.name)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m.startswith("pubbot")}


@functools.cache
def _read_graph() -> dict[str, frozenset[str]]:
    found = modules()
    known = set(found)
    return {name: frozenset(imports_of(name, path, known)) for name, path in found.items()}


def graph() -> dict[str, set[str]]:
    """What each pubbot module imports (read once a run; a fresh copy each call)."""
    return {name: set(imported) for name, imported in _read_graph().items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def _is_package(module: str) -> bool:
    return module == "pubbot" or module.endswith(".__init__")


class ImportRuleTests(unittest.TestCase):
    def test_no_import_circle(self):
        edges = graph()
        # a package's __init__ importing its own modules is not a circle of ideas
        for name in list(edges):
            edges[name] = {m for m in edges[name] if not (name.startswith(m + ".") and m != "pubbot")}
        self.assertEqual(cycles(edges), [])

    def assert_imports_none(self, packages: tuple, forbidden: tuple) -> None:
        for name, imported in graph().items():
            if name.startswith(packages):
                bad = sorted(m for m in imported if m.startswith(forbidden))
                self.assertEqual(bad, [], "%s imports %s" % (name, bad))

    def test_the_irc_package_knows_nothing_of_the_bot(self):
        self.assert_imports_none(("pubbot.irc",), (
            "pubbot.core.bot", "pubbot.core.localbus", "pubbot.core.message", "pubbot.core.chat",
            "pubbot.core.dispatch", "pubbot.cluster", "pubbot.plugins", "pubbot.web"))

    def test_the_core_has_no_sockets_irc_or_redis(self):
        self.assert_imports_none(("pubbot.core",), (
            "pubbot.irc", "pubbot.cluster", "pubbot.bridges", "pubbot.web", "pubbot.plugins", "pubbot.store",
            "pubbot.console", "pubbot.tap", "pubbot.music", "pubbot.links", "pubbot.brain", "pubbot.vcs",
            "twisted.internet.reactor", "txredisapi", "txzmq"))

    def test_utilities_stand_alone(self):
        self.assert_imports_none(("pubbot.util",), (
            "pubbot.config", "pubbot.core", "pubbot.irc", "pubbot.cluster", "pubbot.web", "pubbot.plugins",
            "pubbot.api"))

    def test_plugins_import_only_the_api_and_their_feature(self):
        features = {name: "pubbot." + name
                    for name in ("admin", "brain", "chatlogs", "feeds", "ignore", "links", "moderation",
                                 "music", "reminders", "vcs")}
        for name, imported in graph().items():
            if not name.startswith("pubbot.plugins."):
                continue
            allowed = ("pubbot.api", features.get(name.rpartition(".")[2], "pubbot.api"))
            bad = sorted(m for m in imported if m.startswith("pubbot") and m != "pubbot.plugins"
                         and not m.startswith(allowed))
            self.assertEqual(bad, [], "%s imports %s" % (name, bad))

    def test_the_config_core_knows_no_feature_or_plugin(self):
        # features and plugins declare their tables (pubbot.config.registry); the core's stand alone
        self.assert_imports_none(("pubbot.config",), (
            "pubbot.plugins", "pubbot.music", "pubbot.brain", "pubbot.links", "pubbot.vcs", "pubbot.loader",
            "pubbot.api", "pubbot.core", "pubbot.web", "pubbot.tap"))

    def test_the_checker_sees_imports_and_circles(self):
        # the rule tests above can fail: the reader sees real imports, Tarjan finds a planted circle
        self.assertIn("pubbot.irc.state", graph()["pubbot.irc.protocol"])
        self.assertIn("pubbot.core.message", graph()["pubbot.core.chat"])
        self.assertEqual(cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}), [["a", "b", "c"]])


if __name__ == "__main__":
    unittest.main()
