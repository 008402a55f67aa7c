"""Who someone is: person keys and the admin check (never by nick alone)."""

from twisted.trial.unittest import SynchronousTestCase

from pubbot.config.settings import ConfigError, parse
from pubbot.core.message import Message
from pubbot.testing import Harness
from pubbot.util.people import is_admin, person_key, user_host


def line(source="alice", account=None, hostmask="alice!al@host.example", bot=None, network="irc"):
    return Message("chat.%s.#pubbot.chat" % (network,),
                   {"source": source, "account": account, "hostmask": hostmask, "network": network}, bot)


#: A bot with the [irc] network and [networks.libera].
TWO = {"irc": {"server": "tcp:a.example:6667"}, "networks": {"libera": {"server": "tcp:b.example:6667"}}}


class UserHostTests(SynchronousTestCase):
    def test_parts(self):
        self.assertEqual(user_host("Nick!~User@Host.Example"), "~user@host.example")
        self.assertEqual(user_host("user@host"), "user@host")

    def test_missing(self):
        for mask in (None, "", "nick", "nick!user"):
            self.assertIsNone(user_host(mask))


class PersonKeyTests(SynchronousTestCase):
    def test_account_first(self):
        self.assertEqual(person_key(line(account="Alice")), "account:alice")

    def test_user_host_when_no_account(self):
        self.assertEqual(person_key(line()), "host:al@host.example")

    def test_nick_changes_do_not_change_the_key(self):
        self.assertEqual(person_key(line(source="alice")),
                         person_key(line(source="alice_", hostmask="alice_!al@host.example")))

    def test_nick_only_without_account_or_host(self):
        self.assertEqual(person_key(line(source="You", hostmask=None)), "nick:you")


    def test_people_of_more_networks_are_keyed_by_network(self):
        bot = Harness(config=TWO).bot
        self.assertEqual(person_key(line(account="Alice", bot=bot)), "account:alice")  # [irc]: as before
        self.assertEqual(person_key(line(account="Alice", bot=bot, network="libera")), "libera/account:alice")
        self.assertEqual(person_key(line(bot=bot, network="libera")), "libera/host:al@host.example")
        self.assertEqual(person_key(line(source="you", hostmask=None, bot=bot, network="console")),
                         "nick:you")


class IsAdminTests(SynchronousTestCase):
    def test_by_account(self):
        self.assertTrue(is_admin(line(account="Root"), ["root"]))
        self.assertFalse(is_admin(line(account="rooty"), ["root"]))

    def test_nick_alone_is_never_enough(self):
        """Anyone can take the nick 'root'; without the account it means nothing."""
        self.assertFalse(is_admin(line(source="root", hostmask="root!x@evil.example"), ["root"]))

    def test_by_user_host_mask(self):
        admins = ["ops@*.example.org"]
        self.assertTrue(is_admin(line(hostmask="anyone!ops@shell.example.org"), admins))
        self.assertFalse(is_admin(line(hostmask="anyone!ops@example.net"), admins))
        self.assertFalse(is_admin(line(hostmask="anyone!other@shell.example.org"), admins))

    def test_mask_nick_part_is_ignored(self):
        admins = ["root!ops@shell.example.org"]
        self.assertTrue(is_admin(line(source="bob", hostmask="bob!ops@shell.example.org"), admins))
        self.assertFalse(is_admin(line(source="root", hostmask="root!x@elsewhere"), admins))

    def test_masks_are_case_insensitive(self):
        self.assertTrue(is_admin(line(hostmask="a!Ops@Shell.Example.ORG"), ["OPS@shell.example.org"]))

    def test_account_entries_are_not_wildcards(self):
        self.assertFalse(is_admin(line(account="anyone"), ["*"]))

    def test_no_admins_no_fields(self):
        self.assertFalse(is_admin(line(account="root"), []))
        self.assertFalse(is_admin(line(account=None, hostmask=None), ["root", "*@*"]))

    def test_default_admins_come_from_the_config(self):
        bot = Harness(config={"plugins": {"admins": ["root", "ops@shell.example.org"]}}).bot
        self.assertTrue(is_admin(line(account="root", bot=bot)))
        self.assertTrue(is_admin(line(hostmask="x!ops@shell.example.org", bot=bot)))
        self.assertFalse(is_admin(line(source="root", bot=bot)))

    def test_no_bot_no_admins(self):
        self.assertFalse(is_admin(line(account="root")))

    def test_entries_are_per_network(self):
        bot = Harness(config=dict(TWO, plugins={"admins": ["root", "libera:Alice", "libera:*@user/bob"]})).bot
        self.assertTrue(is_admin(line(account="root", bot=bot)))
        # someone else may hold the account root on another network
        self.assertFalse(is_admin(line(account="root", bot=bot, network="libera")))
        self.assertTrue(is_admin(line(account="alice", bot=bot, network="libera")))
        self.assertFalse(is_admin(line(account="alice", bot=bot)))
        self.assertTrue(is_admin(line(hostmask="x!b@user/bob", bot=bot, network="libera")))
        self.assertFalse(is_admin(line(hostmask="x!b@user/bob", bot=bot)))

    def test_an_entry_for_an_unknown_network_is_a_config_error(self):
        with self.assertRaises(ConfigError) as e:
            parse(dict(TWO, plugins={"admins": ["libra:alice"]}))
        self.assertEqual(str(e.exception),
                         "[plugins] admins has 'libra:alice', but there is no [networks.libra]")
        parse({"plugins": {"admins": ["*@2001:db8::1", "ops@host:1"]}})  # masks are not network names

    def test_default_config_has_no_admins(self):
        self.assertEqual(parse({}).plugins.admins, ())
