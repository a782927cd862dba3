//! Every SQL statement the server writes as a literal (`sqlx::query("…")`, `query_as`,
//! `query_scalar`), read out of its source and prepared on a migrated SQLite and PostgreSQL
//! database: a misspelt table or column, or a statement one backend cannot run, fails
//! here rather than in front of a customer. Statements built with `format!` are not
//! literals; the tests of their features run them.

mod common;

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

/// The literal statements of one source file: every `sqlx::query(`, `sqlx::query_as(`,
/// `sqlx::query_scalar(` (with or without a turbofish) whose first argument is a literal.
fn statements_in(path: &Path, root: &Path) -> Vec<Statement> {
    let src = std::fs::read_to_string(path).unwrap();
    let rel = path.strip_prefix(root).unwrap().display().to_string();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = src[from..].find("sqlx::query") {
        let start = from + i;
        from = start + "sqlx::query".len();
        let name_end = from
            + src[from..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(0);
        let mut rest = &src[name_end..];
        if let Some(generic) = rest.strip_prefix("::<") {
            let Some(close) = generic.find(">(") else {
                continue;
            };
            rest = &generic[close + 1..];
        }
        let Some(args) = rest.strip_prefix('(') else {
            continue;
        };
        let args = args.trim_start();
        if !args.starts_with('"') {
            continue;
        }
        let line = src[..start].matches('\n').count() + 1;
        let sql = string_literal(args)
            .unwrap_or_else(|| panic!("{rel}:{line}: a statement this test cannot read"));
        found.push(Statement {
            at: format!("{rel}:{line}"),
            sql,
        });
    }
    found
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
    let postgres = [
        "FOR UPDATE",
        "ledger_reserve(",
        "ledger_capture(",
        "pg_advisory",
        "pg_catalog",
        "information_schema",
    ];
    if postgres.iter().any(|p| sql.contains(p)) {
        return Some(Backend::Postgres);
    }
    if sql.contains("sqlite_") || sql.trim_start().starts_with("PRAGMA") {
        return Some(Backend::Sqlite);
    }
    None
}

async fn every_literal_statement_prepares(backend: Backend) {
    let statements = all_statements();
    assert!(
        statements.len() > 100,
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
    assert!(prepared > 100, "{prepared} prepared on {backend:?}");
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

on_both_backends!(every_literal_statement_prepares);
