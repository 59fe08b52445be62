"""Tools that drive a live service from outside: server processes on loopback, raw HTTP,
reading expositions back, the soak, the adversary and the attack harness. Tests and the
benchmark import them from here; nothing of the service does."""
