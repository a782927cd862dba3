use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn production(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut v = vars(&[
        ("STUDIO_MODE", "production"),
        ("DATABASE_URL", "postgres://db/billing"),
        ("STUDIO_PUBLIC_URL", "https://billing.example.com"),
        ("STUDIO_SECRET_KEY", "k7Qp2vX9mL4rT8wZ1nB6cF3hJ5dS0aGe"),
        ("STRIPE_SECRET_KEY", "sk_live_51HxR4nd0mKey"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_r4nd0mS3cr3t"),
        (
            "STUDIO_SMTP_URL",
            "smtps://billing:p4ss@smtp.example.com:465",
        ),
        ("STUDIO_MAIL_FROM", "Studio Billing <billing@example.com>"),
    ]);
    v.extend(vars(extra));
    v
}

#[test]
fn demo_mode_is_the_default_and_needs_nothing() {
    let c = Config::from_vars(&HashMap::new()).unwrap();
    assert_eq!(c.mode, Mode::Demo);
    assert_eq!(c.database_url, "sqlite://data/studio-billing.db");
    assert_eq!(c.support_email, "support@brainports.ai");
    assert_eq!(c.catalog.plans.len(), 3);
    assert!(c.catalog.top_ups.len() >= 3);
    assert!(matches!(c.payments, PaymentsConfig::Local));
}

#[test]
fn demo_mode_serves_only_loopback_addresses() {
    for ok in ["127.0.0.1:3000", "[::1]:8080", "127.0.0.2:3000"] {
        assert!(
            Config::from_vars(&vars(&[("LEPTOS_SITE_ADDR", ok)])).is_ok(),
            "{ok}"
        );
    }
    for addr in ["0.0.0.0:3000", "192.168.1.20:3000", "[::]:3000"] {
        let e = Config::from_vars(&vars(&[("LEPTOS_SITE_ADDR", addr)])).unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::DemoNotLoopback {
                    name: "LEPTOS_SITE_ADDR",
                    ..
                }
            ),
            "{addr}: {e}"
        );
        let text = e.to_string();
        assert!(
            text.contains("STUDIO_MODE=production") && text.contains("127.0.0.1"),
            "{text}"
        );
    }
    for url in [
        "http://localhost:3000",
        "http://127.0.0.1:3000/",
        "http://[::1]:3000",
    ] {
        assert!(
            Config::from_vars(&vars(&[("STUDIO_PUBLIC_URL", url)])).is_ok(),
            "{url}"
        );
    }
    for url in [
        "https://billing.example.com",
        "http://10.0.0.5:3000",
        "http://localhost.example.com",
        "http://127.0.0.1@evil.example",
    ] {
        let e = Config::from_vars(&vars(&[("STUDIO_PUBLIC_URL", url)])).unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::DemoNotLoopback {
                    name: "STUDIO_PUBLIC_URL",
                    ..
                }
            ),
            "{url}: {e}"
        );
    }
    // Production serves any address.
    assert!(Config::from_vars(&production(&[("LEPTOS_SITE_ADDR", "0.0.0.0:3000")])).is_ok());
}

#[test]
fn the_capture_tolerance_is_a_percentage() {
    assert_eq!(
        Config::from_vars(&HashMap::new())
            .unwrap()
            .capture_tolerance_percent,
        10
    );
    let c = Config::from_vars(&vars(&[("STUDIO_CAPTURE_TOLERANCE_PERCENT", "0")])).unwrap();
    assert_eq!(c.capture_tolerance_percent, 0);
    for bad in ["101", "-1", "ten"] {
        let e = Config::from_vars(&vars(&[("STUDIO_CAPTURE_TOLERANCE_PERCENT", bad)])).unwrap_err();
        assert!(
            e.to_string().contains("STUDIO_CAPTURE_TOLERANCE_PERCENT"),
            "{e}"
        );
    }
}

#[test]
fn automatic_top_ups_stop_after_the_failures_configured() {
    assert_eq!(
        Config::from_vars(&HashMap::new())
            .unwrap()
            .auto_top_up_attempts,
        2
    );
    let c = Config::from_vars(&vars(&[("STUDIO_AUTO_TOP_UP_ATTEMPTS", "3")])).unwrap();
    assert_eq!(c.auto_top_up_attempts, 3);
    for bad in ["0", "11", "two"] {
        let e = Config::from_vars(&vars(&[("STUDIO_AUTO_TOP_UP_ATTEMPTS", bad)])).unwrap_err();
        assert!(e.to_string().contains("STUDIO_AUTO_TOP_UP_ATTEMPTS"), "{e}");
    }
}

#[test]
fn trusted_proxies_are_ip_addresses() {
    let c = Config::from_vars(&vars(&[("STUDIO_TRUSTED_PROXIES", "10.0.0.1, ::1")])).unwrap();
    assert_eq!(c.trusted_proxies.len(), 2);
    assert!(Config::from_vars(&vars(&[("STUDIO_TRUSTED_PROXIES", "10.0.0.0/8")])).is_err());
}

