"""CSV mapping files shipped with cargoguard (``cargoguard replay --mapping NAME``)."""
