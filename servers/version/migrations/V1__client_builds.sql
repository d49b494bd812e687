-- The build policy per platform: clients older than minimum_version must update; older than
-- latest_version may. Changed with `mmo admin version publish`.
CREATE TABLE client_builds (
    platform VARCHAR(16) NOT NULL PRIMARY KEY,
    latest_version VARCHAR(64) NOT NULL,
    minimum_version VARCHAR(64) NOT NULL,
    manifest_url VARCHAR(512) NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
);
