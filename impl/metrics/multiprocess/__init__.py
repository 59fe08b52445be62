"""The multiprocess backend of `--workers N`: each worker's values written to its files
in prometheus_client's format (writer.py), every worker's files and the exited workers'
archive read for a scrape (files.py, snapshot.py, merge.py, kept.py, collectors.py), exited
workers folded by the arbiter (fold.py), the directory owned by one instance
(directory.py), and what goes wrong there said (faults.py, worker.py). It builds on
prometheus_client, impl.upstream and the encoder only; impl/server/workers.py hosts it."""
