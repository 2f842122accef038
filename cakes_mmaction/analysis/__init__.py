"""Analysis tools: benchmarks of CAKES networks and layers."""
