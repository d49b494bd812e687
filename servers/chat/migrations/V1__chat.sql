-- Chat messages kept for moderation and reports: channel messages (`channel` is the channel's
-- key, e.g. `w`, `c:lobby`, `p:12`) and whispers (`channel` empty, `recipient` set). Ids are the
-- messages' own (assigned by the server from a Redis counter), so a row written twice is one
-- row. Rows older than `[chat] retention` are deleted by the cleanup task.
CREATE TABLE chat_messages (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    channel VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    sender BIGINT UNSIGNED NOT NULL,
    recipient BIGINT UNSIGNED NOT NULL DEFAULT 0,
    text TEXT NOT NULL,
    sent_ms BIGINT UNSIGNED NOT NULL,
    deleted TINYINT UNSIGNED NOT NULL DEFAULT 0,
    KEY chat_messages_sent (sent_ms),
    KEY chat_messages_sender (sender, sent_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Every moderator action (mute, kick, delete), who did it and why.
CREATE TABLE chat_audit (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at_ms BIGINT UNSIGNED NOT NULL,
    moderator VARCHAR(64) NOT NULL,
    action VARCHAR(16) NOT NULL,
    player BIGINT UNSIGNED NOT NULL DEFAULT 0,
    channel VARCHAR(80) NOT NULL DEFAULT '',
    message_id BIGINT UNSIGNED NOT NULL DEFAULT 0,
    detail VARCHAR(255) NOT NULL DEFAULT '',
    KEY chat_audit_player (player, at_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