#[test]
fn stripe_needs_its_webhook_secret_and_production_needs_stripe() {
    let only_key = vars(&[("STRIPE_SECRET_KEY", "sk_test_12345678")]);
    assert_eq!(
        Config::from_vars(&only_key).unwrap_err(),
        ConfigError::Missing("STRIPE_WEBHOOK_SECRET")
    );
    let mut rotating = only_key.clone();
    rotating.extend(vars(&[
        ("STRIPE_WEBHOOK_SECRET", "whsec_newSecret1"),
        ("STRIPE_WEBHOOK_SECRET_PREVIOUS", "whsec_oldSecret1"),
    ]));
    match Config::from_vars(&rotating).unwrap().payments {
        PaymentsConfig::Stripe(s) => {
            let secrets: Vec<&str> = s.webhook_secrets.iter().map(Secret::expose).collect();
            assert_eq!(secrets, ["whsec_newSecret1", "whsec_oldSecret1"]);
            assert_eq!(s.api_base, "https://api.stripe.com/");
        }
        PaymentsConfig::Local => panic!("keys were given"),
    }
    let mut no_stripe = production(&[]);
    no_stripe.remove("STRIPE_SECRET_KEY");
    assert_eq!(
        Config::from_vars(&no_stripe).unwrap_err(),
        ConfigError::Missing("STRIPE_SECRET_KEY")
    );
    assert!(Config::from_vars(&production(&[])).is_ok());
}

