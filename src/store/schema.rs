//! The database schema as ordered migrations. `PRAGMA user_version` records how many have
//! run; append new ones at the end, never edit a released one.

/// `PRAGMA application_id` of a shadowscan database ("SHSC"): tells our files from others.
pub(crate) const APPLICATION_ID: i64 = 0x5348_5343;

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // v1: endpoints, their hourly counts, spans per hour.
    "
    CREATE TABLE endpoints (
        id          INTEGER PRIMARY KEY,
        service     TEXT NOT NULL,
        method      TEXT NOT NULL,
        template    TEXT NOT NULL,
        source      TEXT NOT NULL,
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        evidence    INTEGER NOT NULL DEFAULT 0,
        examples    TEXT NOT NULL DEFAULT '[]',
        callers     TEXT NOT NULL DEFAULT '[]',
        UNIQUE (service, method, template)
    );
    CREATE TABLE endpoint_hours (
        endpoint_id     INTEGER NOT NULL REFERENCES endpoints(id),
        hour            INTEGER NOT NULL,
        requests        INTEGER NOT NULL DEFAULT 0,
        s1xx            INTEGER NOT NULL DEFAULT 0,
        s2xx            INTEGER NOT NULL DEFAULT 0,
        s3xx            INTEGER NOT NULL DEFAULT 0,
        s4xx            INTEGER NOT NULL DEFAULT 0,
        s5xx            INTEGER NOT NULL DEFAULT 0,
        s401            INTEGER NOT NULL DEFAULT 0,
        s403            INTEGER NOT NULL DEFAULT 0,
        s404            INTEGER NOT NULL DEFAULT 0,
        s429            INTEGER NOT NULL DEFAULT 0,
        unknown         INTEGER NOT NULL DEFAULT 0,
        ok_with_auth    INTEGER NOT NULL DEFAULT 0,
        ok_without_auth INTEGER NOT NULL DEFAULT 0,
        evidence        INTEGER NOT NULL DEFAULT 0,
        first_seen      INTEGER NOT NULL,
        last_seen       INTEGER NOT NULL,
        PRIMARY KEY (endpoint_id, hour)
    ) WITHOUT ROWID;
    CREATE INDEX endpoint_hours_by_hour ON endpoint_hours (hour);
    CREATE TABLE traffic (
        hour        INTEGER PRIMARY KEY,
        spans       INTEGER NOT NULL DEFAULT 0,
        unmatched   INTEGER NOT NULL DEFAULT 0,
        not_http    INTEGER NOT NULL DEFAULT 0,
        incomplete  INTEGER NOT NULL DEFAULT 0
    );
    ",
    // v2: caller-service edges and cardinality overflow.
    "
    CREATE TABLE edges (
        caller      TEXT NOT NULL,
        endpoint_id INTEGER NOT NULL REFERENCES endpoints(id),
        hour        INTEGER NOT NULL,
        calls       INTEGER NOT NULL DEFAULT 0,
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        PRIMARY KEY (caller, endpoint_id, hour)
    ) WITHOUT ROWID;
    CREATE TABLE overflow (
        service     TEXT NOT NULL,
        method      TEXT NOT NULL,
        hour        INTEGER NOT NULL,
        requests    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (service, method, hour)
    ) WITHOUT ROWID;
    ",
    // v3: the distinct user agents of each endpoint's requests.
    "
    ALTER TABLE endpoints ADD COLUMN user_agents TEXT NOT NULL DEFAULT '[]';
    ",
    // v4: 405 answers, so a method a path only ever refused is not taken for an API.
    "
    ALTER TABLE endpoint_hours ADD COLUMN s405 INTEGER NOT NULL DEFAULT 0;
    ",
    // v5: digests of the newest stored export requests, to skip exact duplicates (a file
    // ingested twice, an OTLP retry of a committed export); trimmed to a bounded window.
    "
    CREATE TABLE export_digests (
        seq         INTEGER PRIMARY KEY,
        digest      BLOB NOT NULL,
        received    INTEGER NOT NULL
    );
    ",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
