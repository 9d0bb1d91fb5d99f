//! SQLite persistence: one small function per query, rows to domain types and back.

pub mod jobs;
pub mod metrics;
pub mod models;

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Opens (creating if missing) the database in WAL mode and applies the migrations. A URL
/// this server cannot use stops it with a message saying why (never a file created under a
/// name like `postgres:`).
pub async fn connect(database_url: &str) -> anyhow::Result<SqlitePool> {
    let scheme = database_url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => {}
        Some("postgres" | "postgresql") => anyhow::bail!(
            "--database-url {}: PostgreSQL is not supported by this version yet; use a sqlite:// URL",
            redact(database_url)
        ),
        _ => anyhow::bail!(
            "--database-url {}: not a database URL this server can use; give sqlite://PATH (e.g. sqlite://data/nnlab.db)",
            redact(database_url)
        ),
    }
    let options = SqliteConnectOptions::from_str(database_url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL + NORMAL is durable across process crashes (only an OS crash may lose the
        // last transactions) and avoids an fsync per commit.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    if let Some(parent) = options.get_filename().parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// Now as RFC 3339 UTC with milliseconds (sorts as text).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The URL without its password, for messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let credentials = &url[start + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..start + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_url_the_server_cannot_use_is_refused_with_a_message_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().display();
        for url in [
            "postgres://nnlab:s3cret@localhost/nnlab".to_string(),
            format!("mysql://{cwd}/x"),
            format!("{cwd}/plain-path.db"),
        ] {
            let err = connect(&url).await.expect_err(&url).to_string();
            assert!(err.contains("--database-url"), "{err}");
            assert!(!err.contains("s3cret"), "the password is not repeated: {err}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was created");
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("sqlite://data/nnlab.db"), "sqlite://data/nnlab.db");
    }
}
