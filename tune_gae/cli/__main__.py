"""``python -m tune_gae.cli``."""
from tune_gae.cli.process import run_as_process

run_as_process()
