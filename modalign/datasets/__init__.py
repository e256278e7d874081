"""Datasets: the JSONL manifest schema and the demo-data builders (emoji, openclipart)."""
