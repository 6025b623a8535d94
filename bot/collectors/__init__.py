"""Collectors pull usage and cost from provider APIs. The registry of providers arrives with
the provider modules; `http` is the one client they share."""
