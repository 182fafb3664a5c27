"""Pure domain: enums, errors, desired-state specs and status logic. No I/O, no frameworks."""
