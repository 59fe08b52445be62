"""Every access to a dependency's private names, one module per dependency
(prometheus_client, uvicorn with h11, Connexion). Nothing else in impl/ reaches into a
private name of a dependency: an upgrade is one file here, and the test beside it
(tests/upstream/) that states each assumption turns red when one no longer holds."""
