"""The dashboard's pages, one module per area; each exports `routes` (paths under
/dashboard)."""
