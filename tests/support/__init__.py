"""What only the tests use: Go's formats read back, line protocol read back, peers that
are not InfluxDB, single-defect proxies. Tools shared with the benchmark are in tools/."""
