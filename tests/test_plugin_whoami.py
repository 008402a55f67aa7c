"""!whoami: how the bot identifies you."""

from twisted.trial.unittest import SynchronousTestCase

from pubbot.plugins.whoami import whoami
from pubbot.testing import Harness


class WhoamiTests(SynchronousTestCase):
    def test_by_account(self):
        h = Harness(whoami, config={"plugins": {"admins": ["Alice"]}})
        self.assertEqual(h.reply("!whoami", source="alice", account="Alice"),
                         "alice: you are logged in as Alice; I know you by that account; "
                         "you are an admin: you may teach replies, make me unlearn and forget.")

    def test_by_user_and_host_and_not_an_admin(self):
        h = Harness(whoami)
        text = h.reply("!whoami", source="bob", hostmask="bob!~bob@host.example")
        self.assertIn("you are not logged in, so I know you by ~bob@host.example", text)
        self.assertIn("you are not an admin (admins are listed in [plugins] admins", text)

    def test_on_another_network(self):
        h = Harness(whoami, config={"networks": {"libera": {"server": "tcp:a:1"}}})
        text = h.reply("!whoami", source="cy", account="cy", network="libera")
        self.assertTrue(text.startswith("cy: libera: you are logged in as cy"), text)
