"""The baseline: a bare twisted.words IRCClient that answers one trigger."""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientFactory
from twisted.internet.task import react
from twisted.words.protocols import irc


class Bare(irc.IRCClient):
    nickname = "bare"

    def signedOn(self):
        self.join(self.factory.channel)

    def privmsg(self, user, channel, message):
        if message == "!ping":
            self.msg(channel, "pong")


class BareFactory(ClientFactory):
    """Joins C{channel}; C{done} fires when the connection ends."""

    protocol = Bare

    def __init__(self, channel):
        self.channel = channel
        self.done = Deferred()

    def clientConnectionLost(self, connector, reason):
        self.done.callback(None)

    clientConnectionFailed = clientConnectionLost


def main(reactor, port, channel):
    factory = BareFactory(channel)
    reactor.connectTCP("127.0.0.1", int(port), factory)
    return factory.done


if __name__ == "__main__":
    react(main, sys.argv[1:3])
