"""Per-subject state and its pure transitions: one module per subject kind (no Faust imports)."""
