"""Email: message texts (pure), the outbox (queued in a transaction) and SMTP delivery."""
