"""Third parties we do not own, as small local servers speaking their documented formats."""