#[test]
fn notices_go_by_smtp_in_production_and_to_the_log_in_a_demo_without_one() {
    let c = Config::from_vars(&production(&[])).unwrap();
    let MailConfig::Smtp { url, from } = c.mail else {
        panic!("production sends by SMTP");
    };
    assert_eq!(url.expose(), "smtps://billing:p4ss@smtp.example.com:465");
    assert_eq!(from, "Studio Billing <billing@example.com>");
    assert!(
        !format!("{url:?}").contains("p4ss"),
        "the password never prints"
    );
    assert!(matches!(
        Config::from_vars(&HashMap::new()).unwrap().mail,
        MailConfig::Log
    ));

    let mut v = production(&[]);
    v.remove("STUDIO_SMTP_URL");
    assert_eq!(
        Config::from_vars(&v).unwrap_err(),
        ConfigError::Missing("STUDIO_SMTP_URL")
    );
    let no_from = vars(&[("STUDIO_SMTP_URL", "smtp://127.0.0.1:2525")]);
    assert_eq!(
        Config::from_vars(&no_from).unwrap_err(),
        ConfigError::Missing("STUDIO_MAIL_FROM")
    );
    for (url, from) in [
        ("http://smtp.example.com", "billing@example.com"),
        ("smtp://127.0.0.1:2525", "not an address"),
    ] {
        let v = vars(&[("STUDIO_SMTP_URL", url), ("STUDIO_MAIL_FROM", from)]);
        assert!(
            matches!(Config::from_vars(&v), Err(ConfigError::Invalid { .. })),
            "{url} {from}"
        );
    }
    for plain in [
        "smtp://billing:p4ss@smtp.example.com:587",
        "smtp://billing:p4ss@smtp.example.com:25?tls=opportunistic",
    ] {
        let err = Config::from_vars(&production(&[("STUDIO_SMTP_URL", plain)])).unwrap_err();
        assert!(err.to_string().contains("production needs TLS"), "{err}");
        assert!(!err.to_string().contains("p4ss"), "{err}");
    }
    for tls in [
        "smtp://billing:p4ss@smtp.example.com:587?tls=required",
        "smtp://relay.internal:25",
    ] {
        assert!(
            Config::from_vars(&production(&[("STUDIO_SMTP_URL", tls)])).is_ok(),
            "{tls}"
        );
    }
    let err = Config::from_vars(&vars(&[
        ("STUDIO_SMTP_URL", "http://billing:s3cret@smtp.example.com"),
        ("STUDIO_MAIL_FROM", "billing@example.com"),
    ]))
    .unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[test]
fn production_starts_with_real_secrets() {
    let c = Config::from_vars(&production(&[])).unwrap();
    assert_eq!(c.mode, Mode::Production);
}

#[test]
fn production_refuses_a_missing_secret() {
    let mut v = production(&[]);
    v.remove("STUDIO_SECRET_KEY");
    assert_eq!(
        Config::from_vars(&v).unwrap_err(),
        ConfigError::Missing("STUDIO_SECRET_KEY")
    );
}

#[test]
fn production_refuses_placeholder_secrets() {
    for s in [
        "changeme",
        "short",
        DEMO_SECRET,
        "this-is-a-placeholder-secret-value-xyz",
    ] {
        let v = production(&[("STUDIO_SECRET_KEY", s)]);
        assert_eq!(
            Config::from_vars(&v).unwrap_err(),
            ConfigError::Placeholder("STUDIO_SECRET_KEY"),
            "{s}"
        );
    }
}

#[test]
fn production_refuses_the_default_database_and_plain_http() {
    let mut v = production(&[]);
    v.remove("DATABASE_URL");
    assert_eq!(
        Config::from_vars(&v).unwrap_err(),
        ConfigError::Missing("DATABASE_URL")
    );
    let v = production(&[("STUDIO_PUBLIC_URL", "http://billing.example.com")]);
    assert!(matches!(
        Config::from_vars(&v),
        Err(ConfigError::Invalid {
            name: "STUDIO_PUBLIC_URL",
            ..
        })
    ));
}

#[test]
fn bad_values_are_named_in_the_error() {
    let e = Config::from_vars(&vars(&[("STUDIO_MODE", "staging")])).unwrap_err();
    assert!(e.to_string().contains("STUDIO_MODE"));
    let e = Config::from_vars(&vars(&[("STUDIO_SUPPORT_EMAIL", "nobody")])).unwrap_err();
    assert!(e.to_string().contains("STUDIO_SUPPORT_EMAIL"));
    let e = Config::from_vars(&vars(&[("DATABASE_URL", "mysql://x")])).unwrap_err();
    assert!(e.to_string().contains("DATABASE_URL"));
}

#[test]
fn stripe_secrets_are_checked_for_shape_and_never_echoed() {
    let with = |key: &str, secret: &str| {
        Config::from_vars(&vars(&[
            ("STRIPE_SECRET_KEY", key),
            ("STRIPE_WEBHOOK_SECRET", secret),
        ]))
    };
    assert!(with("sk_test_51Hx0abcdEFGH", "whsec_0123456789abcdef").is_ok());
    assert!(with("rk_live_51Hx0abcdEFGH", "whsec_0123456789abcdef").is_ok());
    for (key, secret, name) in [
        ("sk_test_51Hx0abcdEFGH", "x", "STRIPE_WEBHOOK_SECRET"),
        ("sk_test_51Hx0abcdEFGH", "whsec_", "STRIPE_WEBHOOK_SECRET"),
        (
            "sk_test_51Hx0abcdEFGH",
            "whsec_short",
            "STRIPE_WEBHOOK_SECRET",
        ),
        (
            "sk_test_51Hx0abcdEFGH",
            "whsec_has space in it",
            "STRIPE_WEBHOOK_SECRET",
        ),
        (
            "pk_test_51Hx0abcdEFGH",
            "whsec_0123456789abcdef",
            "STRIPE_SECRET_KEY",
        ),
        (
            "sk_51Hx0abcdEFGH",
            "whsec_0123456789abcdef",
            "STRIPE_SECRET_KEY",
        ),
        ("sk_test_x", "whsec_0123456789abcdef", "STRIPE_SECRET_KEY"),
    ] {
        let e = with(key, secret).unwrap_err().to_string();
        assert!(e.contains(name), "{key} {secret}: {e}");
        assert!(!e.contains(secret) || secret.len() <= "whsec_".len(), "{e}");
        assert!(!e.contains(key), "{e}");
    }
    let mut previous = vars(&[
        ("STRIPE_SECRET_KEY", "sk_test_51Hx0abcdEFGH"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_0123456789abcdef"),
    ]);
    previous.insert("STRIPE_WEBHOOK_SECRET_PREVIOUS".into(), "old".into());
    let e = Config::from_vars(&previous).unwrap_err().to_string();
    assert!(e.contains("STRIPE_WEBHOOK_SECRET_PREVIOUS"), "{e}");
}

#[test]
fn a_bad_database_url_is_named_without_its_password() {
    let e = Config::from_vars(&vars(&[(
        "DATABASE_URL",
        "mysql://billing:hunter2-secret@db.internal:3306/billing",
    )]))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("DATABASE_URL") && e.contains("db.internal"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    assert_eq!(
        redact_password("postgres://u:p@h/db"),
        "postgres://u:[redacted]@h/db"
    );
    assert_eq!(redact_password("postgres://u@h/db"), "postgres://u@h/db");
    assert_eq!(redact_password("sqlite://data/x.db"), "sqlite://data/x.db");
}

#[test]
fn secrets_never_print() {
    let c = Config::from_vars(&production(&[])).unwrap();
    assert!(!format!("{c:?}").contains("k7Qp2vX9"));
}

#[test]
fn a_catalog_file_replaces_the_built_in_plans() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.toml");
    let text = DEFAULT_CATALOG.replace("grace_period_days = 60", "grace_period_days = 14");
    std::fs::write(&path, text).unwrap();
    let c = Config::from_vars(&vars(&[("STUDIO_CATALOG_FILE", path.to_str().unwrap())])).unwrap();
    assert_eq!(c.catalog.plans[1].grace_period_days, 14);
}

#[test]
fn an_invalid_catalog_is_refused() {
    let text = DEFAULT_CATALOG.replace("operation = \"music\"", "operation = \"assistant_chat\"");
    assert!(matches!(parse_catalog(&text), Err(ConfigError::Catalog(_))));
}
