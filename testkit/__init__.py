"""The project's own test kit: real peers started on loopback (Kamailio with TLS, rsyslog, openssl s_server and
ocsp, sslyze, baresip), a small X.509 factory, and SIP message vectors — shared by ``tests/`` and ``bench/``,
so that neither imports the other."""
