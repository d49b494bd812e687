-- Every player's entry on every board and season: its best score (or its sum, cumulative
-- boards) and when it was achieved. Written when the entry changes; the record a board is
-- rebuilt from after Redis loses it, and the one a season's results are computed from.
CREATE TABLE lb_scores (
    board VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    season BIGINT UNSIGNED NOT NULL,
    player BIGINT UNSIGNED NOT NULL,
    score BIGINT NOT NULL,
    achieved_ms BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (board, season, player)
) ENGINE = InnoDB;

-- A season's final ranks (in its board's ranking style), written at its rollover, and whether
-- the player's reward was granted (the grant itself is idempotent in the shop under
-- `season:<board>:<season>`; this flag only spares asking again).
CREATE TABLE lb_results (
    board VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    season BIGINT UNSIGNED NOT NULL,
    player BIGINT UNSIGNED NOT NULL,
    score BIGINT NOT NULL,
    achieved_ms BIGINT UNSIGNED NOT NULL,
    `rank` INT UNSIGNED NOT NULL,
    granted TINYINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (board, season, player),
    KEY lb_results_rank (board, season, `rank`)
) ENGINE = InnoDB;

-- Seasons rolled over: results written (players), then rewards granted (done = 1).
CREATE TABLE lb_seasons (
    board VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    season BIGINT UNSIGNED NOT NULL,
    players INT UNSIGNED NOT NULL,
    done TINYINT UNSIGNED NOT NULL DEFAULT 0,
    archived_ms BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (board, season)
) ENGINE = InnoDB;
