"""The SSH manhole: a Python prompt inside the running bot (twisted.conch).

With C{[manhole] endpoint} set, pubbot listens for SSH connections that log
in with a public key listed in C{[manhole] authorized_keys} (any user name;
no passwords, no keyboard-interactive). The file is read at each login, so
removing a key takes effect at once. The host key is generated at
C{[manhole] host_key} on first start (Ed25519, mode 0600) and refused later
if others can read it.

An interactive login (C{ssh -p 2222 127.0.0.1}) gets twisted.conch's
colourful manhole; a command (C{ssh -p 2222 127.0.0.1 'len(bot.handlers)'})
is run as Python and its value printed, its exit status 1 on an exception.
The namespace holds C{bot}, C{services} (the top MultiService), C{service}
(lookup by name), C{dispatcher}, C{store}, C{config} (the settings) and
C{reactor}.

Twisted's conch SSH modules import the global reactor, so they are imported
here only when the manhole starts (after twistd chose its reactor).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import traceback
from collections.abc import Iterable
from typing import Any

from twisted.application.service import Service
from twisted.conch.avatar import ConchUser
from twisted.conch.checkers import IAuthorizedKeysDB, SSHPublicKeyChecker, readAuthorizedKeyFile
from twisted.conch.insults import insults
from twisted.conch.interfaces import IConchUser, ISession
from twisted.conch.ssh import keys
from twisted.conch.ssh.session import SSHSession
from twisted.cred.portal import IRealm, Portal
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

log = Logger()

#: Seconds a command's Deferred result may take before the command fails.
EXEC_TIMEOUT = 60.0
#: Longest command accepted (bytes).
MAX_COMMAND = 65536


class ManholeError(Exception):
    """A manhole set-up problem; the message is one line for the operator."""


# checks and keys

def _read_keys(path: str) -> list:
    with open(path, "rb") as f:
        return list(readAuthorizedKeyFile(f))


def check_manhole_settings(settings) -> str | None:
    """A one-line problem with the [manhole] settings, or None (also when off)."""
    m = settings.manhole
    if not m.endpoint:
        return None
    if not m.authorized_keys:
        return "[manhole] authorized_keys must be set when [manhole] endpoint is"
    try:
        found = _read_keys(m.authorized_keys)
    except OSError as e:
        return "[manhole] authorized_keys %s cannot be read (%s); the manhole needs it" % (
            m.authorized_keys, e.strerror or e)
    if not found:
        return "[manhole] authorized_keys %s holds no valid public key" % (m.authorized_keys,)
    try:
        if os.path.exists(m.host_key):
            load_host_key(m.host_key, create=False)
        else:
            directory = os.path.dirname(os.path.abspath(m.host_key))
            if not os.access(directory, os.W_OK | os.X_OK):
                return "[manhole] host_key %s cannot be created: directory %s is not writable" % (
                    m.host_key, directory)
    except ManholeError as e:
        return str(e)
    return None


def load_host_key(path: str, create: bool = True) -> keys.Key:
    """
    The SSH host key at C{path}; when missing and C{create}, a new Ed25519
    key is written there with mode 0600.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if not create:
            raise ManholeError("[manhole] host_key %s does not exist" % (path,)) from None
        return _create_host_key(path)
    except OSError as e:
        raise ManholeError("[manhole] host_key %s cannot be read (%s)" % (path, e.strerror or e)) from e
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ManholeError("[manhole] host_key %s is open to others (mode %04o): chmod 600 it" % (
            path, stat.S_IMODE(info.st_mode)))
    try:
        key = keys.Key.fromFile(path)
    except (OSError, keys.BadKeyError, ValueError) as e:
        raise ManholeError("[manhole] host_key %s is not a private key: %s" % (path, e)) from e
    if key.isPublic():
        raise ManholeError("[manhole] host_key %s is a public key; it must be the private one" % (path,))
    return key


def _create_host_key(path: str) -> keys.Key:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    data = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                 serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise ManholeError("[manhole] host_key %s cannot be created (%s)" % (path, e.strerror or e)) from e
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
    key = keys.Key.fromString(data)
    log.info("manhole: created host key {path} (SHA256:{fingerprint})", path=path,
             fingerprint=key.fingerprint(keys.FingerprintFormats.SHA256_BASE64))
    return key


