-- One row per account. Usernames are unique ignoring case through username_key (the NFKC,
-- case-folded name, compared byte for byte); guests (device logins not yet linked) have no
-- username. Device ids are stored as their SHA-256, so a copy of the table logs nobody in.
-- A ban: banned_at_ms set; ban_expires_at_ms NULL means permanent.
CREATE TABLE accounts (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username VARCHAR(16) NULL,
    username_key VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    password_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NULL,
    device_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
    banned_at_ms BIGINT UNSIGNED NULL,
    ban_expires_at_ms BIGINT UNSIGNED NULL,
    ban_reason VARCHAR(255) NOT NULL DEFAULT '',
    created_at_ms BIGINT UNSIGNED NOT NULL,
    UNIQUE KEY accounts_username_key (username_key),
    UNIQUE KEY accounts_device_hash (device_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
