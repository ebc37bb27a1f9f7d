"""Read models for the pages and the CLI. Read sessions only: nothing here writes."""
