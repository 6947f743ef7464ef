"""Where papers come from: importers for Hugging Face, arXiv and Markdown digest archives."""
