"""The baseline: a bare twisted.words IRCClient that answers one trigger."""

import sys

from twisted.internet import reactor
from twisted.internet.protocol import ClientFactory
from twisted.words.protocols import irc


class Bare(irc.IRCClient):
    nickname = "bare"

    def signedOn(self):
        self.join(self.factory.channel)

    def privmsg(self, user, channel, message):
        if message == "!ping":
            self.msg(channel, "pong")


class BareFactory(ClientFactory):
    protocol = Bare

    def __init__(self, channel):
        self.channel = channel

    def clientConnectionLost(self, connector, reason):
        if reactor.running:
            reactor.stop()


if __name__ == "__main__":
    reactor.connectTCP("127.0.0.1", int(sys.argv[1]), BareFactory(sys.argv[2]))
    reactor.run()
