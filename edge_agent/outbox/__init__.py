"""Store-and-forward to the cloud: the outbox, its uploader, and hard-example capture."""
