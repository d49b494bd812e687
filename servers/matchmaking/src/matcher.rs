//! Forms matches from a pool of tickets (pure: no I/O).
