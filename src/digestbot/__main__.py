"""Entry point for ``python -m digestbot``."""

from digestbot.cli import main

raise SystemExit(main())
