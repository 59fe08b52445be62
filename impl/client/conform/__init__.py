"""`influx-metrics conform URL`: does a server behave as the InfluxDB v2 system API should?

The checks come from three sources, and each says which: the OpenAPI spec this package
carries (level MUST), how influxd 2.x behaves (SHOULD), and optional extensions and
conventions (MAY). A run derives its requests from the spec (`plan`), sends them
(`probe`), evaluates the checks (`checks_*`) on what came back and reports (`runner`).
"""
