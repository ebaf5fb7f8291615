"""What the staff views share beyond core.views: the raw-bytes upload of import chunks."""

from __future__ import annotations

from rest_framework.parsers import BaseParser


class RawBytesParser(BaseParser):
    """A CSV chunk as the raw request body."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""
