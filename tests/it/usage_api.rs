//! The usage API through the real router, on SQLite and PostgreSQL: authentication, each
//! route, the P10 notice, bad input, idempotency and the OpenAPI document.

use crate::common;

use axum::http::{Method, StatusCode};
use common::{Backend, TEST_NOW, TestApp, TestResponse};
use serde_json::{Value, json};
use studio_billing::domain::credits::Credits;
use studio_billing::domain::ledger::GrantKind;
use studio_billing::server::db::tokens::Scope;
use studio_billing::server::db::{ledger, tokens};

struct Api {
    app: TestApp,
    token: String,
    account: i64,
}

impl Api {
    /// An app with a service token and an account holding 100 top-up credits (renewing on
    /// 1 July 2026).
    async fn start(backend: Backend) -> Api {
        let app = TestApp::start(backend).await;
        let db = &app.state.db;
        let token = tokens::create(db, "voice-worker", &Scope::ALL, TEST_NOW)
            .await
            .unwrap();
        let account = ledger::create_account(db, "api@test", TEST_NOW)
            .await
            .unwrap();
        common::set_renewal(db, account, Some(1_782_864_000)).await;
        let g = ledger::NewGrant {
            kind: GrantKind::Topup,
            amount: Credits::new(100).unwrap(),
            expires_at: None,
            reason: "test".into(),
            actor: None,
        };
        ledger::grant(db, account, g, None, TEST_NOW).await.unwrap();
        Api {
            app,
            token,
            account,
        }
    }

    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> TestResponse {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(k) = key {
            headers.push(("idempotency-key", k));
        }
        self.app
            .call(Method::POST, path, &headers, Some(body.to_string()))
            .await
    }

    async fn get(&self, path: &str) -> TestResponse {
        let auth = format!("Bearer {}", self.token);
        self.app
            .call(Method::GET, path, &[("authorization", auth.as_str())], None)
            .await
    }

    async fn reserve(&self, quantity: u64, key: &str) -> TestResponse {
        self.post(
            &format!("/api/v1/accounts/{}/holds", self.account),
            Some(key),
            json!({ "operation": "voice_generation", "quantity": quantity }),
        )
        .await
    }

    async fn journal_len(&self) -> usize {
        ledger::journal(&self.app.state.db, self.account, None, 1000)
            .await
            .unwrap()
            .len()
    }

    async fn cleanup(self) {
        self.app.cleanup().await;
    }
}

fn error_code(res: &TestResponse) -> String {
    res.json()["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code: {}", res.body))
        .to_owned()
}

async fn requests_without_a_valid_token_get_a_401(backend: Backend) {
    let api = Api::start(backend).await;
    let path = format!("/api/v1/accounts/{}/balance", api.account);
    let none = api.app.call(Method::GET, &path, &[], None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&none), "unauthorized");
    let wrong = api
        .app
        .call(
            Method::GET,
            &path,
            &[("authorization", "Bearer sbt_0000")],
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.get(&path).await.status, StatusCode::OK);
    tokens::revoke(&api.app.state.db, "voice-worker", TEST_NOW)
        .await
        .unwrap();
    assert_eq!(
        api.get(&path).await.status,
        StatusCode::UNAUTHORIZED,
        "a revoked token is refused"
    );
    api.cleanup().await;
}

async fn p2_estimate_reserve_capture_gives_a_receipt(backend: Backend) {
    let api = Api::start(backend).await;
    let est = api
        .post(
            "/api/v1/estimates",
            None,
            json!({ "operation": "script_generation", "quantity": 2500 }),
        )
        .await;
    assert_eq!(est.status, StatusCode::OK, "{}", est.body);
    assert_eq!(est.json()["credits"], 6);
    assert_eq!(est.json()["rule"], "2 credits per 1,000 characters");

    let hold = api.reserve(30, "r1").await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let hold = hold.json();
    assert_eq!(hold["reserved"], 30);
    assert_eq!(hold["expires_at"], TEST_NOW + 900);
    let hold_id = hold["hold_id"].as_i64().unwrap();

    let cap = api
        .post(
            &format!("/api/v1/accounts/{}/holds/{hold_id}/capture", api.account),
            Some("c1"),
            json!({ "actual_quantity": 27 }),
        )
        .await;
    assert_eq!(cap.status, StatusCode::OK, "{}", cap.body);
    let r = cap.json();
    assert_eq!(
        (
            r["estimate"].as_u64(),
            r["reserved"].as_u64(),
            r["charged"].as_u64(),
            r["released"].as_u64()
        ),
        (Some(30), Some(30), Some(27), Some(3))
    );
    assert_eq!(r["paid_by"]["topup"], 27);

    let bal = api
        .get(&format!("/api/v1/accounts/{}/balance", api.account))
        .await
        .json();
    assert_eq!(
        (
            bal["total"].as_u64(),
            bal["held"].as_u64(),
            bal["topup"].as_u64()
        ),
        (Some(73), Some(0), Some(73))
    );
    api.cleanup().await;
}

