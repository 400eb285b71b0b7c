"""Keys in the HSM or on a token, over PKCS#11: the module and sessions (``keys.hsm``) and the
key objects that present a PKCS#11 key as a ``cryptography`` private key (``keys.objects``)."""
