"""Inspection outcomes: what inspections found, where they come from, and how precise each rule is."""
