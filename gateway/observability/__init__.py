"""Access log, audit log and Prometheus metrics: what an operator sees."""
