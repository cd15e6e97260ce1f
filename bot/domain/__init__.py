"""The domain: case states and transitions, the working-day calendar, deadlines,
identifiers and registration numbers. Plain code without I/O: the standard library and
`holidays` only (the `pure-domain` import-linter contract holds it)."""
