"""The algorithms, pure functions without I/O: units, tessellation, adjacency, rules, splitting, coding."""
