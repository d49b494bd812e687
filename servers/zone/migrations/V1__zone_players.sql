-- A player's place and progress in the world, one row per player, written by the zone instance
-- that holds the player: position, level, experience, hit points and inventory (write-behind
-- every few seconds, and at once on leaving and on hand-off).
--
-- `owner` is the claim of the instance holding the player ('' while offline): a token
-- "<instance>#<node>#<started>#<nonce>/<n>" made when the instance took the player. Every
-- write is conditional on it, so an instance that lost the player (handed off, or its node was
-- presumed dead and another took the map over) can never write over the new owner's state, and
-- no player is ever held by two instances. `return_map`/`return_x`/`return_y`: where a player in
-- a match instance goes back to.
CREATE TABLE zone_players (
    player_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    map VARCHAR(64) NOT NULL,
    x FLOAT NULL,
    y FLOAT NULL,
    level INT UNSIGNED NOT NULL DEFAULT 1,
    xp BIGINT UNSIGNED NOT NULL DEFAULT 0,
    hp INT UNSIGNED NOT NULL,
    -- JSON: [[item, count], ...]
    inventory VARCHAR(2048) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '[]',
    return_map VARCHAR(64) NOT NULL DEFAULT '',
    return_x FLOAT NULL,
    return_y FLOAT NULL,
    owner VARCHAR(191) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
    saved_at_ms BIGINT UNSIGNED NOT NULL,
    KEY zone_players_owner (owner)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
