"""Reusable ComponentResources. They take typed Args and never read config or the environment."""
