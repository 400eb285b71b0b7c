"""What the HTTP fronts share at the edge, below them and above the core: plain WSGI helpers
(``edge.wsgi``) and the one ``/api/v1`` error mapper (``edge.problems``)."""
