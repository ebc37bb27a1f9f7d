"""The sync engine: Personio client, rules, plan, apply, runner, scheduler, notify, CLI."""
