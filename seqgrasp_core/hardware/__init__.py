"""Hardware: the backend interface and replaying a sequence on it."""
