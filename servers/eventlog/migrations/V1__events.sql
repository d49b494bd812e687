-- Every game event, once: `id` is the event's own unique id, so an event delivered twice is
-- one row. `body` is the encoded `mmo.bus.GameEvent` (typed details and attributes).
CREATE TABLE game_events (
    id VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    kind VARCHAR(32) CHARACTER SET ascii NOT NULL,
    player BIGINT UNSIGNED NOT NULL,
    at_ms BIGINT UNSIGNED NOT NULL,
    node VARCHAR(64) NOT NULL,
    body BLOB NOT NULL,
    KEY game_events_player (player, at_ms),
    KEY game_events_at (at_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The transactional outbox: events of MySQL business records (purchases, grants) written in
-- the record's own transaction, then relayed to the events stream and deleted. Losing Redis
-- loses none of them: a row stays until its event is on the stream.
CREATE TABLE event_outbox (
    seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    body BLOB NOT NULL,
    created_ms BIGINT UNSIGNED NOT NULL
) ENGINE = InnoDB;
