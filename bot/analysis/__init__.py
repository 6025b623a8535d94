"""Pure analysis over spend series: anomaly detection, forecasts and budgets; no I/O."""
