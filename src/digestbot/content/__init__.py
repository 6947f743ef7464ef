"""The content store: paper files in git, their importers, the summarizer and the search index."""