@implementer(IAuthorizedKeysDB)
class AuthorizedKeysFile:
    """The keys in one authorized_keys file, for any user name, read at each login."""

    def __init__(self, path: str):
        self.path = path

    def getAuthorizedKeys(self, username: bytes) -> Iterable[keys.Key]:
        try:
            return _read_keys(self.path)
        except OSError as e:
            log.warn("manhole: cannot read {path} ({error}); refusing every key", path=self.path,
                     error=e.strerror or e)
            return []


# sessions

class _Stdin:
    """The transport a command's session protocol gets: input is ignored."""

    def write(self, data: bytes) -> None:
        pass

    def writeSequence(self, data) -> None:
        pass

    def loseConnection(self) -> None:
        pass


class _Shell:
    """
    The session protocol as the manhole's terminal sees it: ending the
    manhole (Ctrl-D) reports exit status 0 before closing the channel.
    """

    def __init__(self, proto):
        self._proto = proto
        self.session = proto.session

    def makeConnection(self, transport) -> None:
        self._proto.makeConnection(transport)

    def write(self, data: bytes) -> None:
        self._proto.write(data)

    def loseConnection(self) -> None:
        self._proto.processEnded(Failure(ProcessDone(0)))


def run_command(text: str, namespace: dict, clock=None, timeout: float = EXEC_TIMEOUT) -> Deferred:
    """
    Run C{text} as Python in C{namespace}: an expression's value is printed
    (waiting for a Deferred); fires with (stdout, stderr, exit status).
    """
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            try:
                code = compile(text, "<ssh>", "eval")
            except SyntaxError:
                exec(compile(text, "<ssh>", "exec"), namespace)
                return succeed((out.getvalue(), "", 0))
            value = eval(code, namespace)
    except BaseException:
        return succeed((out.getvalue(), traceback.format_exc(), 1))
    if not isinstance(value, Deferred):
        shown = "" if value is None else repr(value) + "\n"
        return succeed((out.getvalue() + shown, "", 0))
    if clock is not None:
        value.addTimeout(timeout, clock)

    def done(result):
        return (out.getvalue() + repr(result) + "\n", "", 0)

    def failed(failure: Failure):
        return (out.getvalue(), failure.getTraceback(), 1)

    return value.addCallbacks(done, failed)


@implementer(ISession)
class ManholeSession:
    """One SSH session channel: a manhole shell, or one command."""

    def __init__(self, avatar: ManholeUser):
        self.avatar = avatar
        self.width, self.height = 80, 24
        self.terminal: Any = None

    def getPty(self, term, windowSize, attrs) -> None:
        self.height, self.width = windowSize[:2]

    def openShell(self, proto) -> None:
        from twisted.conch.manhole import ColoredManhole
        from twisted.conch.manhole_ssh import TerminalSessionTransport

        self.terminal = insults.ServerProtocol(ColoredManhole, self.avatar.namespace)
        TerminalSessionTransport(_Shell(proto), self.terminal, self.avatar, self.width, self.height)
        log.info("manhole: shell opened by {user}", user=self.avatar.username)

    def execCommand(self, proto, cmd: bytes) -> None:
        proto.makeConnection(_Stdin())
        if len(cmd) > MAX_COMMAND:
            proto.errReceived(b"command too long\n")
            proto.processEnded(Failure(ProcessTerminated(exitCode=2)))
            return
        text = cmd.decode("utf-8", "replace")
        log.info("manhole: {user} runs {command!r}", user=self.avatar.username, command=text[:200])
        d = maybeDeferred(run_command, text, self.avatar.namespace, self.avatar.clock)

        def finish(result):
            stdout, stderr, status = result
            if stdout:
                proto.outReceived(stdout.encode("utf-8", "backslashreplace"))
            if stderr:
                proto.errReceived(stderr.encode("utf-8", "backslashreplace"))
            proto.processEnded(Failure(ProcessDone(0) if status == 0 else ProcessTerminated(exitCode=status)))

        d.addCallback(finish).addErrback(lambda f: log.failure("manhole command failed", f))

    def windowChanged(self, newWindowSize) -> None:
        rows, cols = newWindowSize[:2]
        if self.terminal is not None and self.terminal.terminalProtocol is not None:
            self.terminal.terminalProtocol.terminalSize(cols, rows)

    def eofReceived(self) -> None:
        # the client's input ended: a shell has nothing more to read
        if self.terminal is not None:
            self.terminal.loseConnection()

    def closed(self) -> None:
        pass


