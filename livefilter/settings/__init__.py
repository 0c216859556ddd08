"""User settings: profiles, the user config file, closed choices, paths and the strict JSON reader."""
