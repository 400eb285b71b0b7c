"""The registration authority: who may ask for a certificate and for whom.

Enrolment and identity checks of officers' applicants and residents, officer and auditor
log-ins, API keys, the JST organisations, the token registry and the personalisation of tokens.
It decides who gets a certificate and hands the CA an issuance request; it never touches a CA
key (those live behind ``keys`` and are used only by ``ca``).
"""
