"""Payment providers behind one interface (DESIGN §6)."""
