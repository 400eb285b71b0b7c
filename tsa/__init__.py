"""RFC 3161 (with RFC 5816) time-stamp authority over HTTP: ``POST /tsa``."""
