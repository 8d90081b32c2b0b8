"""A search service that stays up: a Ray head on 127.0.0.1 (``up``/``down``) and searches as Ray Jobs."""
