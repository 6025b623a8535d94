"""Loopback stand-ins for the services aispend talks to: real HTTP servers on 127.0.0.1 that
tests and the demo run against, with faults injected on demand."""
