"""User settings: profiles, the user config file, the settings store behind them, and the closed choices and limits of every setting."""
