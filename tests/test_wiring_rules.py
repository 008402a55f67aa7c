"""
The wiring rules, read from the source with ast: the code that builds the
daemon (C{pubbot.tap}, C{pubbot.cluster.wiring}) passes what each object
needs to its constructor, never setting attributes on objects afterwards;
and no module calls another module's private methods.
"""

from __future__ import annotations

import ast
import os
import unittest

from .support.servers import ROOT

#: The modules that choose and build the implementations.
WIRING = ("pubbot/tap.py", "pubbot/cluster/wiring.py")


def parse(path: str) -> ast.Module:
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return ast.parse(f.read(), path)


def _own(node: ast.expr) -> bool:
    """C{self.name}: an attribute of the object whose method this is."""
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        found = list(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.comprehension)):
        found = [node.target]
    elif isinstance(node, ast.withitem):
        found = [node.optional_vars] if node.optional_vars is not None else []
    elif isinstance(node, ast.Delete):
        found = list(node.targets)
    else:
        return []
    flat: list[ast.expr] = []
    while found:
        target = found.pop()
        if isinstance(target, (ast.Tuple, ast.List)):
            found.extend(target.elts)
        elif isinstance(target, ast.Starred):
            found.append(target.value)
        else:
            flat.append(target)
    return flat


def outside_assignments(tree: ast.AST) -> list[str]:
    """
    Where C{tree} sets (or deletes) an attribute, or an item of an attribute,
    of anything but C{self}, or does so by C{setattr}, C{__setattr__},
    C{__dict__} or C{vars}.
    """
    found = []
    for node in ast.walk(tree):
        for target in _targets(node):
            if isinstance(target, ast.Subscript):
                target = target.value
                while isinstance(target, ast.Subscript):
                    target = target.value
                if not isinstance(target, ast.Attribute) or _own(target):
                    continue  # a local or own container
            if isinstance(target, ast.Attribute) and not _own(target):
                found.append("line %d: %s" % (target.lineno, ast.unparse(target)))
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name in ("setattr", "delattr", "__setattr__", "__delattr__", "vars"):
                found.append("line %d: %s" % (node.lineno, ast.unparse(node)))
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            found.append("line %d: %s" % (node.lineno, ast.unparse(node)))
    return found


def foreign_private_calls(tree: ast.Module) -> list[str]:
    """
    Calls of C{x._name(...)} (or C{getattr(x, "_name")(...)}) in C{tree} where
    C{x} is not C{self}, C{cls} or C{super()} and no C{_name} is defined in
    the module itself (its own classes may work together).
    """
    defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    modules = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            modules.update((a.asname or a.name).partition(".")[0] for a in n.names)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            name, receiver = func.attr, func.value
        elif (isinstance(func, ast.Call) and isinstance(func.func, ast.Name) and func.func.id == "getattr"
              and len(func.args) >= 2 and isinstance(func.args[1], ast.Constant)
              and isinstance(func.args[1].value, str)):
            name, receiver = func.args[1].value, func.args[0]
        else:
            continue
        if not name.startswith("_") or name.startswith("__") or name in defined:
            continue
        if isinstance(receiver, ast.Name) and receiver.id in ({"self", "cls"} | modules):
            continue  # its own, or a library module's (sys._getframe)
        if isinstance(receiver, ast.Call) and ast.unparse(receiver.func) == "super":
            continue
        found.append("line %d: %s" % (node.lineno, ast.unparse(node)))
    return found


def package_modules() -> list[str]:
    paths = []
    for folder, _, files in os.walk(os.path.join(ROOT, "pubbot")):
        paths.extend(os.path.relpath(os.path.join(folder, f), ROOT) for f in files if f.endswith(".py"))
    return sorted(paths)


class WiringRuleTests(unittest.TestCase):
    def test_the_wiring_sets_no_attribute_of_another_object(self):
        for path in WIRING:
            self.assertEqual(outside_assignments(parse(path)), [], path)

    def test_no_module_calls_another_modules_private_methods(self):
        for path in package_modules():
            self.assertEqual(foreign_private_calls(parse(path)), [], path)

    def test_the_checks_see_what_they_forbid(self):
        tree = ast.parse(
            "def f(bot, top, bus):\n"
            "    bot.bus = bus\n"
            "    bot.jobs.owner = lambda: True\n"
            "    self.bot.outbox = bus.outbox\n"
            "    bot.chat_services['irc'] = bus\n"
            "    top.bot, x = bot, 1\n"
            "    bot.count += 1\n"
            "    del bot.reloader\n"
            "    setattr(bot, 'shutdown', None)\n"
            "    bot.__dict__.update(bus=bus)\n"
            "    object.__setattr__(bot, 'bus', bus)\n"
            "    vars(bot)['bus'] = bus\n")
        self.assertEqual(len(outside_assignments(tree)), 11)
        allowed = ast.parse(
            "class C:\n"
            "    def __init__(self, bot):\n"
            "        self.bot = bot\n"
            "        self.waits = []\n"
            "        self.waits[0:0] = [1]\n"
            "        x = {}\n"
            "        x['a'] = bot\n")
        self.assertEqual(outside_assignments(allowed), [])
        calls = ast.parse(
            "import sys\n"
            "class C:\n"
            "    def _mine(self): pass\n"
            "    def f(self, bot, other):\n"
            "        bot._send_local('irc')\n"
            "        getattr(bot, '_send_local')('irc')\n"
            "        self._mine()\n"
            "        other._mine()\n"
            "        super()._x()\n"
            "        sys._getframe()\n"
            "        bot.send_local('irc')\n")
        self.assertEqual(foreign_private_calls(calls), ["line 5: bot._send_local('irc')",
                                                        "line 6: getattr(bot, '_send_local')('irc')"])


if __name__ == "__main__":
    unittest.main()
