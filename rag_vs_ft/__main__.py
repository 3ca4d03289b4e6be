"""`python -m rag_vs_ft --help`"""
from .cli import main

raise SystemExit(main())
