-- Two statements in one file: both run, in order, in the migration's transaction.
ALTER TABLE players ADD COLUMN level INT NOT NULL DEFAULT 1;
CREATE INDEX players_by_level ON players (level);
