-- Relations between players, one row per direction; `state` is the FriendState of
-- `other_id` as `player_id` sees it: 1 friend, 2 incoming request, 3 outgoing request,
-- 4 blocked. Friends have a FRIEND row each way; a request is OUTGOING one way and INCOMING the
-- other; a block is the blocker's row alone (the blocked player keeps no row about it).
CREATE TABLE friends (
    player_id BIGINT UNSIGNED NOT NULL,
    other_id BIGINT UNSIGNED NOT NULL,
    state TINYINT UNSIGNED NOT NULL,
    since_ms BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (player_id, other_id),
    KEY friends_other (other_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
