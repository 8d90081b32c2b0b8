"""``python -m tune_gae.cli``."""
from tune_gae.cli import main

main()
