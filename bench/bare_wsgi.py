"""The smallest WSGI app, served by the same gunicorn set-up as ``regca serve`` in the TSA
bench: what the web stack alone allows on this machine, with no RegCA code at all."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