async fn p10_too_low_a_balance_is_a_402_with_both_ways_on_and_no_hold(backend: Backend) {
    let api = Api::start(backend).await;
    let before = api.journal_len().await;
    let res = api.reserve(101, "big").await;
    assert_eq!(res.status, StatusCode::PAYMENT_REQUIRED, "{}", res.body);
    let e = &res.json()["error"];
    assert_eq!(e["code"], "insufficient_credits");
    assert_eq!(
        (e["needed"].as_u64(), e["available"].as_u64()),
        (Some(101), Some(100))
    );
    assert_eq!(e["renews_at"], "2026-07-01T00:00:00+00:00");
    assert_eq!(
        e["auto_top_up_coming"], false,
        "no automatic top-up on its way"
    );
    assert!(
        e["top_up_url"]
            .as_str()
            .unwrap()
            .ends_with("/subscription#top-up")
    );
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("Buy a top-up") && message.contains("1 July 2026"),
        "{message}"
    );
    assert_eq!(api.journal_len().await, before, "nothing written");
    assert_eq!(
        api.get(&format!("/api/v1/accounts/{}/balance", api.account))
            .await
            .json()["held"],
        0
    );
    api.cleanup().await;
}

async fn p8_a_failed_portion_is_refunded_with_its_reason(backend: Backend) {
    let api = Api::start(backend).await;
    let hold_id = api.reserve(40, "r").await.json()["hold_id"]
        .as_i64()
        .unwrap();
    let base = format!("/api/v1/accounts/{}/holds/{hold_id}", api.account);
    api.post(
        &format!("{base}/capture"),
        Some("c"),
        json!({ "actual_quantity": 40 }),
    )
    .await;
    let res = api
        .post(
            &format!("{base}/refund"),
            Some("f"),
            json!({ "credits": 15, "reason": "Narration track 3 failed to render" }),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.json()["refunded"], 15);
    assert_eq!(res.json()["balance_after"], 75);
    let too_much = api
        .post(
            &format!("{base}/refund"),
            Some("f2"),
            json!({ "credits": 26, "reason": "again" }),
        )
        .await;
    assert_eq!(too_much.status, StatusCode::CONFLICT);
    assert!(
        too_much.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Only 25 credits")
    );
    let no_reason = api
        .post(
            &format!("{base}/refund"),
            Some("f3"),
            json!({ "credits": 1, "reason": "  " }),
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    api.cleanup().await;
}

async fn bad_input_gets_a_clear_4xx_and_changes_nothing(backend: Backend) {
    let api = Api::start(backend).await;
    let holds = format!("/api/v1/accounts/{}/holds", api.account);
    let before = api.journal_len().await;
    let cases: Vec<(TestResponse, StatusCode, &str)> = vec![
        (api.post(&holds, Some("a"), json!({ "operation": "voice_generation", "quantity": 0 })).await, StatusCode::BAD_REQUEST, "at least 1"),
        (api.post(&holds, Some("b"), json!({ "operation": "voice_generation", "quantity": -5 })).await, StatusCode::BAD_REQUEST, "quantity"),
        (api.post(&holds, Some("c"), json!({ "operation": "voice_generation", "quantity": 18446744073709551615u64 })).await, StatusCode::BAD_REQUEST, "too large"),
        (api.post(&holds, Some("d"), json!({ "operation": "time_travel", "quantity": 3 })).await, StatusCode::BAD_REQUEST, "operation"),
        (api.post(&holds, None, json!({ "operation": "voice_generation", "quantity": 3 })).await, StatusCode::BAD_REQUEST, "Idempotency-Key"),
        (api.post("/api/v1/accounts/999999/holds", Some("e"), json!({ "operation": "voice_generation", "quantity": 3 })).await, StatusCode::NOT_FOUND, "Account 999999"),
        (api.app.call(Method::POST, &holds, &[("authorization", &format!("Bearer {}", api.token)), ("idempotency-key", "f")], Some("{not json".into())).await, StatusCode::BAD_REQUEST, "not valid JSON"),
        (api.app.call(Method::POST, &holds, &[("authorization", &format!("Bearer {}", api.token)), ("idempotency-key", "g"), ("content-type", "text/plain")], Some("{}".into())).await, StatusCode::BAD_REQUEST, "Content-Type"),
        (api.post(&holds, Some("h"), json!({ "operation": "voice_generation", "quantity": 3, "pad": "x".repeat(20_000) })).await, StatusCode::PAYLOAD_TOO_LARGE, "too large"),
    ];
    for (i, (res, status, words)) in cases.iter().enumerate() {
        assert_eq!(res.status, *status, "case {i}: {}", res.body);
        let message = res.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            message.contains(words),
            "case {i}: {message:?} should mention {words:?}"
        );
        assert!(
            !message.to_lowercase().contains("sql"),
            "case {i}: no database text"
        );
    }
    assert_eq!(api.journal_len().await, before, "no partial effects");
    // The message is said once; JSON Schema's whole numbers include `3.0`, not `3.5`.
    let once = api
        .post(
            &holds,
            Some("i"),
            json!({ "operation": "voice_generation", "quantity": 0 }),
        )
        .await;
    assert_eq!(once.body.matches("\"message\"").count(), 1, "{}", once.body);
    let float = api
        .post(
            "/api/v1/estimates",
            None,
            json!({ "operation": "voice_generation", "quantity": 3.0 }),
        )
        .await;
    assert_eq!(float.status, StatusCode::OK, "{}", float.body);
    assert_eq!(float.json()["credits"], 3);
    for bad in [json!(3.5), json!(-1.0), json!(1e30)] {
        let res = api
            .post(
                "/api/v1/estimates",
                None,
                json!({ "operation": "voice_generation", "quantity": bad }),
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}: {}", res.body);
    }
    let bad_path = api.get("/api/v1/accounts/abc/balance").await;
    assert_eq!(bad_path.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_path.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("whole numbers")
    );
    let bad_query = api
        .get(&format!(
            "/api/v1/accounts/{}/journal?limit=ten",
            api.account
        ))
        .await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&bad_query), "bad_request");
    api.cleanup().await;
}

