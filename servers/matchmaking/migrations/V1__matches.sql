-- Match results, history and Glicko-2 ratings (servers/matchmaking/src/results.rs and
-- ratings.rs). A match is written once, with all its player rows and rating changes, in one
-- transaction; the primary key of mm_matches is what makes a second delivery of the same
-- result a no-op. `IF NOT EXISTS`: MySQL commits each CREATE on its own, so a run cut off
-- half-way can be run again.
--
-- Ids are compared byte for byte (utf8mb4_bin): "abc" and "ABC" are two matches, two modes.

-- One row per match, written when its instance reported the result.
CREATE TABLE IF NOT EXISTS mm_matches (
    match_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    mode VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    instance VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    started_ms BIGINT UNSIGNED NOT NULL,
    duration_ms BIGINT UNSIGNED NOT NULL,
    -- started_ms + duration_ms
    ended_ms BIGINT UNSIGNED NOT NULL,
    teams SMALLINT UNSIGNED NOT NULL,
    PRIMARY KEY (match_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per player of a match: their team (index in the reported result), their place in
-- it (`slot`), the party they queued in (0 solo), the team's rank (0 best) and score, and
-- their rating in the match's mode before and after it. `ended_ms` is the match's, copied
-- here so that a player's history is one backward walk of mm_match_players_history.
CREATE TABLE IF NOT EXISTS mm_match_players (
    match_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    player_id BIGINT UNSIGNED NOT NULL,
    team SMALLINT UNSIGNED NOT NULL,
    slot SMALLINT UNSIGNED NOT NULL,
    party_id BIGINT UNSIGNED NOT NULL,
    team_rank INT UNSIGNED NOT NULL,
    score BIGINT NOT NULL,
    ended_ms BIGINT UNSIGNED NOT NULL,
    rating_before DOUBLE NOT NULL,
    deviation_before DOUBLE NOT NULL,
    volatility_before DOUBLE NOT NULL,
    rating_after DOUBLE NOT NULL,
    deviation_after DOUBLE NOT NULL,
    volatility_after DOUBLE NOT NULL,
    PRIMARY KEY (match_id, player_id),
    KEY mm_match_players_history (player_id, ended_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- A player's current Glicko-2 rating in one mode (no row: 1500 / 350 / 0.06), and how many
-- rated matches they won, lost and drew there (games = wins + losses + draws).
CREATE TABLE IF NOT EXISTS mm_ratings (
    player_id BIGINT UNSIGNED NOT NULL,
    mode VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    rating DOUBLE NOT NULL,
    deviation DOUBLE NOT NULL,
    volatility DOUBLE NOT NULL,
    games INT UNSIGNED NOT NULL,
    wins INT UNSIGNED NOT NULL,
    losses INT UNSIGNED NOT NULL,
    draws INT UNSIGNED NOT NULL,
    -- ended_ms of the last match that changed this row
    updated_ms BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (player_id, mode)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
