//! Every SQL statement the server writes as a literal (passed to `sqlx::query(…)`, chosen
//! by backend, kept in a `const`), read out of its source and prepared on a migrated SQLite
//! and PostgreSQL database: a misspelt table or column, a type that does not fit, or a
//! statement one backend cannot parse fails here rather than in front of a customer. What
//! only running a statement shows (PostgreSQL checks an `ON CONFLICT` target when it plans
//! it) and statements built with `format!` are left to the tests of their features.

use crate::common;

use common::{Backend, TestDb};
use sqlx::{Acquire, Executor};
use std::path::Path;

/// A statement and where it is written.
struct Statement {
    at: String,
    sql: String,
}

/// The text of the Rust string literal that starts at `src[0]` (a `"`), with its escapes
/// and line continuations applied; `None` for a literal this reader does not understand.
fn string_literal(src: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = src.chars().skip(1).peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                '"' => out.push('"'),
                '\'' => out.push('\''),
                '\\' => out.push('\\'),
                // A line continuation: the newline and the next line's indent go.
                '\n' => {
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                }
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

/// Whether a literal is a whole SQL statement: it starts with a statement's keyword and is
/// not a `format!` template (`{COLUMNS}`) or a fragment (a `WHERE` condition).
fn is_statement(text: &str) -> bool {
    let t = text.trim_start();
    let first = t.split_whitespace().next().unwrap_or("");
    ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"].contains(&first) && !t.contains('{')
}

/// The literal statements of one source file: every string literal that is a whole
/// statement, wherever it is written (an argument of `sqlx::query(`, one arm of a `match`
/// on the backend, a `const`).
fn statements_in(path: &Path, root: &Path) -> Vec<Statement> {
    let src = std::fs::read_to_string(path).unwrap();
    let rel = path.strip_prefix(root).unwrap().display().to_string();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(i) = src[at..].find('"') {
        let start = at + i;
        // A `'"'` character literal, or a quote escaped inside a literal already read, is
        // not the start of one.
        if src[..start].ends_with('\'') || src[..start].ends_with('\\') {
            at = start + 1;
            continue;
        }
        at = start + literal_len(&src[start..]);
        let Some(text) = string_literal(&src[start..]) else {
            continue;
        };
        if is_statement(&text) {
            let line = src[..start].matches('\n').count() + 1;
            found.push(Statement {
                at: format!("{rel}:{line}"),
                sql: text,
            });
        }
    }
    found
}

/// The length in bytes of the literal that starts at `src[0]` (a `"`), quotes included.
fn literal_len(src: &str) -> usize {
    let bytes = src.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn all_statements() -> Vec<Statement> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut dirs = vec![root.join("src/server")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files.iter().flat_map(|f| statements_in(f, root)).collect()
}

/// Statements written for one backend only, and the backend they are for.
fn only_for(sql: &str) -> Option<Backend> {
    // A row lock (SQLite's `BEGIN IMMEDIATE` locks instead), and the ledger's PL/pgSQL.
    let postgres = ["FOR UPDATE", "ledger_reserve(", "ledger_capture("];
    postgres
        .iter()
        .any(|p| sql.contains(p))
        .then_some(Backend::Postgres)
}

async fn every_literal_statement_prepares(backend: Backend) {
    let statements = all_statements();
    assert!(
        statements.len() > 120,
        "the reader found only {} statements: has the storage layer's style changed?",
        statements.len()
    );
    let t = TestDb::migrated(backend).await;
    let mut conn = t.db.reader().acquire().await.unwrap();
    let mut failed = Vec::new();
    let mut prepared = 0;
    for s in &statements {
        if only_for(&s.sql).is_some_and(|b| b != backend) {
            continue;
        }
        // In a transaction, so nothing a prepare might start is kept.
        let mut tx = conn.begin().await.unwrap();
        match (&mut *tx).prepare(s.sql.as_str()).await {
            Ok(_) => prepared += 1,
            Err(e) => failed.push(format!("{}: {e}\n    {}", s.at, s.sql)),
        }
        tx.rollback().await.unwrap();
    }
    drop(conn);
    t.cleanup().await;
    assert!(
        failed.is_empty(),
        "{} of {} statements do not prepare on {backend:?}:\n{}",
        failed.len(),
        statements.len(),
        failed.join("\n")
    );
    assert!(prepared > 120, "{prepared} prepared on {backend:?}");
}

#[test]
fn the_literal_reader_reads_continuations_and_escapes() {
    let src = "\"SELECT a, \\\n         b FROM t WHERE c = 'x' AND d = \\\"e\\\"\" rest";
    assert_eq!(
        string_literal(src).as_deref(),
        Some("SELECT a, b FROM t WHERE c = 'x' AND d = \"e\"")
    );
    assert_eq!(string_literal("\"unterminated"), None);
}

/// The database keeps the journal's kinds to the ones the app reads: each
/// `JournalKind::as_str` is stored, another name is refused (an entry the strict reader
/// could not read back is never written).
async fn the_journal_takes_only_the_kinds_the_app_knows(backend: Backend) {
    use studio_billing::domain::ledger::JournalKind;
    let t = TestDb::migrated(backend).await;
    let account = studio_billing::server::db::ledger::create_account(&t.db, "kinds@test", 1)
        .await
        .unwrap();
    let insert = |seq: i64, kind: &'static str| {
        sqlx::query(
            "INSERT INTO journal (account_id, seq, at, kind, amount, balance_after, held_after) \
             VALUES ($1, $2, 1, $3, 0, 0, 0)",
        )
        .bind(account)
        .bind(seq)
        .bind(kind)
    };
    for (seq, kind) in (1..).zip(JournalKind::ALL) {
        insert(seq, kind.as_str())
            .execute(t.db.writer())
            .await
            .unwrap_or_else(|e| panic!("{kind:?} refused on {backend:?}: {e}"));
    }
    let refused = insert(100, "adjust").execute(t.db.writer()).await;
    assert!(
        refused.is_err(),
        "an unknown kind was stored on {backend:?}"
    );
    t.cleanup().await;
}

on_both_backends!(
    every_literal_statement_prepares,
    the_journal_takes_only_the_kinds_the_app_knows
);
