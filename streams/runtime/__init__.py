"""The worker: the Faust app, its transport, stream time, staged tables, control topics, metrics."""
