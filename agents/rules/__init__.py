"""Pure detection rules: one module per rule, readable by a risk analyst, no Faust imports.

Each module states its thresholds (from the rules file), the window, the
finding and the explanation, in that order.
"""
