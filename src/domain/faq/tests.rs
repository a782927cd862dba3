use super::*;
use crate::domain::catalog::{Plan, PlanId};
use crate::domain::credits::Credits;
use crate::domain::pricing::{CostDriver, Operation, PriceBook, PriceRule};

pub(crate) fn facts() -> FaqFacts {
    let plan = |id: &str, name: &str, price, credits, grace| Plan {
        id: PlanId::parse(id).unwrap(),
        name: name.into(),
        monthly_price_cents: price,
        credits_per_period: Credits::new(credits).unwrap(),
        grace_period_days: grace,
        stripe_price_id: None,
    };
    FaqFacts {
        capture_tolerance_percent: 10,
        auto_top_up_attempts: 3,
        support_email: "help@example.test".into(),
        catalog: Catalog {
            plans: vec![
                plan("starter", "Starter", 900, 1000, 30),
                plan("creator", "Creator", 2900, 5000, 60),
            ],
            top_ups: Vec::new(),
            price_book: PriceBook {
                rules: Operation::ALL
                    .iter()
                    .map(|op| PriceRule {
                        operation: *op,
                        driver: CostDriver::Generations,
                        credits: 3,
                        per: 1,
                    })
                    .collect(),
            },
        },
    }
}

fn entries(facts: &FaqFacts) -> Vec<Entry> {
    sections(facts)
        .into_iter()
        .flat_map(|s| s.entries)
        .collect()
}

/// The plain text of the answer at `slug`.
fn answer(facts: &FaqFacts, slug: &str) -> String {
    entries(facts)
        .iter()
        .find(|e| e.slug == slug)
        .unwrap_or_else(|| panic!("no question {slug}"))
        .plain_text()
}

/// Each policy rule and the question that answers it.
const POLICY_QUESTIONS: [(&str, &str); 18] = [
    ("P1", "what-are-credits"),
    ("P2", "how-much-does-an-operation-cost"),
    ("P3", "do-credits-expire"),
    ("P4", "what-are-top-up-credits"),
    ("P5", "which-credits-are-used-first"),
    ("P6", "where-can-i-see-my-balance"),
    ("P7", "are-subscription-fees-refunded"),
    ("P8", "what-if-a-generation-fails"),
    ("P9", "i-was-charged-incorrectly"),
    ("P10", "what-happens-when-i-run-out"),
    ("P11", "will-i-lose-my-work"),
    ("P12", "what-happens-when-i-cancel"),
    ("P13", "what-is-the-grace-period"),
    ("P14", "what-happens-after-the-grace-period"),
    ("P15", "can-i-downgrade-instead-of-cancelling"),
    ("P16", "can-credits-top-up-automatically"),
    ("P17", "can-you-tell-me-before-i-run-out"),
    ("P18", "can-i-download-my-records"),
];

#[test]
fn every_policy_built_is_answered_by_its_question() {
    let all = entries(&facts());
    for (policy, slug) in POLICY_QUESTIONS {
        let entry = all
            .iter()
            .find(|e| e.slug == slug)
            .unwrap_or_else(|| panic!("no question {slug}"));
        assert!(
            entry.policies.contains(&policy),
            "{slug} does not claim {policy}"
        );
    }
    let claimed: Vec<&str> = all
        .iter()
        .flat_map(|e| e.policies.iter().copied())
        .collect();
    for n in 1..=18 {
        assert!(
            claimed.contains(&format!("P{n}").as_str()),
            "P{n} has no answer"
        );
    }
}

#[test]
fn anchors_are_unique() {
    let all = entries(&facts());
    for (i, e) in all.iter().enumerate() {
        assert!(
            all[..i].iter().all(|o| o.slug != e.slug),
            "{} twice",
            e.slug
        );
    }
}

#[test]
fn p9_the_support_address_comes_from_configuration() {
    let mut f = facts();
    f.support_email = "billing-help@studio.example".into();
    let text = answer(&f, "i-was-charged-incorrectly");
    assert!(text.contains("billing-help@studio.example"));
    assert!(!text.contains("help@example.test"));
}

