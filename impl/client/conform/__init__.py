"""`influx-metrics conform URL`: does a server behave as the InfluxDB v2 system API should?

The checks come from three sources, and each says which: the OpenAPI spec this package
carries (level MUST), how influxd 2.x behaves (SHOULD), and optional extensions and
conventions (MAY). The modules, in the order a run uses them (`model` holds what they
share: exchanges, checks, verdicts):

- `spec`: the carried spec as operations, declared responses and schemas;
- `judge`: is one response what the spec declares (also the fuzz tests' judge);
- `plan`, `probe`: which requests to send (derived from the spec), and sending them
  with bounded time, keeping exact bytes as evidence;
- `exposition`: the Prometheus text and OpenMetrics rules a scraper relies on;
- `gates`: when a check can judge an answer at all (else it is skipped, with why);
- `checks_spec`, `checks_metrics`, `checks_influxd`: the checks;
- `runner`, `report`, `cli`: one run, its renderings, the subcommand.
"""
