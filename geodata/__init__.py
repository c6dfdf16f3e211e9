"""Input and output: reading, checking and reprojecting layers; China coordinate systems; the sample."""
