"""Organizations, owners and support staff; passwords, login and throttling."""
