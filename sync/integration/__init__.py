"""One organization's integration against the database: settings, lifecycle, queue, Test, runs."""
