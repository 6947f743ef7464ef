"""Drafting titles and summaries: the LLM summarizer and its glossary."""
