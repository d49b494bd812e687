//! Glicko-2 ratings per mode.
