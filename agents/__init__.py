"""Detection: pure rule code (``agents.rules``, ``agents.subjects``) and the thin Faust agents that call it."""
