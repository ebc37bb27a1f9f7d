"""The pure core: values, rules and the plan. Standard library only; no I/O, no clock."""
