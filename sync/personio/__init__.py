"""The only code that speaks to Personio: client, parsing, pacing and the errors a person reads."""
