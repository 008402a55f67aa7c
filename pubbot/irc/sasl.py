"""
SASL for IRC: PLAIN, SCRAM-SHA-256 (RFC 5802/7677) and EXTERNAL.

A mechanism answers server challenges with C{respond(challenge) -> bytes}
and raises L{SaslError} on anything wrong, including a SCRAM server whose
signature does not verify. AUTHENTICATE payloads travel base64-encoded in
400-byte chunks (L{encode_payload}) and are reassembled by L{PayloadReader}.
No secret is ever put in an exception message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import unicodedata
from collections.abc import Callable

CHUNK = 400
#: Largest payload a server may send us, decoded (a SCRAM challenge is ~100 bytes).
MAX_PAYLOAD = 8192
#: RFC 7677: at least 4096; far more would stall the reactor (a hostile server).
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 1_000_000


class SaslError(Exception):
    """The exchange failed; the message says why and never holds a secret."""


def encode_payload(payload: bytes) -> list[str]:
    """AUTHENTICATE arguments for C{payload}: base64 in 400-byte chunks, C{+} when empty or exact."""
    if not payload:
        return ["+"]
    data = base64.b64encode(payload).decode("ascii")
    chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]
    if len(chunks[-1]) == CHUNK:
        chunks.append("+")
    return chunks


class PayloadReader:
    """Reassembles a server's chunked AUTHENTICATE payload."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0

    def feed(self, arg: str) -> bytes | None:
        """Feed one AUTHENTICATE argument; the decoded payload once complete, else None."""
        if arg == "+":
            data = "".join(self._parts)
            self._parts, self._size = [], 0
            return self._decode(data)
        if len(arg) > CHUNK:
            raise SaslError("server sent an AUTHENTICATE chunk over %d bytes" % CHUNK)
        self._size += len(arg)
        if self._size > MAX_PAYLOAD * 4 // 3 + 4:
            raise SaslError("server sent an oversized AUTHENTICATE payload")
        self._parts.append(arg)
        if len(arg) == CHUNK:
            return None
        data = "".join(self._parts)
        self._parts, self._size = [], 0
        return self._decode(data)

    @staticmethod
    def _decode(data: str) -> bytes:
        try:
            return base64.b64decode(data.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise SaslError("server sent an AUTHENTICATE payload that is not base64") from None


class Mechanism:
    name = ""

    def respond(self, challenge: bytes) -> bytes:
        raise NotImplementedError

    def verify_done(self) -> None:
        """Called on success (903); raise if the server skipped a required step."""


class Plain(Mechanism):
    name = "PLAIN"

    def __init__(self, username: str, password: str):
        self._payload = b"\0".join(s.encode("utf-8") for s in (username, username, password))
        self._sent = False

    def respond(self, challenge: bytes) -> bytes:
        if self._sent:
            raise SaslError("server sent a second PLAIN challenge")
        self._sent = True
        return self._payload


class External(Mechanism):
    name = "EXTERNAL"

    def __init__(self) -> None:
        self._sent = False

    def respond(self, challenge: bytes) -> bytes:
        if self._sent:
            raise SaslError("server sent a second EXTERNAL challenge")
        self._sent = True
        return b""


def _saslname(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _prep(password: str) -> bytes:
    # A practical SASLprep: non-ASCII spaces to space, then NFKC.
    mapped = "".join(" " if unicodedata.category(c) == "Zs" else c for c in password)
    return unicodedata.normalize("NFKC", mapped).encode("utf-8")


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def _attributes(message: bytes) -> dict[str, str]:
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError("SCRAM server message is not UTF-8") from None
    attrs = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if len(key) != 1 or not eq:
            raise SaslError("SCRAM server message is malformed")
        if key in attrs:
            raise SaslError("SCRAM server message repeats an attribute")
        attrs[key] = value
    return attrs


#: Salted passwords by (password digest, salt, iterations): PBKDF2 runs once per server salt.
_SALTED_CACHE: dict[tuple[bytes, bytes, int], bytes] = {}


class ScramSha256(Mechanism):
    """SCRAM-SHA-256 without channel binding; verifies the server signature."""

    name = "SCRAM-SHA-256"

    def __init__(self, username: str, password: str, nonce: Callable[[], str] | None = None):
        self._username = username
        self._password = password
        self._nonce = (nonce or (lambda: base64.b64encode(os.urandom(24)).decode("ascii")))()
        self._step = 0
        self._server_signature = b""
        self._verified = False

    def respond(self, challenge: bytes) -> bytes:
        self._step += 1
        if self._step == 1:
            self._bare = "n=%s,r=%s" % (_saslname(self._username), self._nonce)
            return ("n,," + self._bare).encode("utf-8")
        if self._step == 2:
            return self._final(challenge)
        if self._step == 3:
            self._check_server_final(challenge)
            return b""
        raise SaslError("SCRAM server sent too many challenges")

    def _final(self, server_first: bytes) -> bytes:
        attrs = _attributes(server_first)
        if "m" in attrs:
            raise SaslError("SCRAM server requires an unsupported extension")
        if "e" in attrs:
            raise SaslError("SCRAM server error: %s" % attrs["e"][:100])
        nonce, salt64, iterations = attrs.get("r"), attrs.get("s"), attrs.get("i")
        if nonce is None or salt64 is None or iterations is None:
            raise SaslError("SCRAM server-first message lacks r, s or i")
        if not nonce.startswith(self._nonce) or len(nonce) <= len(self._nonce):
            raise SaslError("SCRAM server nonce does not extend ours")
        if not iterations.isdigit():
            raise SaslError("SCRAM iteration count is not a number")
        count = int(iterations)
        if not MIN_ITERATIONS <= count <= MAX_ITERATIONS:
            raise SaslError("SCRAM iteration count %d is outside %d..%d"
                            % (count, MIN_ITERATIONS, MAX_ITERATIONS))
        try:
            salt = base64.b64decode(salt64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise SaslError("SCRAM salt is not base64") from None
        if not salt:
            raise SaslError("SCRAM salt is empty")
        password = _prep(self._password)
        cache_key = (hashlib.sha256(password).digest(), salt, count)
        salted = _SALTED_CACHE.get(cache_key)
        if salted is None:
            salted = hashlib.pbkdf2_hmac("sha256", password, salt, count)
            if len(_SALTED_CACHE) > 16:
                _SALTED_CACHE.clear()
            _SALTED_CACHE[cache_key] = salted
        client_key = _hmac(salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = "c=biws,r=" + nonce
        auth_message = ",".join((self._bare, server_first.decode("utf-8"), without_proof)).encode("utf-8")
        client_signature = _hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=False))
        server_key = _hmac(salted, b"Server Key")
        self._server_signature = _hmac(server_key, auth_message)
        return (without_proof + ",p=" + base64.b64encode(proof).decode("ascii")).encode("ascii")

    def _check_server_final(self, server_final: bytes) -> None:
        attrs = _attributes(server_final)
        if "e" in attrs:
            raise SaslError("SCRAM server error: %s" % attrs["e"][:100])
        v = attrs.get("v")
        if v is None:
            raise SaslError("SCRAM server-final message has no signature")
        try:
            signature = base64.b64decode(v.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise SaslError("SCRAM server signature is not base64") from None
        if not hmac.compare_digest(signature, self._server_signature):
            raise SaslError("SCRAM server signature does not verify: the server does not know "
                            "the password (or is an impostor)")
        self._step = 3
        self._verified = True

    def verify_done(self) -> None:
        if not self._verified:
            raise SaslError("server reported SCRAM success before proving its signature")


def make_mechanism(name: str, username: str, password: str) -> Mechanism:
    if name == "PLAIN":
        return Plain(username, password)
    if name == "SCRAM-SHA-256":
        return ScramSha256(username, password)
    if name == "EXTERNAL":
        return External()
    raise ValueError("unknown SASL mechanism %r" % (name,))
