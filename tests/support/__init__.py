"""What the tests and the benchmark share: server processes on loopback, raw HTTP,
reading expositions and Go's formats back, and peers that are not InfluxDB."""
