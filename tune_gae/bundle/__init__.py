"""The exported model bundle: write, read, model card, evaluate, predict."""
