"""Collect-on-scrape collectors, one file per source (see exporter/scrape.py for the interface)."""
