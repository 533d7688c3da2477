"""Pure file formats: CSV dialects, spreadsheets (read and write), pipe-delimited layouts and
the vendor rule engine. They read and write only the files (or file objects) they are handed:
no connections, no config, no atomic renames (the caller's target does that)."""
