"""Evaluation in one room: scoring (score.py), `swiftkit eval` on a local checkpoint (local.py), and over a
served model's OpenAI endpoint (endpoint.py)."""
