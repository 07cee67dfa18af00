"""The counter's domain: procedures, units and staff, dossiers, deadlines, forms and routing."""
