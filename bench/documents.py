"""Documents the benchmarks sign and verify, the same in every script."""

from __future__ import annotations

import hashlib
import io

from pyhanko.pdf_utils import generic, writer

__all__ = ["pdf_of_size"]


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
