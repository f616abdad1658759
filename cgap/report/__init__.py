"""`cgap report`: one self-contained HTML page (images embedded) about a run directory."""
