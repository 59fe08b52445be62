"""InfluxDB OSS v2 system-information API: the hand-written half of the service."""
