"""Importers for public Moltbook dumps (raw API responses, flattened tables, agent
profiles) into canonical events, for backtesting rules on real history."""
