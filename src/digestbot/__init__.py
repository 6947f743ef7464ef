"""digestbot: a weekly digest of AI papers with bilingual summaries."""

__version__ = "0.1.0"
