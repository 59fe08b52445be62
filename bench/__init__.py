"""`make bench`: the service measured against prometheus_client's own server and Go's promhttp."""
