//! All SQL lives under this module.
//!
//! Two backends behind one `sqlx::Any` pool: SQLite (the embedded default, one file in WAL
//! mode) and PostgreSQL (many app instances sharing one database). Each has its own
//! migrations directory, because the schemas differ in types, triggers and locking. The
//! queries themselves are written once in the common dialect (`$1` parameters, `CAST`,
//! `RETURNING`, `ON CONFLICT`); the few statements that must differ (row locks, how a
//! write transaction begins) are chosen by [`Backend`].
//!
//! SQLite allows one writer at a time, so its writes go through a one-connection pool: a
//! fair queue instead of busy-waiting, and `BEGIN IMMEDIATE` still guards against other
//! processes. PostgreSQL uses one pool and row locks.

pub mod approvals;
pub mod auto_top_up;
pub mod history;
pub mod ledger;
pub mod notices;
pub mod payments;
pub mod plan_checkouts;
pub mod reconcile;
pub mod records;
pub mod subscriptions;
pub mod tokens;
pub mod usage;
pub mod users;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::time::Duration;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Connection pools to one database.
#[derive(Clone, Debug)]
pub struct Db {
    backend: Backend,
    /// PostgreSQL only: reserve and capture in Rust steps (the SQLite path) instead of
    /// the PL/pgSQL functions. For the benchmark and the equivalence tests that compare
    /// the two; the app never sets it (`domain::ledger` says why).
    rules_in_rust: bool,
    /// Reads (and, on PostgreSQL, writes).
    read: AnyPool,
    /// Write transactions.
    write: AnyPool,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("could not create the database directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("could not connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

impl Db {
    /// Opens pools for `url`: `sqlite:` (the file and its directory are created if
    /// missing) or `postgres://`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbError> {
        install_default_drivers();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // A ping before every checkout is a round trip per query on the hot path; only
            // a connection idle for a while is pinged (one the server, a restart or a proxy
            // may have dropped meanwhile), and a failed ping discards it for a fresh one.
            let pool = AnyPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for >= Duration::from_secs(30) {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .connect(url)
                .await
                .map_err(DbError::Connect)?;
            return Ok(Db {
                backend: Backend::Postgres,
                rules_in_rust: false,
                read: pool.clone(),
                write: pool,
            });
        }
        let url = sqlite_url_with_create(url)?;
        let open = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
                        )
                        .await
                        .map(drop)
                    })
                })
                .connect(&url)
        };
        let write = open(1).await.map_err(DbError::Connect)?;
        let read = open(max_connections).await.map_err(DbError::Connect)?;
        Ok(Db {
            backend: Backend::Sqlite,
            rules_in_rust: true,
            read,
            write,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The same database, with PostgreSQL's reserve and capture made in Rust steps as on
    /// SQLite rather than by the PL/pgSQL functions (see [`Db::rules_in_rust`]).
    pub fn with_rules_in_rust(mut self) -> Db {
        self.rules_in_rust = true;
        self
    }

    /// Whether reserve and capture run the ledger's rules in Rust (always on SQLite).
    pub fn rules_in_rust(&self) -> bool {
        self.rules_in_rust
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The pool for reads.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// The pool for single-statement writes (each statement its own transaction).
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// Begins a write transaction: `BEGIN IMMEDIATE` on SQLite, so the write lock is taken
    /// up front and two transactions never deadlock upgrading from read to write.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.write.begin().await,
        }
    }

    /// Applies the migrations not applied yet; a no-op when the schema is current.
    pub async fn migrate(&self) -> Result<(), DbError> {
        self.migrator().run(&self.write).await?;
        Ok(())
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// The versions of the applied migrations, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.read)
        .await?)
    }

    /// The number of migrations this build knows about.
    pub fn known_migrations(&self) -> usize {
        self.migrator().iter().count()
    }

    /// This installation's id, made once by its migration: it namespaces every
    /// idempotency key sent to Stripe, so two databases sharing one Stripe account
    /// (staging and production, a reset database) never send the same key.
    pub async fn install_id(&self) -> Result<String, sqlx::Error> {
        sqlx::query_scalar("SELECT install_id FROM install WHERE id = 1")
            .fetch_one(&self.read)
            .await
    }

    /// Answers when the database takes a query.
    /// Each pool's connections: (name, open, idle).
    pub fn pool_use(&self) -> Vec<(&'static str, u32, usize)> {
        let mut out = vec![("read", self.read.size(), self.read.num_idle())];
        if self.backend == Backend::Sqlite {
            out.push(("write", self.write.size(), self.write.num_idle()));
        }
        out
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Makes sure the SQLite file can be created: its directory exists and the URL asks for
/// read-write-create mode.
fn sqlite_url_with_create(url: &str) -> Result<String, DbError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (file, query) = path.split_once('?').unwrap_or((path, ""));
    if file != ":memory:"
        && let Some(dir) = std::path::Path::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| DbError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
    }
    Ok(if query.contains("mode=") {
        url.to_owned()
    } else if query.is_empty() {
        format!("sqlite://{file}?mode=rwc")
    } else {
        format!("sqlite://{file}?{query}&mode=rwc")
    })
}
