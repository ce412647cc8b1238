"""Cases: the alerts of one shipment gathered, and what officers did about them.

``fold`` is the pure part (a case from its alerts and its actions);
``board`` keeps every worker's copy current from ``cargo.alerts`` and
``cargo.case-actions``; ``actions`` checks an officer's action before it is
recorded.
"""
