"""Objects to grasp: meshes loaded and checked, signed-distance grids, clustered
surface points."""
