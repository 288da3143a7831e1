"""Findings of the fuzzer that are known and not fixed yet: (entry-point regex, backend regex,
outcome, detail regex, reason). The bounded test marks exactly these as expected failures; any
other finding fails it."""

KNOWN = [
]
