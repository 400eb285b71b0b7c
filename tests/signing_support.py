"""Fixtures' helpers for the signing API tests: a home, keys, the app and sample documents."""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic, writer


def sample_pdf(pages: int = 1, padding: int = 0) -> bytes:
    """A small real PDF built with pyHanko's writer (``padding`` bytes of extra content)."""
    w = writer.PdfFileWriter()
    for n in range(pages):
        text = f"BT /F1 12 Tf 50 700 Td (Zaswiadczenie strona {n + 1}) Tj ET\n".encode()
        text += b"% " + b"x" * padding + b"\n" if padding else b""
        stream = w.add_object(generic.StreamObject(stream_data=text))
        w.insert_page(writer.PageObject(contents=stream, media_box=[0, 0, 595, 842]))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()
