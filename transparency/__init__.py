"""The transparency log's read-only HTTP front (``/transparency/v1/*``)."""
