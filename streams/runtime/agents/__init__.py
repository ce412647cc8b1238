"""Every Faust agent of a worker: the router and one agent per subject kind (the plumbing they share)."""
