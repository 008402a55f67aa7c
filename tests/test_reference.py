"""docs/commands.rst is what pubbot.reference makes from the handlers: it cannot fall behind."""

import os

from twisted.trial.unittest import SynchronousTestCase

from pubbot.api import command, require
from pubbot.loader import load_handlers
from pubbot.reference import commands_reference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ReferenceTests(SynchronousTestCase):
    def test_the_committed_reference_is_current(self):
        with open(os.path.join(ROOT, "docs", "commands.rst"), encoding="utf-8") as f:
            committed = f.read()
        self.assertEqual(committed, commands_reference(load_handlers()),
                         "docs/commands.rst is stale: python -m pubbot.reference > docs/commands.rst")

    def test_every_command_is_in_it(self):
        text = commands_reference(load_handlers())
        for handler in load_handlers():
            for trigger in handler.triggers:
                self.assertIn(trigger, text)

    def test_a_new_command_changes_it(self):
        @command("frobnicate", description="Frobs.", admin=True)
        def frobnicate(msg):
            return "ok"
        text = commands_reference(load_handlers() + [frobnicate])
        self.assertIn("``!frobnicate``", text)
        self.assertIn("Frobs. (admins only)", text)

    def test_who_may_use_a_command_is_shown(self):
        @command("frob", description="Frobs.")
        @require("op")
        def frob(msg):
            return "ok"

        @command("twiddle", description="Twiddles.")
        @require("voice")
        def twiddle(msg):
            return "ok"
        text = commands_reference(load_handlers() + [frob, twiddle])
        self.assertIn("Frobs. (ops and admins)", text)
        self.assertIn("Twiddles. (voiced, ops and admins)", text)
