-- Items moved to the shop's `inventory` table, their record (purchases, grants and the zone's
-- loot alike). The `inventory` column is no longer written: a zone node moves what is left in
-- it into the shop's table once, at start, through the shop's ledger (a grant per player under
-- the key "zone:json-inventory", so a move cut short is never granted twice), and sets it back
-- to '[]'. It is not dropped here because that move runs after the migrations (it needs the
-- shop's tables, which this server's migrations cannot be ordered after) and must still find it.
ALTER TABLE zone_players MODIFY inventory VARCHAR(2048) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
    DEFAULT '[]' COMMENT 'unused: moved to the shop''s inventory table at zone start';
