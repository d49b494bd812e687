-- The wallet and shop. Money is integers only; every change of a balance is a ledger row
-- written in the same transaction; idempotency keys (purchases, grants, receipts) are unique
-- and kept forever.

-- The catalog: one row per item, its current version (bumped whenever its prices, limit,
-- name or sale state change).
CREATE TABLE shop_items (
    item_id INT UNSIGNED NOT NULL PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    version INT UNSIGNED NOT NULL,
    per_player_limit INT UNSIGNED NOT NULL DEFAULT 0,
    for_sale TINYINT UNSIGNED NOT NULL DEFAULT 1,
    updated_ms BIGINT UNSIGNED NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Every version's unit prices, kept: a purchase names the version it paid.
CREATE TABLE shop_prices (
    item_id INT UNSIGNED NOT NULL,
    version INT UNSIGNED NOT NULL,
    currency VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (item_id, version, currency),
    CONSTRAINT shop_prices_positive CHECK (amount >= 0)
) ENGINE = InnoDB;

-- A balance per player and currency; never negative.
CREATE TABLE wallets (
    player BIGINT UNSIGNED NOT NULL,
    currency VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    balance BIGINT NOT NULL,
    PRIMARY KEY (player, currency),
    CONSTRAINT wallets_not_negative CHECK (balance >= 0)
) ENGINE = InnoDB;

-- Every change of a balance: the rows of a player's currency sum to its balance.
CREATE TABLE wallet_ledger (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    player BIGINT UNSIGNED NOT NULL,
    currency VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    amount BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    reason VARCHAR(32) NOT NULL,
    reference VARCHAR(128) NOT NULL,
    at_ms BIGINT UNSIGNED NOT NULL,
    KEY wallet_ledger_player (player, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Items a player holds (purchases, grants; the zone's loot is to move here from
-- zone_players.inventory).
CREATE TABLE inventory (
    player BIGINT UNSIGNED NOT NULL,
    item_id INT UNSIGNED NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (player, item_id),
    CONSTRAINT inventory_not_negative CHECK (count >= 0)
) ENGINE = InnoDB;

-- Every purchase under its client's idempotency key, with a hash of the request and the
-- encoded first answer (PurchaseResp), kept forever.
CREATE TABLE purchases (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    player BIGINT UNSIGNED NOT NULL,
    idem_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    request_hash BINARY(32) NOT NULL,
    item_id INT UNSIGNED NOT NULL,
    quantity INT UNSIGNED NOT NULL,
    catalog_version INT UNSIGNED NOT NULL,
    reply VARBINARY(2048) NOT NULL,
    at_ms BIGINT UNSIGNED NOT NULL,
    UNIQUE KEY purchases_key (player, idem_key),
    KEY purchases_item (player, item_id)
) ENGINE = InnoDB;

-- Every grant (loot, rewards, admin, receipts) under its key, unique per player, forever.
CREATE TABLE grants (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    player BIGINT UNSIGNED NOT NULL,
    grant_key VARCHAR(160) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reason VARCHAR(32) NOT NULL,
    reference VARCHAR(128) NOT NULL,
    at_ms BIGINT UNSIGNED NOT NULL,
    UNIQUE KEY grants_key (player, grant_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Real-money receipts redeemed: a platform's transaction once, whoever sends it.
CREATE TABLE receipts (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    platform VARCHAR(16) CHARACTER SET ascii NOT NULL,
    transaction_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    player BIGINT UNSIGNED NOT NULL,
    product_id VARCHAR(128) NOT NULL,
    at_ms BIGINT UNSIGNED NOT NULL,
    UNIQUE KEY receipts_transaction (platform, transaction_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
