"""Neural-network parts: sparse kernels, pair scoring, encoders, the portable encoder."""