#[test]
fn p2_the_most_a_charge_may_exceed_its_estimate_comes_from_configuration() {
    let mut f = facts();
    f.capture_tolerance_percent = 15;
    let text = answer(&f, "how-much-does-an-operation-cost");
    assert!(
        text.contains("never more than 15% above the estimate"),
        "{text}"
    );
}

#[test]
fn p13_grace_periods_come_from_each_plan() {
    let mut f = facts();
    f.catalog.plans[1].grace_period_days = 45;
    let text = answer(&f, "what-is-the-grace-period");
    assert!(text.contains("Starter: 30 days"), "{text}");
    assert!(text.contains("Creator: 45 days"), "{text}");
}

#[test]
fn p4_lists_the_top_up_packs_on_sale() {
    let mut f = facts();
    f.catalog.top_ups.push(crate::domain::catalog::TopUpPack {
        id: PlanId::parse("medium").unwrap(),
        credits: Credits::new(2000).unwrap(),
        price_cents: 1800,
    });
    let text = answer(&f, "what-are-top-up-credits");
    assert!(text.contains("2,000 credits for $18"), "{text}");
    let none = answer(&facts(), "what-are-top-up-credits");
    assert!(!none.contains("packs on sale"), "{none}");
}

#[test]
fn p1_lists_every_operation_with_its_rate() {
    let text = answer(&facts(), "what-are-credits");
    for op in Operation::ALL {
        assert!(text.contains(op.label()), "{} missing", op.label());
    }
    assert!(text.contains("3 credits per generation"));
}

#[test]
fn search_matches_every_word_ignoring_case() {
    let all = entries(&facts());
    let expire = all.iter().find(|e| e.slug == "do-credits-expire").unwrap();
    assert!(expire.matches("TOP-UP never"));
    assert!(expire.matches(""));
    assert!(!expire.matches("top-up refund"));
}

#[test]
fn search_finds_words_in_any_order_and_simple_variants() {
    let all = entries(&facts());
    let find = |q: &str| {
        all.iter()
            .filter(|e| e.matches(q))
            .map(|e| e.slug)
            .collect::<Vec<_>>()
    };
    assert!(
        find("money back").contains(&"are-subscription-fees-refunded"),
        "{:?}",
        find("money back")
    );
    assert!(find("cancelling subscription").contains(&"what-happens-when-i-cancel"));
    assert!(find("subscription cancelling").contains(&"what-happens-when-i-cancel"));
    assert!(find("invoices").contains(&"receipts-and-invoices"));
    assert!(find("upgrade cost").contains(&"what-does-an-upgrade-cost"));
    assert!(find("pending payment").contains(&"payment-still-processing"));
    assert!(find("refunded").contains(&"what-if-a-generation-fails") || find("refunded").len() > 1);
    assert!(find("xylophone").is_empty());
}

#[test]
fn the_faq_made_once_answers_as_each_entry_does() {
    let faq = Faq::new(&facts());
    assert_eq!(faq.total(), entries(&facts()).len());
    for q in [
        "",
        "money back",
        "TOP-UP never",
        "cancelling subscription",
        "xylophone",
    ] {
        let flags = faq.matching(&Query::new(q));
        let by_entry: Vec<Vec<bool>> = faq
            .sections
            .iter()
            .map(|s| s.entries.iter().map(|e| e.matches(q)).collect())
            .collect();
        assert_eq!(flags, by_entry, "{q}");
    }
    assert!(Query::new("  ").is_empty());
    assert!(!Query::new("refund").is_empty());
}

#[test]
fn the_upgrade_answer_quotes_the_catalogue() {
    let all = entries(&facts());
    let up = all
        .iter()
        .find(|e| e.slug == "what-does-an-upgrade-cost")
        .unwrap();
    let text = up.plain_text();
    let plans = &facts().catalog.plans;
    let top = plans.last().unwrap();
    assert!(
        text.contains(&format!(
            "then {} a month",
            format_usd(top.monthly_price_cents)
        )),
        "{text}"
    );
}

#[test]
fn automatic_top_ups_stop_after_the_failures_configured() {
    let text: String = entries(&facts())
        .into_iter()
        .find(|e| e.slug == "can-credits-top-up-automatically")
        .map(|e| format!("{:?}", e.answer))
        .unwrap();
    assert!(text.contains("After 3 failures in a row"), "{text}");
}
