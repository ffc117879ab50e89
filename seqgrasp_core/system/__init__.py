"""Operating-system services: output files written safely, the cache folder, worker
processes."""
