-- A player's public profile, keyed by the account id. The zone server reads and updates level
-- and experience; the account server writes the rest.
CREATE TABLE profiles (
    player_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    display_name VARCHAR(32) NOT NULL,
    level INT UNSIGNED NOT NULL DEFAULT 1,
    experience BIGINT UNSIGNED NOT NULL DEFAULT 0,
    created_at_ms BIGINT UNSIGNED NOT NULL,
    last_login_at_ms BIGINT UNSIGNED NOT NULL DEFAULT 0
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
