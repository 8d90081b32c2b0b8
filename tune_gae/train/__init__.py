"""Training one model: the Trainer (plain torch), a local run, the TensorBoard logger, metrics."""
