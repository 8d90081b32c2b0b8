"""Reading a search back: tables, importances, plots."""
