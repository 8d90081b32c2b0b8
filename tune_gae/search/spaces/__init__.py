"""Shipped search spaces (YAML package data), listed by ``tune_gae.search.catalog``."""
