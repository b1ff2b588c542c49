"""Payment providers behind one interface (`providers/base.py`)."""