class ManholeUser(ConchUser):
    """A logged-in manhole user: sessions only."""

    def __init__(self, username: bytes, namespace: dict, clock):
        super().__init__()
        self.username = username.decode("utf-8", "replace")
        self.namespace = namespace
        self.clock = clock
        self.channelLookup[b"session"] = SSHSession

    def __conform__(self, interface):
        if interface is ISession:
            return ManholeSession(self)
        return None


@implementer(IRealm)
class ManholeRealm:
    def __init__(self, namespace: dict, clock=None):
        self.namespace = namespace
        self.clock = clock

    def requestAvatar(self, avatarId, mind, *interfaces):
        if IConchUser not in interfaces:
            raise NotImplementedError("the manhole offers SSH sessions only")
        user = ManholeUser(avatarId, self.namespace, self.clock)
        log.info("manhole: {user} logged in", user=user.username)
        return IConchUser, user, lambda: None


def make_factory(namespace: dict, authorized_keys: str, host_key: keys.Key, clock=None):
    """An SSH server factory for the manhole (public keys only)."""
    from twisted.conch.ssh.factory import SSHFactory

    checker = SSHPublicKeyChecker(AuthorizedKeysFile(authorized_keys))
    portal = Portal(ManholeRealm(namespace, clock), [checker])
    factory = SSHFactory()
    factory.portal = portal  # type: ignore[attr-defined]
    factory.noisy = False
    kind = host_key.sshType()
    factory.publicKeys = {kind: host_key.public()}
    factory.privateKeys = {kind: host_key}
    return factory


def namespace_for(top, bot, settings, reactor) -> dict:
    """What the manhole's Python prompt starts with."""
    return {
        "bot": bot,
        "services": top,
        "service": top.getServiceNamed,
        "dispatcher": bot.dispatcher,
        "store": bot.store,
        "config": settings,
        "settings": settings,
        "reactor": reactor,
    }


class ManholeService(Service):
    """Listens on C{[manhole] endpoint}; refuses to be built without authorized keys."""

    name = "manhole"  # type: ignore[assignment]

    def __init__(self, settings, namespace: dict, reactor):
        problem = check_manhole_settings(settings)
        if problem:
            raise ManholeError(problem)
        self.settings = settings.manhole
        self.namespace = namespace
        self.reactor = reactor
        self.port = None
        self.factory = None
        #: Fires with the listening port, or None when the manhole could not start.
        self.listening: Deferred = Deferred()

    def startService(self) -> None:
        super().startService()
        if self.listening.called:
            self.listening = Deferred()
        from twisted.internet.endpoints import serverFromString

        from .web.auth import is_loopback

        try:
            host_key = load_host_key(self.settings.host_key)
            self.factory = make_factory(self.namespace, self.settings.authorized_keys, host_key, self.reactor)
            endpoint = serverFromString(self.reactor, self.settings.endpoint)
        except Exception as e:
            self._failed(e)
            return
        if not is_loopback(self.settings.endpoint):
            log.warn("manhole: {endpoint} listens beyond this machine (keys only, but consider "
                     "interface=127.0.0.1)", endpoint=self.settings.endpoint)
        endpoint.listen(self.factory).addCallbacks(self._listened, lambda f: self._failed(f.value))

    def _listened(self, port) -> None:
        self.port = port
        if not self.running:
            port.stopListening()
            return
        log.info("manhole: SSH on {address}", address=port.getHost())
        self.listening.callback(port)

    def _failed(self, error: BaseException) -> None:
        log.error("manhole: cannot start on {endpoint}: {error}; the bot runs on without it",
                  endpoint=self.settings.endpoint, error=error)
        self.listening.callback(None)

    def stopService(self):
        super().stopService()
        if self.port is not None:
            port, self.port = self.port, None
            return port.stopListening()
        return succeed(None)