async fn holds_of_another_account_and_settled_holds_are_refused(backend: Backend) {
    let api = Api::start(backend).await;
    let other = ledger::create_account(&api.app.state.db, "other@test", TEST_NOW)
        .await
        .unwrap();
    let hold_id = api.reserve(10, "r").await.json()["hold_id"]
        .as_i64()
        .unwrap();
    let foreign = api
        .post(
            &format!("/api/v1/accounts/{other}/holds/{hold_id}/capture"),
            Some("x"),
            json!({ "actual_quantity": 1 }),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);

    let base = format!("/api/v1/accounts/{}/holds/{hold_id}", api.account);
    let rel = api
        .post(&format!("{base}/release"), Some("rel"), json!({}))
        .await;
    assert_eq!(rel.status, StatusCode::OK, "{}", rel.body);
    let after_release = api
        .post(
            &format!("{base}/capture"),
            Some("c1"),
            json!({ "actual_quantity": 5 }),
        )
        .await;
    assert_eq!(after_release.status, StatusCode::CONFLICT);
    assert!(
        after_release.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already released")
    );

    let hold_id = api.reserve(10, "r2").await.json()["hold_id"]
        .as_i64()
        .unwrap();
    let base = format!("/api/v1/accounts/{}/holds/{hold_id}", api.account);
    let first = api
        .post(
            &format!("{base}/capture"),
            Some("c2"),
            json!({ "actual_quantity": 5 }),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let retry = api
        .post(
            &format!("{base}/capture"),
            Some("c2"),
            json!({ "actual_quantity": 5 }),
        )
        .await;
    assert_eq!(
        retry.status,
        StatusCode::OK,
        "a retry with the same key returns the first receipt"
    );
    assert_eq!(retry.json(), first.json());
    let twice = api
        .post(
            &format!("{base}/capture"),
            Some("c3"),
            json!({ "actual_quantity": 5 }),
        )
        .await;
    assert_eq!(
        twice.status,
        StatusCode::CONFLICT,
        "capture twice with a new key"
    );
    let changed = api
        .post(
            &format!("{base}/capture"),
            Some("c2"),
            json!({ "actual_quantity": 6 }),
        )
        .await;
    assert_eq!(
        changed.status,
        StatusCode::CONFLICT,
        "same key, different body"
    );
    assert_eq!(error_code(&changed), "conflict");
    assert_eq!(
        ledger::balance(&api.app.state.db, api.account, TEST_NOW)
            .await
            .unwrap()
            .total
            .get(),
        95
    );
    api.cleanup().await;
}

async fn the_journal_reads_page_by_page(backend: Backend) {
    let api = Api::start(backend).await;
    for i in 0..5 {
        api.reserve(1, &format!("k{i}")).await;
    }
    let path = format!("/api/v1/accounts/{}/journal?limit=4", api.account);
    let first = api.get(&path).await.json();
    assert_eq!(first["entries"].as_array().unwrap().len(), 4);
    assert_eq!(first["entries"][0]["seq"], 6);
    let next = first["next_before"].as_i64().unwrap();
    let second = api.get(&format!("{path}&before={next}")).await.json();
    assert_eq!(second["entries"].as_array().unwrap().len(), 2);
    assert!(second["next_before"].is_null());
    assert_eq!(
        api.get(&format!("/api/v1/accounts/{}/journal?limit=0", api.account))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    api.cleanup().await;
}

async fn the_openapi_document_matches_the_routes(backend: Backend) {
    let api = Api::start(backend).await;
    let res = api.app.get("/api/v1/openapi.json").await;
    assert_eq!(res.status, StatusCode::OK);
    let doc = res.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for method in item
            .as_object()
            .unwrap()
            .keys()
            .filter(|m| ["get", "post"].contains(&m.as_str()))
        {
            operations += 1;
            let concrete = path
                .replace("{account_id}", &api.account.to_string())
                .replace("{hold_id}", "1");
            let m = if method == "get" {
                Method::GET
            } else {
                Method::POST
            };
            // Without a token every documented route exists and asks who is calling.
            let res = api.app.call(m, &concrete, &[], Some("{}".into())).await;
            assert_eq!(
                res.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}: {}",
                res.body
            );
        }
    }
    assert_eq!(
        operations, 7,
        "estimate, reserve, capture, release, refund, balance, journal"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    api.cleanup().await;
}

/// Issue 12: capturing a 1-credit hold with a huge `actual_quantity` charged the whole
/// balance.
async fn p2_a_capture_charges_at_most_the_hold_plus_the_tolerance(backend: Backend) {
    let api = Api::start(backend).await;
    let hold = api.reserve(1, "tiny").await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let hold_id = hold.json()["hold_id"].as_i64().unwrap();
    let cap = api
        .post(
            &format!("/api/v1/accounts/{}/holds/{hold_id}/capture", api.account),
            Some("huge"),
            json!({ "actual_quantity": 90 }),
        )
        .await;
    assert_eq!(cap.status, StatusCode::OK, "{}", cap.body);
    let r = cap.json();
    assert_eq!(
        (
            r["actual_cost"].as_u64(),
            r["charged"].as_u64(),
            r["over_limit"].as_u64(),
            r["shortfall"].as_u64()
        ),
        (Some(90), Some(2), Some(88), Some(0)),
        "1 credit held, 10% tolerance rounded up: 2 at most; {r}"
    );
    let bal = api
        .get(&format!("/api/v1/accounts/{}/balance", api.account))
        .await
        .json();
    assert_eq!(bal["total"], 98);
    // The customer's receipt says what was not charged.
    let receipts =
        studio_billing::server::db::usage::receipts(&api.app.state.db, api.account, None, 5)
            .await
            .unwrap();
    assert_eq!((receipts[0].charged, receipts[0].over_limit), (2, 88));
    api.cleanup().await;
}

/// Issue 12: any service token could do anything to any account.
async fn a_token_may_do_only_what_its_scopes_allow(backend: Backend) {
    use studio_billing::server::db::tokens::Scope;
    let api = Api::start(backend).await;
    let db = &api.app.state.db;
    let reserver = tokens::create(db, "reserver", &[Scope::Estimate, Scope::Reserve], TEST_NOW)
        .await
        .unwrap();
    let call = |method: Method, path: String, key: Option<&'static str>, body: Option<Value>| {
        let token = reserver.clone();
        let app = &api.app;
        async move {
            let auth = format!("Bearer {token}");
            let mut headers = vec![("authorization", auth.as_str())];
            if let Some(k) = key {
                headers.push(("idempotency-key", k));
            }
            app.call(method, &path, &headers, body.map(|b| b.to_string()))
                .await
        }
    };
    let account = api.account;
    let hold = call(
        Method::POST,
        format!("/api/v1/accounts/{account}/holds"),
        Some("s1"),
        Some(json!({ "operation": "voice_generation", "quantity": 10 })),
    )
    .await;
    assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
    let hold_id = hold.json()["hold_id"].as_i64().unwrap();
    let before = api.journal_len().await;
    for (method, path, body, scope) in [
        (
            Method::POST,
            format!("/api/v1/accounts/{account}/holds/{hold_id}/capture"),
            Some(json!({ "actual_quantity": 10 })),
            "capture",
        ),
        (
            Method::POST,
            format!("/api/v1/accounts/{account}/holds/{hold_id}/refund"),
            Some(json!({ "credits": 1, "reason": "x" })),
            "refund",
        ),
        (
            Method::GET,
            format!("/api/v1/accounts/{account}/balance"),
            None,
            "read",
        ),
        (
            Method::GET,
            format!("/api/v1/accounts/{account}/journal"),
            None,
            "read",
        ),
    ] {
        let res = call(method, path.clone(), Some("s2"), body).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}: {}", res.body);
        assert_eq!(error_code(&res), "missing_scope", "{path}");
        assert_eq!(res.json()["error"]["scope"], scope, "{path}");
        assert!(
            res.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{scope}`")),
            "{}",
            res.body
        );
    }
    assert_eq!(api.journal_len().await, before, "nothing changed");
    // Release belongs with reserve.
    let released = call(
        Method::POST,
        format!("/api/v1/accounts/{account}/holds/{hold_id}/release"),
        Some("s3"),
        None,
    )
    .await;
    assert_eq!(released.status, StatusCode::OK, "{}", released.body);

    // A token made before scopes existed keeps every scope.
    let old = "sbt_made-before-scopes-0000000000000000000000000000000000000000000000";
    sqlx::query("INSERT INTO service_tokens (name, token_hash, created_at) VALUES ('old', $1, $2)")
        .bind(tokens::hash(old))
        .bind(TEST_NOW)
        .execute(db.writer())
        .await
        .unwrap();
    let res = api
        .app
        .call(
            Method::GET,
            &format!("/api/v1/accounts/{account}/balance"),
            &[("authorization", &format!("Bearer {old}"))],
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        Scope::parse_list("capture, read,capture").unwrap(),
        [Scope::Capture, Scope::Read]
    );
    assert!(Scope::parse_list("capture,delete").is_err());
    assert!(Scope::parse_list("").is_err());
    api.cleanup().await;
}

/// Issue 12: a body over 64 KiB got a plain-text 413, and an unknown route an HTML page.
async fn every_refusal_on_the_api_is_json_in_the_one_shape(backend: Backend) {
    let api = Api::start(backend).await;
    let holds = format!("/api/v1/accounts/{}/holds", api.account);
    let before = api.journal_len().await;
    let huge =
        json!({ "operation": "voice_generation", "quantity": 3, "pad": "x".repeat(100_000) });
    let res = api.post(&holds, Some("big"), huge).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&res), "payload_too_large", "{}", res.body);
    assert!(res.header("content-type").starts_with("application/json"));
    let auth = format!("Bearer {}", api.token);
    for (method, path) in [
        (Method::GET, "/api/v1/nothing-here".to_owned()),
        (
            Method::DELETE,
            format!("/api/v1/accounts/{}/balance", api.account),
        ),
    ] {
        let res = api
            .app
            .call(method.clone(), &path, &[("authorization", &auth)], None)
            .await;
        assert!(
            res.status.is_client_error(),
            "{method} {path}: {}",
            res.status
        );
        assert!(
            res.header("content-type").starts_with("application/json"),
            "{method} {path}: {}",
            res.body
        );
        assert!(
            !res.json()["error"]["message"].as_str().unwrap().is_empty(),
            "{}",
            res.body
        );
    }
    assert_eq!(api.journal_len().await, before);
    api.cleanup().await;
}

on_both_backends!(
    p2_a_capture_charges_at_most_the_hold_plus_the_tolerance,
    a_token_may_do_only_what_its_scopes_allow,
    every_refusal_on_the_api_is_json_in_the_one_shape,
    requests_without_a_valid_token_get_a_401,
    p2_estimate_reserve_capture_gives_a_receipt,
    p10_too_low_a_balance_is_a_402_with_both_ways_on_and_no_hold,
    p8_a_failed_portion_is_refunded_with_its_reason,
    bad_input_gets_a_clear_4xx_and_changes_nothing,
    holds_of_another_account_and_settled_holds_are_refused,
    the_journal_reads_page_by_page,
    the_openapi_document_matches_the_routes,
);
