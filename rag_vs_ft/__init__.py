"""RAG or fine-tuning? An evidence lab: all logic lives here; the app and the CLI are thin faces.

The package never imports streamlit.
"""
from .config import set_offline

set_offline()
__version__ = "0.1.0"
