"""A search: the space, the cluster, the Ray trainable, run/resume, and the results folder."""
