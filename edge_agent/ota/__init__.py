"""Over-the-air model updates: fetch, verify, stage, self-test, shadow, activate, probation, rollback."""
