"""Request bodies bounded before they are read (twisted.web buffers a whole body first)."""

from __future__ import annotations

from twisted.logger import Logger
from twisted.web.server import Request

log = Logger()

#: Largest request body any pubbot resource accepts (webhooks need far less).
MAX_REQUEST_BODY = 2 * 1024 * 1024

_TOO_LARGE = (b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
              b"Content-Type: text/plain\r\nContent-Length: 25\r\n\r\nrequest body is too large")


class LimitedRequest(Request):
    """
    A Request that refuses a body over C{max_body} bytes as soon as it is
    announced (Content-Length) or, for chunked bodies, as soon as it grows
    past the limit: 413 and the connection closed, nothing more buffered.
    """

    max_body = MAX_REQUEST_BODY
    _received = 0
    _refused = False

    def gotLength(self, length) -> None:
        if length is not None and length > self.max_body:
            self._refuse(length)
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        if self._received > self.max_body:
            self._refuse(self._received)
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version) -> None:
        if self._refused:
            return
        super().requestReceived(command, path, version)

    def _refuse(self, size: int) -> None:
        self._refused = True
        transport = self.channel.transport if self.channel is not None else None
        log.warn("web: refused a request body of {size} bytes (limit {limit}) from {client}",
                 size=size, limit=self.max_body, client=self.getClientAddress())
        if transport is not None:
            transport.write(_TOO_LARGE)
            transport.loseConnection()
