"""The content store: paper files in git, their schema, front matter and parse cache."""
