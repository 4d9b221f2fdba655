"""Many runs at once: sweep definitions, the local and Ray launchers, seed-group summaries and
the published reports."""
