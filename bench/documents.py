"""What the benchmarks share: the documents they sign and verify, and a home served in a
thread (sealing at B-LT calls the same server back for OCSP and the TSA)."""

from __future__ import annotations

import hashlib
import io
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pyhanko.pdf_utils import generic, writer

__all__ = ["pdf_of_size", "serve_in_thread"]


def pdf_of_size(size: int) -> bytes:
    """A one-page PDF padded with an incompressible-looking content stream to ``size`` bytes."""
    w = writer.PdfFileWriter()
    text = b"BT /F1 12 Tf 50 700 Td (Decyzja) Tj ET\n"
    filler = hashlib.sha256(b"seed").hexdigest().encode() * (size // 64 + 1)
    stream = w.add_object(generic.StreamObject(stream_data=text + b"% " + filler[:size - 600]))
    w.insert_page(writer.PageObject(contents=stream, media_box=[0, 0, 595, 842]))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def serve_in_thread(app, port: int) -> WSGIServer:
    """``app`` on 127.0.0.1:``port`` in a daemon thread; ``shutdown()`` stops it."""
    server = make_server("127.0.0.1", port, app, server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
