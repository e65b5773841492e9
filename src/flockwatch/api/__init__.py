"""The alert API (HTTP/JSON, aiohttp) and the service layer it shares with the CLI."""
